//! The BERT encoder: `config.json` checked and read, the safetensors weights
//! loaded onto the CPU as f32, and the forward pass over a padded batch.
//! candle-transformers' BERT does the arithmetic; this module turns its
//! errors into ones that name the file and tensor.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use crate::error::EmbedError;
use crate::files;

/// The `model_type` this crate has an encoder for.
const SUPPORTED_MODEL_TYPE: &str = "bert";

/// Where an exported ONNX model sits in a Hugging Face repository, relative
/// to the model directory; looked at only to explain why it is not used.
const ONNX_FILES: [&str; 2] = ["model.onnx", "onnx/model.onnx"];

/// A loaded BERT encoder.
pub(crate) struct Encoder {
    model: BertModel,
    config: Config,
    /// `config.json`'s `_name_or_path`, which names the model when the
    /// directory's own name does not.
    pub(crate) name_or_path: Option<String>,
}

impl Encoder {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    pub(crate) fn load(dir: &Path) -> Result<Self, EmbedError> {
        let weights = dir.join("model.safetensors");
        if !weights.exists()
            && let Some(onnx) = ONNX_FILES.iter().map(|f| dir.join(f)).find(|p| p.exists())
        {
            return Err(EmbedError::OnnxNotSupported {
                onnx,
                dir: dir.to_owned(),
            });
        }
        let (config, name_or_path) = read_config(&dir.join("config.json"))?;
        // Read whole rather than memory-mapped (no unsafe); the file's bytes
        // are freed once the tensors are built from them. A tensor-map
        // backend, unlike candle's buffered one, reports a missing tensor by
        // name.
        let tensors = candle_core::safetensors::load_buffer(&files::read(&weights)?, &Device::Cpu)
            .map_err(|e| weights_error(&weights, &e))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| weights_error(&weights, &e))?;
        Ok(Self {
            model,
            config,
            name_or_path,
        })
    }

    /// The width of the encoder's token states.
    pub(crate) fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// The longest sequence the position embeddings cover.
    pub(crate) fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// The token id padding positions get: the model's own `[PAD]`, which is
    /// sure to be inside its vocabulary (the attention mask hides it).
    pub(crate) fn pad_id(&self) -> u32 {
        u32::try_from(self.config.pad_token_id).unwrap_or(0)
    }

    /// Runs the encoder on `batch` sequences of `seq` tokens (`ids` and
    /// `mask` row-major, `mask` 1 for real tokens) and returns the last
    /// layer's states, `batch × seq × hidden_size` row-major.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        mask: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<Vec<f32>, EmbedError> {
        let run = || -> candle_core::Result<Vec<f32>> {
            let ids = Tensor::from_slice(ids, (batch, seq), &Device::Cpu)?;
            let mask = Tensor::from_slice(mask, (batch, seq), &Device::Cpu)?;
            let token_types = ids.zeros_like()?;
            let states = self.model.forward(&ids, &token_types, Some(&mask))?;
            states.flatten_all()?.to_vec1::<f32>()
        };
        run().map_err(|e| EmbedError::Inference(innermost(&e).to_string()))
    }
}

/// Reads `config.json`, refusing any model family but BERT before its fields
/// are looked at, so a GPT-2 directory says "gpt2" rather than "missing
/// field".
fn read_config(path: &Path) -> Result<(Config, Option<String>), EmbedError> {
    let raw: serde_json::Value = files::json(path)?;
    let malformed = |reason: String| EmbedError::MalformedConfig {
        path: path.to_owned(),
        reason,
    };
    match raw.get("model_type").and_then(serde_json::Value::as_str) {
        Some(SUPPORTED_MODEL_TYPE) => {}
        Some(other) => {
            return Err(EmbedError::UnsupportedArchitecture {
                path: path.to_owned(),
                found: other.to_owned(),
            });
        }
        None => {
            return Err(malformed(format!(
                "no model_type string (a BERT encoder's says {SUPPORTED_MODEL_TYPE:?})"
            )));
        }
    }
    let name_or_path = raw
        .get("_name_or_path")
        .and_then(serde_json::Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let config: Config = serde_json::from_value(raw).map_err(|e| malformed(e.to_string()))?;
    // `is_multiple_of(0)` is false for a positive size, so no heads fails too.
    if config.hidden_size == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(malformed(format!(
            "hidden_size {} is not a positive multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        )));
    }
    Ok((config, name_or_path))
}

/// A candle error from reading the weights, as the error that names the
/// missing tensor when that is what it is.
fn weights_error(path: &Path, err: &candle_core::Error) -> EmbedError {
    match innermost(err) {
        candle_core::Error::CannotFindTensor { path: tensor } => EmbedError::MissingTensor {
            path: path.to_owned(),
            tensor: tensor.clone(),
        },
        other => EmbedError::BadWeights {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// The error under candle's backtrace, context and path wrappers, whose
/// message is the one that says what happened.
fn innermost(err: &candle_core::Error) -> &candle_core::Error {
    match err {
        candle_core::Error::WithBacktrace { inner, .. }
        | candle_core::Error::Context { inner, .. }
        | candle_core::Error::WithPath { inner, .. } => innermost(inner),
        other => other,
    }
}
