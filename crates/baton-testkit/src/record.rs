//! The log of model requests received, for tests to assert on.
//!
//! Bounded so that a benchmark run at thousands of requests a second keeps a
//! flat memory profile; a limit of zero turns recording off and only counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::Value;

/// The wire format a request arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Wire {
    /// `/v1/chat/completions`, `/v1/embeddings`: also what Ollama's
    /// OpenAI-compatible routes speak.
    #[serde(rename = "openai")]
    OpenAi,
    /// `/v1/messages`.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Ollama's native `/api/chat`.
    #[serde(rename = "ollama")]
    Ollama,
}

/// One model request as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub wire: Wire,
    pub path: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body; a body that is not JSON is kept as a string.
    pub body: Value,
    /// The request's `model` field (empty when it had none).
    pub model: String,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Keeps the last `limit` requests and counts all of them.
#[derive(Debug)]
pub(crate) struct Recorder {
    limit: usize,
    log: Mutex<VecDeque<RecordedRequest>>,
    count: AtomicUsize,
}

impl Recorder {
    pub(crate) fn new(limit: usize) -> Self {
        Recorder {
            limit,
            log: Mutex::new(VecDeque::new()),
            count: AtomicUsize::new(0),
        }
    }

    /// Counts a request, and builds and keeps its record only when recording
    /// is on, so that `--no-record` costs no copies.
    pub(crate) fn record(&self, build: impl FnOnce() -> RecordedRequest) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.limit == 0 {
            return;
        }
        let request = build();
        let mut log = self.lock();
        if log.len() == self.limit {
            log.pop_front();
        }
        log.push_back(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().iter().cloned().collect()
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        let mut log = self.lock();
        log.clear();
        self.count.store(0, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<RecordedRequest>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(model: &str) -> RecordedRequest {
        RecordedRequest {
            wire: Wire::OpenAi,
            path: "/v1/chat/completions".into(),
            headers: vec![("X-Test".into(), "1".into())],
            body: Value::Null,
            model: model.into(),
        }
    }

    #[test]
    fn keeps_only_the_newest_requests() {
        let recorder = Recorder::new(2);
        for model in ["a", "b", "c"] {
            recorder.record(|| request(model));
        }
        let models: Vec<_> = recorder.snapshot().into_iter().map(|r| r.model).collect();
        assert_eq!(models, ["b", "c"]);
        assert_eq!(recorder.count(), 3);
    }

    #[test]
    fn a_zero_limit_only_counts() {
        let recorder = Recorder::new(0);
        recorder.record(|| unreachable!("records are not built when recording is off"));
        assert_eq!(recorder.count(), 1);
        assert!(recorder.snapshot().is_empty());
    }

    #[test]
    fn header_lookup_ignores_case() {
        assert_eq!(request("a").header("x-test"), Some("1"));
        assert_eq!(request("a").header("x-other"), None);
    }
}
