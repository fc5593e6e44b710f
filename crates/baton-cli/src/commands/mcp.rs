//! `baton mcp`: the workspace's continuity (context, memories, session log,
//! tiers) as an MCP server on standard input and output, for an assistant
//! to start as its memory. Only what the tools need is built (the store and
//! the memory manager; no hub, no agent, no MCP client connections), so the
//! assistant's first request is answered at once. Standard output carries
//! the protocol alone: logs go to standard error.

use std::process::ExitCode;

use anyhow::Context;
use baton_server::ContinuityMcp;
use rmcp::ServiceExt;

use crate::args::Global;
use crate::boot;

pub async fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let workspace = boot::workspace(global)?;
    // Checked now, so that a wrong --workspace stops the server with a clear
    // message instead of failing every call.
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("the workspace {} cannot be opened", workspace.display()))?;
    let store = boot::open_store(&loaded).await?;
    let memories = boot::memories(&loaded, &store, None).await?;
    let device = memories.device().clone();
    let server = ContinuityMcp::new(store, memories, device, ContinuityMcp::inside(workspace));
    let running = server
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("no MCP session was started on standard input")?;
    running
        .waiting()
        .await
        .context("the MCP session ended abnormally")?;
    Ok(ExitCode::SUCCESS)
}
