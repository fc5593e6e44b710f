//! What can go wrong between baton and a model, in two layers.
//!
//! [`UpstreamError`] describes one failed call to one provider and knows
//! whether another model could do better (the fallback chain's question).
//! [`GatewayError`] is what callers see once the gateway has decided: it
//! carries an HTTP status and a stable code so that every face reports the
//! same failure the same way.

use std::fmt;
use std::time::Duration;

use baton_core::ModelId;
use serde::Serialize;

use crate::redact::Redactor;

/// One model the gateway tried (or skipped) before the one that answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// The model that was tried or skipped.
    pub model: ModelId,
    /// A one-line summary of why it did not answer; never contains secrets.
    pub error: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.model, self.error)
    }
}

/// Why the gateway could not answer.
///
/// Every message is safe to show to the caller: upstream bodies are redacted
/// of the provider's key and header values before they get here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The `[[providers]]` configuration cannot be used as written.
    #[error("invalid provider configuration: {0}")]
    Config(String),

    /// The name matches no registered model.
    #[error("no model named {name:?}{}", suggest(.suggestions))]
    ModelNotFound {
        name: String,
        /// Registered ids that look like what was asked for.
        suggestions: Vec<String>,
    },

    /// A bare name that several providers serve; the caller must say which.
    #[error("model name {name:?} matches several models; name one of: {}", .candidates.join(", "))]
    ModelAmbiguous {
        name: String,
        candidates: Vec<String>,
    },

    /// Nothing is configured, so nothing can answer.
    #[error(
        "no model is configured: set a provider's API key (such as OPENAI_API_KEY or ANTHROPIC_API_KEY), add [[providers]] to the configuration, or start Ollama"
    )]
    NoModel,

    /// The upstream said the request itself is wrong; another model would
    /// say the same, so the caller must fix it.
    #[error("provider {provider} rejected the request (HTTP {status}): {message}")]
    UpstreamBadRequest {
        provider: String,
        status: u16,
        message: String,
    },

    /// The upstream refused the key baton sent (401/403): baton's
    /// configuration, not the caller, must change.
    #[error("provider {provider} rejected baton's credentials (HTTP {status}): {message}")]
    UpstreamAuth {
        provider: String,
        status: u16,
        message: String,
    },

    /// The upstream does not serve this model (or this endpoint): baton's
    /// configuration names something that is not there.
    #[error("provider {provider} has no model or endpoint for {model} (HTTP 404): {message}")]
    UpstreamNotFound {
        provider: String,
        model: String,
        message: String,
    },

    /// Every model of the fallback chain failed in a way another might fix.
    #[error("no model could answer; tried {}", list(.attempts))]
    UpstreamUnavailable { attempts: Vec<Attempt> },

    /// Every candidate's provider has its circuit breaker open.
    #[error("every candidate model's provider is cooling down after repeated failures; skipped {}", list(.attempts))]
    CircuitOpen { attempts: Vec<Attempt> },

    /// A stream failed after content had reached the caller, so it could
    /// not be retried elsewhere.
    #[error("the stream from {model} broke after it had started: {message}")]
    StreamInterrupted { model: ModelId, message: String },

    /// The provider's protocol has no such operation.
    #[error("provider {provider} does not offer {what}")]
    Unsupported { provider: String, what: String },

    /// A provider call outside a fallback chain (such as listing models)
    /// failed.
    #[error("provider {provider} failed: {message}")]
    Upstream { provider: String, message: String },
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

fn list(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(Attempt::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl GatewayError {
    /// The HTTP status a face should answer with: 4xx when the caller can
    /// fix it, 5xx when baton or its upstreams are at fault.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::Config(_) => 500,
            GatewayError::ModelNotFound { .. } => 404,
            GatewayError::ModelAmbiguous { .. } => 400,
            GatewayError::NoModel => 503,
            GatewayError::UpstreamBadRequest { .. } => 400,
            GatewayError::UpstreamAuth { .. } => 502,
            GatewayError::UpstreamNotFound { .. } => 502,
            GatewayError::UpstreamUnavailable { .. } => 502,
            GatewayError::CircuitOpen { .. } => 503,
            GatewayError::StreamInterrupted { .. } => 502,
            GatewayError::Unsupported { .. } => 400,
            GatewayError::Upstream { .. } => 502,
        }
    }

    /// A stable machine-readable code for `{"error": {"code": …}}`.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Config(_) => "config",
            GatewayError::ModelNotFound { .. } => "model_not_found",
            GatewayError::ModelAmbiguous { .. } => "model_ambiguous",
            GatewayError::NoModel => "no_model",
            GatewayError::UpstreamBadRequest { .. } => "upstream_bad_request",
            GatewayError::UpstreamAuth { .. } => "upstream_auth",
            GatewayError::UpstreamNotFound { .. } => "upstream_not_found",
            GatewayError::UpstreamUnavailable { .. } => "upstream_unavailable",
            GatewayError::CircuitOpen { .. } => "circuit_open",
            GatewayError::StreamInterrupted { .. } => "upstream_stream_broken",
            GatewayError::Unsupported { .. } => "unsupported",
            GatewayError::Upstream { .. } => "upstream_error",
        }
    }
}

/// One failed call to one provider. Messages are already redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The upstream answered with a non-success status.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        /// What `Retry-After` asked for, when it was sent.
        retry_after: Option<Duration>,
    },
    #[error("could not connect: {0}")]
    Connect(String),
    /// The named phase ran past its time limit.
    #[error("timed out waiting for the {0}")]
    Timeout(&'static str),
    /// The answer was not what the protocol promises (bad JSON, a stream
    /// without its terminator).
    #[error("malformed response: {0}")]
    Protocol(String),
    /// The connection broke while the answer was being read.
    #[error("connection broke: {0}")]
    Transport(String),
}

impl UpstreamError {
    /// Whether another attempt (another model, or the same one later) might
    /// succeed. Rejections of the request or the credentials are final.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429) || *status >= 500
            }
            UpstreamError::Connect(_)
            | UpstreamError::Timeout(_)
            | UpstreamError::Protocol(_)
            | UpstreamError::Transport(_) => true,
        }
    }

    /// The same error with the provider's secrets masked in its text.
    pub(crate) fn redact(self, redactor: &Redactor) -> Self {
        match self {
            UpstreamError::Status {
                status,
                message,
                retry_after,
            } => UpstreamError::Status {
                status,
                message: redactor.redact(&message),
                retry_after,
            },
            UpstreamError::Connect(m) => UpstreamError::Connect(redactor.redact(&m)),
            UpstreamError::Timeout(phase) => UpstreamError::Timeout(phase),
            UpstreamError::Protocol(m) => UpstreamError::Protocol(redactor.redact(&m)),
            UpstreamError::Transport(m) => UpstreamError::Transport(redactor.redact(&m)),
        }
    }

    /// The error a caller sees when this failure ends the request at once.
    pub(crate) fn into_gateway(self, provider: &str, model: &str) -> GatewayError {
        let provider = provider.to_owned();
        match self {
            UpstreamError::Status {
                status, message, ..
            } if !self.retryable() => match status {
                401 | 403 => GatewayError::UpstreamAuth {
                    provider,
                    status,
                    message,
                },
                404 => GatewayError::UpstreamNotFound {
                    provider,
                    model: model.to_owned(),
                    message,
                },
                _ => GatewayError::UpstreamBadRequest {
                    provider,
                    status,
                    message,
                },
            },
            other => GatewayError::Upstream {
                provider,
                message: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> UpstreamError {
        UpstreamError::Status {
            status,
            message: "nope".into(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_failures_are_the_ones_another_model_could_fix() {
        for s in [429, 500, 502, 503, 529, 408] {
            assert!(status(s).retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!status(s).retryable(), "{s}");
        }
        assert!(UpstreamError::Connect("refused".into()).retryable());
        assert!(UpstreamError::Timeout("first token").retryable());
        assert!(UpstreamError::Protocol("bad json".into()).retryable());
    }

    #[test]
    fn final_failures_map_to_caller_facing_codes() {
        let e = status(400).into_gateway("p", "m");
        assert_eq!((e.status(), e.code()), (400, "upstream_bad_request"));
        assert!(e.to_string().contains("nope"));
        let e = status(401).into_gateway("p", "m");
        assert_eq!((e.status(), e.code()), (502, "upstream_auth"));
        assert!(e.to_string().contains("rejected baton's credentials"));
        let e = status(404).into_gateway("p", "m");
        assert_eq!((e.status(), e.code()), (502, "upstream_not_found"));
        let e = status(422).into_gateway("p", "m");
        assert_eq!(e.code(), "upstream_bad_request");
    }

    #[test]
    fn messages_name_suggestions_and_attempts() {
        let e = GatewayError::ModelNotFound {
            name: "gpt4".into(),
            suggestions: vec!["openai/gpt-4o".into()],
        };
        assert_eq!(
            e.to_string(),
            "no model named \"gpt4\"; did you mean openai/gpt-4o?"
        );
        let e = GatewayError::UpstreamUnavailable {
            attempts: vec![
                Attempt {
                    model: ModelId::new("a", "x"),
                    error: "HTTP 500: boom".into(),
                },
                Attempt {
                    model: ModelId::new("b", "y"),
                    error: "could not connect: refused".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "no model could answer; tried a/x: HTTP 500: boom; b/y: could not connect: refused"
        );
        assert_eq!(e.status(), 502);
    }
}
