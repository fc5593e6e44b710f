//! `list`: the entries of a directory, optionally recursive to a depth,
//! skipping what `.gitignore`/`.ignore` exclude and the `.git` directory.

use futures::future::BoxFuture;
use ignore::WalkBuilder;
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput, parse_args, run_blocking};

const NAME: &str = "list";
/// Deepest a recursive listing may go, and its default depth.
pub const MAX_LIST_DEPTH: usize = 20;
const DEFAULT_RECURSIVE_DEPTH: usize = 10;

/// Lists a directory inside the workspace.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default = "dot")]
    path: String,
    #[serde(default)]
    recursive: bool,
    max_depth: Option<usize>,
}

fn dot() -> String {
    ".".into()
}

fn depth_of(args: &ListArgs) -> Result<usize, ToolError> {
    match (args.recursive, args.max_depth) {
        (false, None) => Ok(1),
        (false, Some(_)) => Err(ToolError::invalid(NAME, "max_depth needs recursive: true")),
        (true, None) => Ok(DEFAULT_RECURSIVE_DEPTH),
        (true, Some(depth)) if (1..=MAX_LIST_DEPTH).contains(&depth) => Ok(depth),
        (true, Some(depth)) => Err(ToolError::invalid(
            NAME,
            format!("max_depth must be 1 to {MAX_LIST_DEPTH}, not {depth}"),
        )),
    }
}

fn list(args: ListArgs, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    let depth = depth_of(&args)?;
    let dir = ctx.workspace.resolve_existing(&args.path)?;
    let shown = ctx.workspace.relative(&dir);
    if !dir.is_dir() {
        return Err(ToolError::Failed(format!("`{shown}` is not a directory")));
    }
    let walker = WalkBuilder::new(&dir)
        .max_depth(Some(depth))
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let max = ctx.limits.max_results;
    let mut out = String::new();
    let mut count = 0usize;
    let mut cut = false;
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                out.push_str(&format!("[error: {e}]\n"));
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        if count == max {
            cut = true;
            break;
        }
        count += 1;
        out.push_str(&ctx.workspace.relative(entry.path()));
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            out.push('/');
        }
        out.push('\n');
    }
    if count == 0 {
        out.push_str(&format!("{shown}/ is empty\n"));
    }
    if cut {
        out.push_str(&format!(
            "[listing stopped at {max} entries; list a subdirectory or lower max_depth]\n"
        ));
    }
    let summary = format!(
        "{count} entries in {shown}/{}",
        if cut { " (cut)" } else { "" }
    );
    Ok(ToolOutput::new(
        out,
        summary,
        cut,
        ctx.limits.max_output_bytes,
    ))
}

impl Tool for ListTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "List the entries of a workspace directory (directories end with `/`), skipping \
                 files ignored by .gitignore. Set recursive to descend (max_depth levels, default \
                 10)."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory relative to the workspace root (default \".\")."},
                    "recursive": {"type": "boolean", "description": "Descend into subdirectories (default false)."},
                    "max_depth": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_DEPTH, "description": "Levels to descend when recursive (default 10)."}
                },
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &serde_json::Value) -> Effect {
        Effect::Read
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<ListArgs>(NAME, args.clone())?.path)
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        _call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        run_blocking::<ListArgs, _>(NAME, args, ctx, list)
    }
}
