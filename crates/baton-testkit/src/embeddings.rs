//! `POST /v1/embeddings` with deterministic vectors: a text's vector is the
//! normalised sum of one pseudo-random vector per lowercase word, so the
//! same text always gets the same unit vector, texts that share words are
//! close and texts that share none are nearly orthogonal. Memory and
//! retrieval code is testable without a model.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::exchange::{Dialect, denial, json_response, required_model};
use crate::openai::OpenAi;
use crate::record::Wire;
use crate::server::Shared;

/// The vector length unless the request asks for `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 384;

const MAX_DIMENSIONS: usize = 8192;

/// The vector for `text`: unit length, derived only from its words
/// (alphanumeric runs, lowercased); a text without words is hashed whole.
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let lower = text.to_lowercase();
    let mut words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        words.push(text);
    }
    let mut vector = vec![0.0f32; dimensions];
    for word in words {
        let mut state = fnv1a(word.as_bytes());
        for x in &mut vector {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            *x += (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// 64-bit FNV-1a: tiny, and stable across platforms and Rust releases.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct EmbeddingRequest {
    model: String,
    inputs: Vec<String>,
    dimensions: usize,
    base64: bool,
}

impl EmbeddingRequest {
    fn read(body: &Value) -> Result<Self, String> {
        let model = required_model(body)?;
        let inputs = match body.get("input") {
            Some(Value::String(text)) => vec![text.clone()],
            Some(Value::Array(items)) if items.is_empty() => {
                return Err("`input` must not be empty".to_owned());
            }
            Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
                vec![Value::Array(items.clone()).to_string()]
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    Value::Array(_) => Ok(item.to_string()),
                    _ => Err("`input` items must be strings or token lists".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("`input` must be a string or a list".to_owned()),
        };
        let dimensions = match body.get("dimensions") {
            None | Some(Value::Null) => DEFAULT_DIMENSIONS,
            Some(value) => value
                .as_u64()
                .and_then(|d| usize::try_from(d).ok())
                .filter(|d| (1..=MAX_DIMENSIONS).contains(d))
                .ok_or_else(|| format!("`dimensions` must be between 1 and {MAX_DIMENSIONS}"))?,
        };
        let base64 = match body.get("encoding_format").and_then(Value::as_str) {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => return Err(format!("unknown encoding_format `{other}`")),
        };
        Ok(EmbeddingRequest {
            model,
            inputs,
            dimensions,
            base64,
        })
    }
}

/// The handler for `POST /v1/embeddings`. It is recorded like a chat request
/// but takes no script step.
pub(crate) async fn embeddings(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let request = match &parsed {
        Ok(value) => EmbeddingRequest::read(value),
        Err(e) => Err(format!("the request body is not valid JSON: {e}")),
    };
    shared.record(Wire::OpenAi, &uri, &headers, &body, parsed.ok());
    if let Some(denied) = denial::<OpenAi>(&shared, &headers) {
        return denied;
    }
    let request = match request {
        Ok(request) => request,
        Err(message) => return OpenAi::error(StatusCode::BAD_REQUEST, &message),
    };
    let data: Vec<Value> = request
        .inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, request.dimensions);
            let embedding = if request.base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: usize = request
        .inputs
        .iter()
        .map(|t| t.split_whitespace().count())
        .sum();
    json_response(
        StatusCode::OK,
        json!({
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = embed("hello world", DEFAULT_DIMENSIONS);
        assert_eq!(a.len(), DEFAULT_DIMENSIONS);
        assert_eq!(a, embed("hello world", DEFAULT_DIMENSIONS));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        let cosine = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        let shared = embed("Goodbye, world", DEFAULT_DIMENSIONS);
        let apart = embed("tax deadlines", DEFAULT_DIMENSIONS);
        assert!(cosine(&a, &shared) > 0.35, "{}", cosine(&a, &shared));
        assert!(cosine(&a, &apart).abs() < 0.3, "{}", cosine(&a, &apart));
    }

    #[test]
    fn fnv1a_matches_the_reference() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
