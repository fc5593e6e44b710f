//! The cases, each an async function of a [`TestDb`](crate::harness::TestDb)
//! that runs unchanged on every backend.

mod devices;
mod history;
mod lifecycle;
mod messages;
mod runs;
mod session_log;
mod sessions;
mod writer;

pub use devices::*;
pub use history::*;
pub use lifecycle::*;
pub use messages::*;
pub use runs::*;
pub use session_log::*;
pub use sessions::*;
pub use writer::*;
