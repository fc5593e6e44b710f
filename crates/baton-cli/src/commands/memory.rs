//! `baton memory add|search|forget|embed`: the workspace's memories, through
//! the same memory manager the server and agent runs use.

use std::io::{Read, Write};
use std::process::ExitCode;

use baton_continuity::{Memories, MemorySource, NewMemoryText};
use baton_core::one_line;

use crate::args::{Global, MemoryCommand, MemorySourceArg};
use crate::boot;
use crate::style::{BOLD, DIM};

pub async fn run(global: &Global, command: MemoryCommand) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let workspace = boot::workspace(global)?;
    let store = boot::open_store(&loaded).await?;
    let memories = boot::memories(&loaded, &store, None).await?;
    let mut out = anstream::stdout();
    match command {
        MemoryCommand::Add {
            text,
            source,
            source_ref,
        } => {
            let content = match text.as_deref() {
                None | Some("-") => read_stdin()?,
                Some(text) => text.to_owned(),
            };
            let new = NewMemoryText {
                source: source_of(source),
                source_ref,
                content,
            };
            let remembered = memories.remember(&workspace, new).await?;
            if global.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&remembered)?)?;
            } else {
                let what = if remembered.new {
                    "remembered"
                } else {
                    "already remembered"
                };
                writeln!(out, "{what} {BOLD}{}{BOLD:#}", remembered.memory.id)?;
                if let Some(note) = &remembered.vector_note {
                    writeln!(
                        anstream::stderr(),
                        "{DIM}kept for full-text recall only: {note}{DIM:#}"
                    )?;
                }
            }
        }
        MemoryCommand::Search { query, limit } => {
            let recall = memories.search(&workspace, &query, limit).await?;
            if global.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&recall)?)?;
            } else {
                for hit in &recall.hits {
                    let ranks = [("words", hit.text_rank), ("vector", hit.vector_rank)]
                        .iter()
                        .filter_map(|(name, rank)| rank.map(|r| format!("{name} #{r}")))
                        .collect::<Vec<_>>()
                        .join(", ");
                    writeln!(
                        out,
                        "{BOLD}{}{BOLD:#} {DIM}{} · {ranks}{DIM:#}\n  {}",
                        hit.memory.id,
                        hit.memory.source,
                        one_line(&hit.memory.content, 200)
                    )?;
                }
                let mut err = anstream::stderr();
                if recall.hits.is_empty() {
                    writeln!(err, "{DIM}nothing found{DIM:#}")?;
                }
                if let Some(note) = &recall.vector_note {
                    writeln!(err, "{DIM}full text only: {note}{DIM:#}")?;
                }
            }
        }
        MemoryCommand::Forget { id } => {
            if !memories.forget(&workspace, &id).await? {
                anyhow::bail!("no memory {id} in {}", workspace.display());
            }
            if !global.json {
                writeln!(out, "forgot {id}")?;
            }
        }
        MemoryCommand::Embed { limit } => embed(global, &memories, &workspace, limit).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn embed(
    global: &Global,
    memories: &Memories,
    workspace: &std::path::Path,
    limit: u32,
) -> anyhow::Result<()> {
    let Some(embedder) = memories.embedder() else {
        anyhow::bail!(
            "no embedder is configured: set [memory] embedder (provider/model) or model_dir"
        );
    };
    let done = memories.embed_missing(workspace, limit).await?;
    let mut out = anstream::stdout();
    if global.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"embedder": embedder, "embedded": done})
        )?;
    } else {
        writeln!(out, "{done} memories got vectors from {embedder}")?;
    }
    Ok(())
}

fn source_of(arg: MemorySourceArg) -> MemorySource {
    match arg {
        MemorySourceArg::Note => MemorySource::Note,
        MemorySourceArg::Log => MemorySource::Log,
        MemorySourceArg::Document => MemorySource::Document,
        MemorySourceArg::Conversation => MemorySource::Conversation,
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(baton_continuity::MAX_MEMORY_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read the memory from standard input: {e}"))?;
    Ok(text)
}
