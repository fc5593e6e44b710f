//! Runs the `search` tool once over a directory and prints what the model
//! would see, with no result, output or file-size limit, so `bench/search.sh`
//! can time it against `rg -n` on the same tree and compare the matches.
//!
//! Usage: search DIR PATTERN [--fixed-strings] [--ignore-case]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use baton_tools::{CallInfo, Limits, SearchTool, Tool, ToolContext, Workspace};

fn main() -> ExitCode {
    let mut positional = Vec::new();
    let (mut fixed_strings, mut case_insensitive) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fixed-strings" => fixed_strings = true,
            "--ignore-case" => case_insensitive = true,
            _ if arg.starts_with("--") => {
                eprintln!("unknown option {arg}");
                return ExitCode::from(2);
            }
            _ => positional.push(arg),
        }
    }
    let [dir, pattern] = positional.as_slice() else {
        eprintln!("usage: search DIR PATTERN [--fixed-strings] [--ignore-case]");
        return ExitCode::from(2);
    };
    let workspace = match Workspace::open(dir) {
        Ok(workspace) => workspace,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ctx = ToolContext {
        limits: Limits {
            timeout: Duration::from_secs(3600),
            max_output_bytes: usize::MAX,
            max_file_bytes: u64::MAX,
            max_results: usize::MAX,
        },
        ..ToolContext::new(workspace)
    };
    let args = serde_json::json!({
        "pattern": pattern,
        "fixed_strings": fixed_strings,
        "case_insensitive": case_insensitive,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    // A search changes nothing, so no service ever sees this call's key.
    let call = CallInfo::new("example", "search");
    match runtime.block_on(SearchTool.call(args, &ctx, &call)) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(output.text.as_bytes()).is_err() {
                return ExitCode::FAILURE;
            }
            eprintln!("{}", output.summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
