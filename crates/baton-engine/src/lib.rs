//! baton's durable workflow engine.
//!
//! A request becomes a [`plan::Plan`]: a DAG of tasks, written by a model
//! through the [`decomposer`] or given as a JSON/TOML file. The [`Engine`]
//! stores it as a run whose tasks workers ([`worker`]) claim under fenced
//! leases; every state change commits together with its run event (see
//! `baton_store::workflows`), so a killed worker loses nothing and a late
//! one changes nothing.

mod changes;
pub mod decomposer;
mod engine;
mod error;
mod execute;
pub mod plan;
mod record;
pub mod worker;

pub use engine::{
    EVENT_PAGE, Engine, EngineConfig, EngineParts, MAX_CONTEXT_PACK_BYTES, MAX_CONTEXT_PACKS,
    MAX_DESCRIPTION_BYTES, OptimizationTarget, Submitted, WorkflowRequest, WorkflowView,
    is_final_event,
};
pub use error::EngineError;
pub use worker::WorkerHandle;
