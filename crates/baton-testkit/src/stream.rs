//! Sends a response body frame by frame at the scripted pace, and breaks it
//! where the script says; the wire modules decide only what the frames say.

use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;

/// One piece of a response body.
#[derive(Debug)]
pub(crate) enum Frame {
    /// Framing sent as soon as it is reached (`message_start`, a role chunk).
    Meta(Bytes),
    /// A content chunk: paced by the token delay and counted for cuts.
    Token(Bytes),
    /// The end of the stream (finish chunk, `[DONE]`), withheld on a cut.
    Tail(Bytes),
}

/// When frames go out, and where the connection breaks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pacing {
    /// Before the first frame.
    pub(crate) first_byte: Duration,
    /// Before each token frame.
    pub(crate) token_delay: Duration,
    /// Drop the connection once this many token frames went out.
    pub(crate) cut_after: Option<usize>,
}

/// A body that yields `frames` at `pacing`. A cut ends the body with an
/// error, which makes hyper abort the connection without the final chunk, as
/// a crashed upstream would.
pub(crate) fn paced_body(frames: Vec<Frame>, pacing: Pacing) -> Body {
    Body::from_stream(async_stream::stream! {
        if !pacing.first_byte.is_zero() {
            tokio::time::sleep(pacing.first_byte).await;
        }
        let mut tokens = 0;
        for frame in frames {
            let bytes = match frame {
                Frame::Meta(bytes) => bytes,
                Frame::Token(bytes) => {
                    if pacing.cut_after == Some(tokens) {
                        break;
                    }
                    if !pacing.token_delay.is_zero() {
                        tokio::time::sleep(pacing.token_delay).await;
                    }
                    tokens += 1;
                    bytes
                }
                Frame::Tail(bytes) if pacing.cut_after.is_none() => bytes,
                Frame::Tail(_) => break,
            };
            yield Ok(bytes);
        }
        if pacing.cut_after.is_some() {
            // Hyper flushes what it buffered only when the body is pending;
            // without this the frames before the cut would never be sent.
            tokio::task::yield_now().await;
            yield Err(cut());
        }
    })
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "scripted cut mid-stream")
}
