//! `read`: a text file (or a range of its lines), numbered so the model can
//! point at lines in a later `edit` and ask for the next range.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::textfile::read_text;
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput, parse_args, run_blocking};

const NAME: &str = "read";

/// Reads a text file inside the workspace.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    start_line: Option<u64>,
    end_line: Option<u64>,
}

/// Checks a 1-based inclusive line range against a file of `total` lines.
fn line_range(args: &ReadArgs, total: u64) -> Result<(u64, u64), ToolError> {
    let start = args.start_line.unwrap_or(1);
    if start == 0 {
        return Err(ToolError::invalid(
            NAME,
            "start_line is 1-based: use 1 or more",
        ));
    }
    let end = args.end_line.unwrap_or(total).min(total);
    if let Some(end_line) = args.end_line
        && end_line < start
    {
        return Err(ToolError::invalid(
            NAME,
            format!("end_line ({end_line}) is before start_line ({start})"),
        ));
    }
    if start > total.max(1) {
        return Err(ToolError::invalid(
            NAME,
            format!(
                "start_line {start} is past the end: `{}` has {total} lines",
                args.path
            ),
        ));
    }
    Ok((start, end))
}

fn read(args: ReadArgs, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    let (file, path) = ctx.workspace.open_read(&args.path)?;
    let bytes = read_text(file, &path, ctx.limits.max_file_bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len() as u64;
    let (start, end) = line_range(&args, total)?;
    if total == 0 {
        return Ok(ToolOutput::new(
            format!("{path}: empty file\n"),
            format!("{path}: empty"),
            false,
            ctx.limits.max_output_bytes,
        ));
    }
    let mut out = format!("{path}: lines {start}-{end} of {total}\n");
    for (index, line) in lines[(start - 1) as usize..end as usize].iter().enumerate() {
        out.push_str(&format!("{:>6}\t{line}\n", start + index as u64));
    }
    let summary = format!("{path}: lines {start}-{end} of {total}");
    Ok(ToolOutput::new(
        out,
        summary,
        false,
        ctx.limits.max_output_bytes,
    ))
}

impl Tool for ReadTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "Read a UTF-8 text file in the workspace, with numbered lines. Give start_line and \
                 end_line (1-based, inclusive) to read part of a long file. Binary files and files \
                 over the size limit are refused."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (default 1)."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (default: the end)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &serde_json::Value) -> Effect {
        Effect::Read
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<ReadArgs>(NAME, args.clone())?.path)
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        _call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        run_blocking::<ReadArgs, _>(NAME, args, ctx, read)
    }
}
