//! `baton chat`: one message, or an interactive conversation. In a
//! workspace with handoff documents the conversation is part of the
//! continuity loop (`ConversationLoop`): it starts from the workspace's
//! context and ends with its session-log entry.

use baton_continuity::ConversationLoop;
use baton_core::DeviceId;
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
    let device = args
        .device
        .clone()
        .unwrap_or_else(|| loaded.config.chat.default_device.clone());
    let continuity = match DeviceId::parse(&device) {
        Ok(device) => {
            let memories = boot::memories(&loaded, hub.store(), Some(hub.gateway())).await?;
            ConversationLoop::in_workspace(
                boot::workspace(global)?,
                hub.store().clone(),
                Some(memories),
                device,
            )
        }
        Err(_) => None,
    };
    let mut turn = Turn {
        session: args.session,
        model: args.model,
        device: args.device,
        json: global.json,
        continuity,
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
    if let Some(continuity) = turn.continuity.take() {
        match continuity.end().await {
            Ok(Some(record)) if !turn.json => writeln!(
                anstream::stderr(),
                "{DIM}logged as entry {} of SESSION_LOG.md{DIM:#}",
                record.entry.seq
            )?,
            Ok(_) => {}
            Err(error) => crate::style::error(&format!(
                "the conversation could not be logged in the workspace: {error}"
            )),
        }
    }
    hub.shutdown().await;
    Ok(code)
}

/// The state that carries from one message to the next.
struct Turn {
    session: Option<String>,
    model: Option<String>,
    device: Option<String>,
    json: bool,
    /// The workspace's continuity loop, when it has handoff documents.
    continuity: Option<ConversationLoop>,
}

impl Turn {
    /// Streams one reply to stdout; returns whether it completed.
    async fn send(&mut self, hub: &Hub, message: String) -> anyhow::Result<bool> {
        let context = match &mut self.continuity {
            Some(continuity) => match continuity.context(&message, self.model.as_deref()).await {
                Ok(context) => Some(context),
                Err(error) => {
                    tracing::warn!(%error, "the conversation starts without the workspace's context");
                    None
                }
            },
            None => None,
        };
        let input = ChatInput {
            message: message.clone(),
            session_id: self.session.clone(),
            device_id: self.device.clone(),
            model: self.model.clone(),
            workspace: None,
            context,
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
                    if let Some(continuity) = &mut self.continuity {
                        continuity.answered(
                            &message,
                            &done.reply,
                            &done.session_id.to_string(),
                            &done.model,
                        );
                    }
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
