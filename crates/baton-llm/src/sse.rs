//! Server-sent events in, [`StreamEvent`]s out.
//!
//! Both wire protocols stream as SSE; they differ only in what each event's
//! JSON means. A [`Decoder`] holds that protocol-specific part, and
//! [`decode`] does the rest: framing, error mapping, and refusing to call a
//! stream complete when it ended without the protocol's terminator.

use std::pin::Pin;

use baton_core::StreamEvent;
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{FutureExt, Stream, StreamExt};

use crate::error::UpstreamError;
use crate::http::error_chain;
use crate::redact::Redactor;

/// The events of one provider call, in order; ends after `Done` or an error.
pub(crate) type ProviderStream =
    Pin<Box<dyn Stream<Item = Result<StreamEvent, UpstreamError>> + Send>>;

/// The protocol-specific half of a streaming client.
pub(crate) trait Decoder: Send + 'static {
    /// What marks a complete stream, named in the error when it is missing.
    const TERMINATOR: &'static str;

    /// Turns one SSE event (`event:` name, possibly empty, and `data:`) into
    /// zero or more stream events.
    fn decode(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), UpstreamError>;

    /// Whether the terminator has been seen; nothing after it is read.
    fn finished(&self) -> bool;
}

/// Decodes an SSE byte stream. Transport errors are redacted with
/// `redactor`; a stream that ends before [`Decoder::finished`] yields an
/// error as its last item.
pub(crate) fn decode<S, E, D>(bytes: S, mut decoder: D, redactor: Redactor) -> ProviderStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + 'static,
    D: Decoder,
{
    Box::pin(async_stream::stream! {
        let mut frames = std::pin::pin!(bytes.eventsource());
        let mut out = Vec::new();
        while let Some(frame) = frames.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(EventStreamError::Transport(e)) => {
                    yield Err(UpstreamError::Transport(redactor.redact(&error_chain(&e))));
                    return;
                }
                Err(e) => {
                    yield Err(UpstreamError::Protocol(format!("invalid server-sent events: {e}")));
                    return;
                }
            };
            if let Err(e) = decoder.decode(&frame.event, &frame.data, &mut out) {
                yield Err(e.redact(&redactor));
                return;
            }
            if decoder.finished() {
                // The body's end is usually already here; reading it lets the
                // connection go back to its pool instead of being closed.
                while let Some(Some(Ok(_))) = frames.next().now_or_never() {}
            }
            for event in out.drain(..) {
                yield Ok(event);
            }
            if decoder.finished() {
                return;
            }
        }
        yield Err(UpstreamError::Protocol(format!(
            "the stream ended before {}",
            D::TERMINATOR
        )));
    })
}

/// Parses one event's JSON, naming the protocol part that was malformed.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, UpstreamError> {
    serde_json::from_str(data).map_err(|e| {
        let mut sample: String = data.chars().take(120).collect();
        if sample.len() < data.len() {
            sample.push('…');
        }
        UpstreamError::Protocol(format!("a stream event is not valid JSON ({e}): {sample}"))
    })
}

/// Test helpers shared by the protocol decoders' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::convert::Infallible;

    /// Runs `decoder` over `chunks` of captured wire bytes.
    pub(crate) async fn run<D: Decoder>(
        decoder: D,
        chunks: &[&str],
    ) -> Vec<Result<StreamEvent, UpstreamError>> {
        let owned: Vec<Result<Bytes, Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from(c.to_string())))
            .collect();
        decode(futures::stream::iter(owned), decoder, Redactor::default())
            .collect()
            .await
    }
}
