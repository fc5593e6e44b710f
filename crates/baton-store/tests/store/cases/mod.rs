//! The cases, each an async function of a [`TestDb`](crate::harness::TestDb)
//! that runs unchanged on every backend.

mod devices;
mod history;
mod lifecycle;
mod memories;
mod messages;
mod runs;
mod session_log;
mod sessions;
mod workflows;
mod writer;

pub use devices::*;
pub use history::*;
pub use lifecycle::*;
pub use memories::*;
pub use messages::*;
pub use runs::*;
pub use session_log::*;
pub use sessions::*;
pub use workflows::*;
pub use writer::*;
