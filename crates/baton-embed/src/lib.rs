//! baton's local sentence-embedding model, so memory works offline: a
//! BERT-family encoder (such as sentence-transformers' all-MiniLM-L6-v2)
//! loaded from a directory and run on the CPU in f32 with `candle`.
//!
//! The directory holds what a sentence-transformers or Hugging Face
//! repository ships: `config.json` (`model_type` must be `"bert"`),
//! `tokenizer.json`, `model.safetensors`, and optionally `modules.json`,
//! `1_Pooling/config.json` and `sentence_bert_config.json`, which choose the
//! pooling (mean or `[CLS]`), normalisation and sequence limit exactly as
//! sentence-transformers does, so vectors agree with the Python library's.
//!
//! Only safetensors weights are read. ONNX models are not supported: ONNX
//! Runtime (`ort`) fetches a native library while building, which baton's
//! offline build cannot do; a directory holding only `model.onnx` is refused
//! with an error saying to supply `model.safetensors` instead.
//!
//! [`LocalEmbedder`] is `Send + Sync` and immutable once loaded: load it
//! once, share it behind an `Arc`, and call
//! [`embed`](LocalEmbedder::embed) from a blocking thread.
//!
//! candle runs the matrix products on its own process-wide worker threads,
//! one per physical core unless `CANDLE_NUM_THREADS` (or
//! `RAYON_NUM_THREADS`) says otherwise. Its workers spin while they wait, so
//! on a small machine busy with other work one thread can be faster than
//! several.

mod embedder;
mod encoder;
mod error;
mod files;
mod pipeline;
mod pooling;
mod tokenize;

pub use embedder::LocalEmbedder;
pub use error::EmbedError;

/// The most texts one [`LocalEmbedder::embed`] call accepts, so one caller
/// cannot hold the CPU for minutes; larger jobs are split by the caller.
pub const MAX_TEXTS_PER_CALL: usize = 1024;

/// The most bytes of text (summed over the texts) one
/// [`LocalEmbedder::embed`] call accepts. Tokenizing reads all of a text
/// before truncation, so this bounds the work even for texts far beyond
/// [`LocalEmbedder::max_tokens`].
pub const MAX_BYTES_PER_CALL: usize = 4 * 1024 * 1024;

/// How many texts go through the encoder together: large enough for the
/// matrix products to use every core, small enough that padding to the
/// batch's longest text stays cheap.
pub const BATCH_SIZE: usize = 32;
