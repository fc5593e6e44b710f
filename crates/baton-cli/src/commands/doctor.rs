//! `baton doctor`: what this machine offers baton, checked for real: the
//! sandbox the shell runs in, the store, the providers, the tools that
//! agent runs call.

use std::io::Write;
use std::process::ExitCode;

use baton_sandbox::Sandbox;
use serde::Serialize;

use crate::args::Global;
use crate::boot;
use crate::style::{BOLD, DIM, ERROR};

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub async fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let mut checks = Vec::new();

    let sandbox = Sandbox::probe();
    let isolation = sandbox.isolation();
    checks.push(Check {
        name: "sandbox",
        ok: isolation.is_isolated(),
        detail: if isolation.is_isolated() {
            format!("{sandbox}")
        } else {
            format!(
                "NO ISOLATION ({isolation}): shell and run would execute unconfined, so every such call is asked"
            )
        },
    });

    let store = boot::open_store(&loaded).await;
    checks.push(match &store {
        Ok(store) => Check {
            name: "store",
            ok: store.ping().await.is_ok(),
            detail: format!("{} reachable", store.backend()),
        },
        Err(e) => Check {
            name: "store",
            ok: false,
            detail: format!("{e:#}"),
        },
    });

    match boot::gateway(&loaded).await {
        Ok(gateway) => {
            let providers = gateway.providers();
            checks.push(Check {
                name: "providers",
                ok: !providers.is_empty(),
                detail: if providers.is_empty() {
                    "none configured or found (set OPENAI_API_KEY, ANTHROPIC_API_KEY, run Ollama, or add [[providers]])".into()
                } else {
                    providers
                        .iter()
                        .map(|p| p.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
        Err(e) => checks.push(Check {
            name: "providers",
            ok: false,
            detail: format!("{e:#}"),
        }),
    }

    for (name, program, args) in [
        ("git", "git", &["--version"][..]),
        ("python", "python3", &["--version"][..]),
    ] {
        let found = std::process::Command::new(program).args(args).output();
        checks.push(match found {
            Ok(out) if out.status.success() => Check {
                name,
                ok: true,
                detail: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            },
            _ => Check {
                name,
                ok: false,
                detail: format!("`{program}` not found: the {name} tool will fail"),
            },
        });
    }

    checks.push(match boot::mcp_servers(&loaded) {
        Ok(servers) => Check {
            name: "mcp",
            ok: true,
            detail: format!("{} server(s) configured", servers.len()),
        },
        Err(e) => Check {
            name: "mcp",
            ok: false,
            detail: format!("{e:#}"),
        },
    });

    let all_ok = checks.iter().all(|c| c.ok);
    let mut out = anstream::stdout();
    if global.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": all_ok, "checks": checks}))?
        )?;
    } else {
        for check in &checks {
            if check.ok {
                writeln!(
                    out,
                    "{BOLD}ok{BOLD:#}   {:<10} {DIM}{}{DIM:#}",
                    check.name, check.detail
                )?;
            } else {
                writeln!(
                    out,
                    "{ERROR}fail{ERROR:#} {:<10} {}",
                    check.name, check.detail
                )?;
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
