//! `write`: creates or replaces a whole file, atomically, creating parent
//! directories; it refuses to overwrite a binary file the model cannot have
//! read.

use std::io::Read;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::textfile::{BINARY_SNIFF_BYTES, existing_permissions, looks_binary, replace_atomically};
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput, parse_args, run_blocking};

const NAME: &str = "write";

/// Writes a whole file inside the workspace.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

fn write(args: WriteArgs, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    let limit = ctx.limits.max_file_bytes;
    if args.content.len() as u64 > limit {
        return Err(ToolError::TooLarge {
            what: format!(
                "the content for `{}` ({} bytes)",
                args.path,
                args.content.len()
            ),
            limit,
        });
    }
    let target = ctx.workspace.resolve_for_write(&args.path)?;
    let shown = target.relative.display().to_string();
    let (dir, name) = ctx.workspace.open_parent(&target)?;
    let mut replaced = false;
    match dir.open_regular(&name) {
        Ok(mut file) => {
            let mut head = Vec::with_capacity(BINARY_SNIFF_BYTES);
            (&mut file)
                .take(BINARY_SNIFF_BYTES as u64)
                .read_to_end(&mut head)
                .map_err(|e| ToolError::io(shown.clone(), e))?;
            if looks_binary(&head) {
                return Err(ToolError::Binary { path: shown });
            }
            replaced = true;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ToolError::OutsideWorkspace {
                path: shown,
                reason: "it became a symlink while it was being opened".into(),
            });
        }
        Err(e) => return Err(ToolError::io(shown, e)),
    }
    let permissions = existing_permissions(&dir, &name);
    replace_atomically(&dir, &name, args.content.as_bytes(), permissions, &shown)?;
    let verb = if replaced { "replaced" } else { "created" };
    let summary = format!("{verb} {shown} ({} bytes)", args.content.len());
    Ok(ToolOutput::new(
        summary.clone(),
        summary,
        false,
        ctx.limits.max_output_bytes,
    ))
}

impl Tool for WriteTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "Create a file or replace its whole content, atomically; missing parent \
                 directories are created. Use `edit` to change part of an existing file."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "content": {"type": "string", "description": "The complete new content of the file."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &serde_json::Value) -> Effect {
        Effect::Write
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<WriteArgs>(NAME, args.clone())?.path)
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        _call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        run_blocking::<WriteArgs, _>(NAME, args, ctx, write)
    }
}
