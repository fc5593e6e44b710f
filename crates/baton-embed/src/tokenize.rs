//! Text to token ids with the model's own `tokenizer.json`, truncated to the
//! model's sequence limit. Padding is left to the batching in
//! [`LocalEmbedder::embed`](crate::LocalEmbedder::embed), which pads each
//! batch only to its longest text.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use crate::error::EmbedError;
use crate::files;

/// A model's tokenizer, set to truncate at its sequence limit.
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
}

impl TextTokenizer {
    /// Loads `path` and makes every encoding at most `max_tokens` long,
    /// special tokens included. The file's own truncation and padding (often
    /// a fixed 128) are replaced: sentence-transformers overrides them too.
    pub(crate) fn load(path: &Path, max_tokens: usize) -> Result<Self, EmbedError> {
        let failed = |reason: String| EmbedError::Tokenizer {
            path: path.to_owned(),
            reason,
        };
        let mut inner =
            Tokenizer::from_bytes(files::read(path)?).map_err(|e| failed(e.to_string()))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| failed(e.to_string()))?;
        inner.with_padding(None);
        Ok(Self { inner })
    }

    /// The ids of `text` (the `index`-th of a call, for the error), with the
    /// model's special tokens (`[CLS]` … `[SEP]` for BERT).
    pub(crate) fn ids(&self, index: usize, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenize {
                index,
                reason: e.to_string(),
            })?;
        if encoding.get_ids().is_empty() {
            // Only a tokenizer.json without BERT's post-processor does this.
            return Err(EmbedError::Tokenize {
                index,
                reason: "no tokens (the tokenizer adds no [CLS]/[SEP])".to_owned(),
            });
        }
        Ok(encoding.get_ids().to_vec())
    }
}
