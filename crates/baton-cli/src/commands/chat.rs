//! `baton chat`: one message, or an interactive conversation.

use baton_hub::{ChatInput, Hub, HubEvent};
use futures::StreamExt;
use std::io::Write;
use std::process::ExitCode;

use crate::args::{ChatArgs, Global};
use crate::boot;
use crate::style::{ACCENT, DIM};

pub async fn run(global: &Global, args: ChatArgs) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let hub = boot::hub(&loaded).await?;
    let mut turn = Turn {
        session: args.session,
        model: args.model,
        device: args.device,
        json: global.json,
    };
    let code = match args.message {
        Some(message) => {
            if turn.send(&hub, message).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        None => {
            interactive(&hub, &mut turn, &loaded.data_dir()).await?;
            ExitCode::SUCCESS
        }
    };
    hub.shutdown().await;
    Ok(code)
}

/// The state that carries from one message to the next.
struct Turn {
    session: Option<String>,
    model: Option<String>,
    device: Option<String>,
    json: bool,
}

impl Turn {
    /// Streams one reply to stdout; returns whether it completed.
    async fn send(&mut self, hub: &Hub, message: String) -> anyhow::Result<bool> {
        let input = ChatInput {
            message,
            session_id: self.session.clone(),
            device_id: self.device.clone(),
            model: self.model.clone(),
        };
        let mut events = hub.chat_stream(input).await?;
        let mut out = anstream::stdout();
        let mut err = anstream::stderr();
        let mut ok = false;
        while let Some(event) = events.next().await {
            if self.json {
                writeln!(out, "{}", serde_json::to_string(&event)?)?;
            }
            match event {
                HubEvent::Started { session_id, .. } => self.session = Some(session_id.to_string()),
                HubEvent::Token { text } if !self.json => {
                    write!(out, "{text}")?;
                    out.flush()?;
                }
                HubEvent::Token { .. } => {}
                HubEvent::Done(done) => {
                    ok = true;
                    if !self.json {
                        writeln!(out)?;
                        writeln!(
                            err,
                            "{DIM}{} · {} in / {} out tokens · ${:.6} · {} ms · session {}{DIM:#}",
                            done.model,
                            done.usage.prompt_tokens,
                            done.usage.completion_tokens,
                            done.cost_usd,
                            done.latency_ms,
                            done.session_id
                        )?;
                    }
                }
                HubEvent::Error { message, .. } => {
                    if !self.json {
                        writeln!(out)?;
                        crate::style::error(&message);
                    }
                }
            }
        }
        Ok(ok)
    }
}

/// A read-eval-print loop with line editing and a history file.
async fn interactive(hub: &Hub, turn: &mut Turn, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let history = data_dir.join("chat_history");
    let mut editor = rustyline::DefaultEditor::new()?;
    let _ = editor.load_history(&history);
    let mut err = anstream::stderr();
    writeln!(
        err,
        "{DIM}baton chat — /new starts a new session, /model NAME switches model, /exit or Ctrl-D quits{DIM:#}"
    )?;
    loop {
        let prompt = format!("{ACCENT}you>{ACCENT:#} ");
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        match line {
            "/exit" | "/quit" => break,
            "/new" => {
                turn.session = None;
                writeln!(err, "{DIM}new session{DIM:#}")?;
                continue;
            }
            _ => {}
        }
        if let Some(model) = line.strip_prefix("/model ") {
            turn.model = Some(model.trim().to_owned());
            writeln!(err, "{DIM}model: {}{DIM:#}", model.trim())?;
            continue;
        }
        if let Err(e) = turn.send(hub, line.to_owned()).await {
            crate::style::error(&format!("{e:#}"));
        }
    }
    let _ = editor.save_history(&history);
    Ok(())
}
