//! `edit`: replaces one exact piece of text in a file (or every occurrence
//! with `replace_all`), atomically. Requiring a unique match keeps the model
//! from changing a place it did not mean.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::textfile::{existing_permissions, read_text, replace_atomically};
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput, parse_args, run_blocking};

const NAME: &str = "edit";

/// Replaces text in an existing file inside the workspace.
#[derive(Debug, Default, Clone, Copy)]
pub struct EditTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old: String,
    new: String,
    #[serde(default)]
    replace_all: bool,
}

fn edit(args: EditArgs, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    if args.old.is_empty() {
        return Err(ToolError::invalid(
            NAME,
            "`old` is empty: give the exact text to replace",
        ));
    }
    if args.old == args.new {
        return Err(ToolError::invalid(
            NAME,
            "`old` and `new` are the same: nothing to change",
        ));
    }
    let target = ctx.workspace.resolve_for_write(&args.path)?;
    let shown = target.relative.display().to_string();
    if !target.exists {
        return Err(ToolError::NotFound { path: args.path });
    }
    let (dir, name) = ctx.workspace.open_parent(&target)?;
    let file = dir
        .open_regular(&name)
        .map_err(|e| ToolError::io(shown.clone(), e))?;
    let limit = ctx.limits.max_file_bytes;
    let bytes = read_text(file, &shown, limit)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ToolError::Failed(format!(
            "`{shown}` is not valid UTF-8; edit changes text files only"
        ))
    })?;
    let count = text.matches(args.old.as_str()).count();
    if count == 0 {
        return Err(ToolError::Failed(format!(
            "`old` was not found in `{shown}`; read the file and copy the text exactly, \
             whitespace included"
        )));
    }
    if count > 1 && !args.replace_all {
        return Err(ToolError::Failed(format!(
            "`old` occurs {count} times in `{shown}`; include more surrounding text to make it \
             unique, or set replace_all"
        )));
    }
    let first_line = text[..text.find(args.old.as_str()).unwrap_or(0)]
        .matches('\n')
        .count()
        + 1;
    let updated = text.replace(args.old.as_str(), &args.new);
    if updated.len() as u64 > limit {
        return Err(ToolError::TooLarge {
            what: format!("`{shown}` after the edit ({} bytes)", updated.len()),
            limit,
        });
    }
    let permissions = existing_permissions(&dir, &name);
    replace_atomically(&dir, &name, updated.as_bytes(), permissions, &shown)?;
    let plural = if count == 1 { "" } else { "s" };
    let summary = format!("{shown}: {count} replacement{plural}, first at line {first_line}");
    Ok(ToolOutput::new(
        summary.clone(),
        summary,
        false,
        ctx.limits.max_output_bytes,
    ))
}

impl Tool for EditTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "Replace the exact text `old` with `new` in an existing file, atomically. `old` \
                 must occur exactly once unless replace_all is true; copy it from `read` output \
                 without the line numbers."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "old": {"type": "string", "description": "The exact text to replace."},
                    "new": {"type": "string", "description": "The replacement text."},
                    "replace_all": {"type": "boolean", "description": "Replace every occurrence (default false)."}
                },
                "required": ["path", "old", "new"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &serde_json::Value) -> Effect {
        Effect::Write
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<EditArgs>(NAME, args.clone())?.path)
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        _call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        run_blocking::<EditArgs, _>(NAME, args, ctx, edit)
    }
}
