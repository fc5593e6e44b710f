//! baton's agent service: a model pursues a goal with tools, under a
//! policy, within budgets, and every step is stored so a run survives a
//! crash.

mod agent;
pub mod approvals;
pub mod budget;
pub mod context;
mod error;
pub mod events;
pub mod goal;
mod runner;
pub mod spec;
pub mod stuck;
pub mod text_protocol;

pub use agent::{Agent, AgentParts, RunHandle, RunRequest, ToolContextFactory, inside_workspace};
pub use error::AgentError;
pub use events::AgentEvent;
pub use runner::RunSummary;
pub use spec::{Protocol, RunSpec};
