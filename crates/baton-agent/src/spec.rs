//! How a run is asked for. The spec is stored with the run, so a run
//! resumed after a crash continues under exactly the rules it began with.

use std::path::PathBuf;

use baton_core::{DeviceId, RunId};
use serde::{Deserialize, Serialize};

use crate::budget::Budgets;

/// How tool calls travel between baton and the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Native tool calling when the model has it, the text protocol when
    /// not.
    #[default]
    Auto,
    /// The provider's tool-calling API.
    Native,
    /// The seed's `search: …` lines, parsed from the reply.
    Text,
}

/// Everything a run needs to start (and to resume the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub goal: String,
    /// `provider/model`, a unique bare name, or `auto`.
    pub model: String,
    /// The directory every tool is jailed in.
    pub workspace: PathBuf,
    /// `chat`, `plan`, `ask` or `auto` when the person chose one; unset,
    /// the configuration and the project file decide (`ask` by default).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub budgets: Budgets,
    /// `--allow`: tools allowed for any subject.
    #[serde(default)]
    pub allow: Vec<String>,
    /// `--block`: words that deny any shell command containing them.
    #[serde(default)]
    pub block: Vec<String>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Whether `shell` and `run` may use the network.
    #[serde(default)]
    pub network: bool,
    /// Ask the model whether the goal is met before ending `completed`.
    #[serde(default = "yes")]
    pub goal_check: bool,
    pub device_id: DeviceId,
    /// The run that started this one; its policy bounds this one's.
    #[serde(default)]
    pub parent: Option<RunId>,
}

fn yes() -> bool {
    true
}
