//! Stopping on SIGINT or SIGTERM: `baton serve` and `baton worker` shut
//! down gracefully, `baton workflow run` leaves its run resumable.

use std::process::ExitCode;

/// A request to stop, by signal.
#[derive(Debug, Clone, Copy)]
pub enum Interrupt {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM.
    Terminate,
}

impl Interrupt {
    /// The shell's convention: 128 + the signal's number.
    pub fn code(self) -> ExitCode {
        match self {
            Interrupt::Int => ExitCode::from(130),
            Interrupt::Terminate => ExitCode::from(143),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Terminate => "SIGTERM",
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn interrupted() -> Interrupt {
    let int = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = int => Interrupt::Int,
        _ = term => Interrupt::Terminate,
    }
}
