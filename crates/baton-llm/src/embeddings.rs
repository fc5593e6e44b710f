//! Embeddings over the OpenAI-compatible `POST /embeddings`, which OpenAI,
//! Ollama (`/v1`), vLLM, llama.cpp and LM Studio all serve: the memory
//! manager's vectors when a provider, not a local model, makes them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::error::UpstreamError;
use crate::http::Http;

/// The most texts one embeddings call may carry; callers batch beyond it.
/// OpenAI's own limit is 2,048 inputs per request.
pub const MAX_EMBEDDING_INPUTS: usize = 256;

/// Vectors for a list of texts, in the order they were given.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One vector per input, all of the same length.
    pub vectors: Vec<Vec<f32>>,
    /// The model as the upstream named it in its answer.
    pub model: String,
    /// Input tokens the upstream counted, when it said.
    pub prompt_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

/// Asks `url` (a full `…/embeddings` URL) for the vectors of `inputs`.
pub(crate) async fn embed(
    http: &Http,
    url: String,
    model: &str,
    inputs: &[String],
    timeout: Duration,
) -> Result<Embeddings, UpstreamError> {
    let body = json!({"model": model, "input": inputs, "encoding_format": "float"});
    let response = http.post_json(url, &body, Some(timeout)).await?;
    let answer: Answer = http.json(response).await?;
    into_embeddings(answer, model, inputs.len())
}

/// Puts the items in input order and checks that there is exactly one
/// finite vector per input, all of one length.
fn into_embeddings(
    answer: Answer,
    model: &str,
    expected: usize,
) -> Result<Embeddings, UpstreamError> {
    let bad = |what: String| UpstreamError::Protocol(format!("embeddings answer: {what}"));
    if answer.data.len() != expected {
        return Err(bad(format!(
            "{} vectors for {expected} inputs",
            answer.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for item in answer.data {
        let slot = slots
            .get_mut(item.index)
            .ok_or_else(|| bad(format!("index {} out of range", item.index)))?;
        if slot.replace(item.embedding).is_some() {
            return Err(bad(format!("index {} given twice", item.index)));
        }
    }
    let vectors: Vec<Vec<f32>> = slots.into_iter().map(Option::unwrap_or_default).collect();
    let dimensions = vectors.first().map_or(0, Vec::len);
    if dimensions == 0 {
        return Err(bad("empty vectors".to_owned()));
    }
    if let Some(odd) = vectors.iter().position(|v| v.len() != dimensions) {
        return Err(bad(format!(
            "vector {odd} has {} dimensions, the first has {dimensions}",
            vectors[odd].len()
        )));
    }
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(bad("a vector holds a non-finite number".to_owned()));
    }
    Ok(Embeddings {
        vectors,
        model: answer.model.unwrap_or_else(|| model.to_owned()),
        prompt_tokens: answer.usage.and_then(|u| u.prompt_tokens),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(items: &[(usize, Vec<f32>)]) -> Answer {
        Answer {
            data: items
                .iter()
                .map(|(index, embedding)| Item {
                    index: *index,
                    embedding: embedding.clone(),
                })
                .collect(),
            model: None,
            usage: None,
        }
    }

    #[test]
    fn vectors_come_back_in_input_order() {
        let got =
            into_embeddings(answer(&[(1, vec![0.0, 1.0]), (0, vec![1.0, 0.0])]), "m", 2).unwrap();
        assert_eq!(got.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!(got.model, "m");
    }

    #[test]
    fn malformed_answers_are_refused() {
        for (items, expected, wanted) in [
            (vec![(0, vec![1.0])], 2, "1 vectors for 2 inputs"),
            (vec![(0, vec![1.0]), (0, vec![1.0])], 2, "given twice"),
            (vec![(0, vec![1.0]), (5, vec![1.0])], 2, "out of range"),
            (vec![(0, vec![1.0]), (1, vec![1.0, 2.0])], 2, "dimensions"),
            (vec![(0, vec![])], 1, "empty"),
            (vec![(0, vec![f32::NAN])], 1, "non-finite"),
        ] {
            let error = into_embeddings(answer(&items), "m", expected).unwrap_err();
            assert!(error.to_string().contains(wanted), "{error}");
        }
    }
}
