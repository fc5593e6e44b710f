//! What a sentence-transformers directory's metadata (`modules.json`, the
//! pooling module's `config.json`, `sentence_bert_config.json`) says to do
//! around the encoder, so the vectors match what the Python library gives
//! for the same model. A plain Hugging Face BERT directory without that
//! metadata gets mean pooling and no normalisation.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::EmbedError;
use crate::files;
use crate::pooling::{Pooling, PoolingConfig};

/// Where the encoder's files are and what follows it.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The directory with `config.json`, `tokenizer.json` and
    /// `model.safetensors` (the `Transformer` module's path).
    pub(crate) encoder_dir: PathBuf,
    /// The pooling module's `config.json`, when there is one.
    pooling_config: Option<PathBuf>,
    /// Whether a `Normalize` module follows pooling.
    pub(crate) normalize: bool,
}

/// One entry of `modules.json`.
#[derive(Deserialize)]
struct Module {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The part of `sentence_bert_config.json` this crate uses.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

impl Pipeline {
    /// Reads `dir/modules.json` when present; without it the encoder is
    /// `dir` itself and pooling comes from `dir/1_Pooling/config.json` if
    /// that exists.
    pub(crate) fn read(dir: &Path) -> Result<Self, EmbedError> {
        let modules_path = dir.join("modules.json");
        let Some(modules) = files::optional_json::<Vec<Module>>(&modules_path)? else {
            let pooling = dir.join("1_Pooling").join("config.json");
            return Ok(Self {
                encoder_dir: dir.to_owned(),
                pooling_config: pooling.exists().then_some(pooling),
                normalize: false,
            });
        };
        let mut encoder_dir = None;
        let mut pooling_config = None;
        let mut normalize = false;
        for module in &modules {
            // "sentence_transformers.models.Pooling" → "Pooling".
            match module.kind.rsplit('.').next().unwrap_or_default() {
                "Transformer" if encoder_dir.is_none() => {
                    encoder_dir = Some(dir.join(&module.path))
                }
                "Pooling" if pooling_config.is_none() => {
                    pooling_config = Some(dir.join(&module.path).join("config.json"))
                }
                "Normalize" => normalize = true,
                _ => {
                    return Err(EmbedError::UnsupportedPipeline {
                        path: modules_path,
                        found: format!("module {} ({})", module.kind, module.path),
                    });
                }
            }
        }
        let Some(encoder_dir) = encoder_dir else {
            return Err(EmbedError::UnsupportedPipeline {
                path: modules_path,
                found: "a pipeline without a Transformer module".to_owned(),
            });
        };
        if pooling_config.is_none() {
            return Err(EmbedError::UnsupportedPipeline {
                path: modules_path,
                found: "a pipeline without a Pooling module (token embeddings)".to_owned(),
            });
        }
        Ok(Self {
            encoder_dir,
            pooling_config,
            normalize,
        })
    }

    /// The pooling to apply to an encoder of `hidden` dimensions.
    pub(crate) fn pooling(&self, hidden: usize) -> Result<Pooling, EmbedError> {
        match &self.pooling_config {
            None => Ok(Pooling::Mean),
            Some(path) => Pooling::from_config(path, &files::json::<PoolingConfig>(path)?, hidden),
        }
    }

    /// The sequence limit sentence-transformers uses for this model
    /// (`sentence_bert_config.json`'s `max_seq_length`), if it sets one.
    pub(crate) fn max_seq_length(&self) -> Result<Option<usize>, EmbedError> {
        let path = self.encoder_dir.join("sentence_bert_config.json");
        Ok(files::optional_json::<SentenceBertConfig>(&path)?.and_then(|c| c.max_seq_length))
    }
}
