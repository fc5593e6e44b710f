//! What can go wrong loading a model directory or embedding with it. Every
//! message names the file (and where it applies the field or tensor) so a user
//! pointing baton at the wrong directory sees what to fix without a debugger.

use std::path::PathBuf;

use crate::{MAX_BYTES_PER_CALL, MAX_TEXTS_PER_CALL};

/// Why [`LocalEmbedder::load`](crate::LocalEmbedder::load) or
/// [`LocalEmbedder::embed`](crate::LocalEmbedder::embed) failed.
#[derive(thiserror::Error, Debug)]
pub enum EmbedError {
    /// A file (or the directory itself) the model needs is not there.
    #[error(
        "{}: missing; a local embedding model directory needs config.json, tokenizer.json and model.safetensors",
        path.display()
    )]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
    },

    /// The directory holds an ONNX export but no safetensors weights. ONNX
    /// Runtime downloads a native library when it is built, which baton's
    /// offline build cannot do, so only safetensors is read.
    #[error(
        "{}: ONNX models are not supported (baton reads safetensors weights only); put the model's model.safetensors in {} (sentence-transformers repositories ship one) or convert the weights to safetensors",
        onnx.display(),
        dir.display()
    )]
    OnnxNotSupported {
        /// The ONNX file that was found.
        onnx: PathBuf,
        /// The directory where `model.safetensors` was expected.
        dir: PathBuf,
    },

    /// A file exists but could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// A JSON configuration file is not what its format requires.
    #[error("{}: malformed: {reason}", path.display())]
    MalformedConfig {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `config.json` names a model family this crate has no encoder for.
    #[error(
        "{}: model_type {found:?} is not supported; only BERT-family encoders (model_type \"bert\") are",
        path.display()
    )]
    UnsupportedArchitecture {
        /// The `config.json` read.
        path: PathBuf,
        /// The `model_type` it declares.
        found: String,
    },

    /// The sentence-transformers pipeline asks for something beyond
    /// transformer → mean/CLS pooling → optional normalisation, which this
    /// crate would otherwise silently compute differently.
    #[error("{}: {found} is not supported; only mean or CLS pooling, optionally normalised", path.display())]
    UnsupportedPipeline {
        /// The `modules.json` or pooling `config.json` read.
        path: PathBuf,
        /// The module or pooling mode found.
        found: String,
    },

    /// `tokenizer.json` could not be loaded or configured.
    #[error("{}: {reason}", path.display())]
    Tokenizer {
        /// The `tokenizer.json` read.
        path: PathBuf,
        /// The tokenizer library's reason.
        reason: String,
    },

    /// The weights lack a tensor the encoder needs.
    #[error(
        "{}: no tensor named {tensor:?}; is this a BERT encoder checkpoint?",
        path.display()
    )]
    MissingTensor {
        /// The `model.safetensors` read.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
    },

    /// The weights file is damaged or does not match `config.json`
    /// (truncated, bad header, a tensor of the wrong shape).
    #[error("{}: bad weights: {reason}", path.display())]
    BadWeights {
        /// The `model.safetensors` read.
        path: PathBuf,
        /// What is wrong with them.
        reason: String,
    },

    /// More texts than one call accepts; the caller should split the work.
    #[error("{count} texts in one call; at most {MAX_TEXTS_PER_CALL} are accepted")]
    TooManyTexts {
        /// How many texts were passed.
        count: usize,
    },

    /// More text than one call accepts; the caller should split the work.
    #[error("{bytes} bytes of text in one call; at most {MAX_BYTES_PER_CALL} are accepted")]
    TooMuchInput {
        /// The total length of the texts passed, in bytes.
        bytes: usize,
    },

    /// The tokenizer rejected one of the texts.
    #[error("tokenizing text {index}: {reason}")]
    Tokenize {
        /// The position of the text in the call.
        index: usize,
        /// The tokenizer library's reason.
        reason: String,
    },

    /// The encoder's forward pass failed (a bug or an inconsistent model,
    /// since shapes are checked at load).
    #[error("running the encoder: {0}")]
    Inference(String),
}
