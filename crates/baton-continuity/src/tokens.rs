//! Token counting per model family, so a context budget means what the
//! model will count. OpenAI's families (GPT-3.5/4/4o/4.1/5, o-series,
//! gpt-oss) use their published encodings through `tiktoken-rs`: exact.
//! Families whose tokenizer is not published or not bundled (Claude,
//! Llama, Qwen, Mistral, Gemma, …) get an estimate from bytes at a ratio
//! below what those tokenizers average on English and code (about 3.5 to 4
//! bytes a token), so the estimate errs toward fitting; an agent run
//! calibrates its own ratio on what the provider reports.
//!
//! Text longer than [`SAMPLE_BYTES`] is measured exactly on its first
//! [`SAMPLE_BYTES`] and extrapolated: how much a whole 1 MB document would
//! take only decides how the budget is shared, and a document kept whole
//! with a tenth of its grant to spare needs no more. A document cut to its
//! grant is counted whole.

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

/// Bytes per token assumed when the family's tokenizer is unknown: fewer
/// than English's ~4, so the estimate errs toward fitting.
pub const DEFAULT_BYTES_PER_TOKEN: f64 = 3.0;

/// How much of a long text is counted exactly before extrapolating.
pub const SAMPLE_BYTES: usize = 16 * 1024;

/// How tokens are counted for one model family.
#[derive(Clone, Copy)]
pub enum TokenCounter {
    /// An OpenAI encoding, by name (`o200k_base`, `cl100k_base`, …).
    Exact {
        encoding: &'static str,
        bpe: &'static CoreBPE,
    },
    /// Bytes divided by a ratio.
    Estimate { bytes_per_token: f64 },
}

impl Default for TokenCounter {
    fn default() -> Self {
        TokenCounter::Estimate {
            bytes_per_token: DEFAULT_BYTES_PER_TOKEN,
        }
    }
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl TokenCounter {
    /// The counter for a model (`provider/model` or a bare name): exact for
    /// OpenAI's families, wherever they are served from; an estimate
    /// otherwise.
    pub fn for_model(model: &str) -> TokenCounter {
        let name = model.rsplit('/').next().unwrap_or(model);
        let (encoding, bpe): (&'static str, fn() -> &'static CoreBPE) = match get_tokenizer(name) {
            Some(Tokenizer::O200kBase) => ("o200k_base", tiktoken_rs::o200k_base_singleton),
            Some(Tokenizer::O200kHarmony) => {
                ("o200k_harmony", tiktoken_rs::o200k_harmony_singleton)
            }
            Some(Tokenizer::Cl100kBase) => ("cl100k_base", tiktoken_rs::cl100k_base_singleton),
            Some(Tokenizer::P50kBase | Tokenizer::P50kEdit) => {
                ("p50k_base", tiktoken_rs::p50k_base_singleton)
            }
            Some(Tokenizer::R50kBase | Tokenizer::Gpt2) => {
                ("r50k_base", tiktoken_rs::r50k_base_singleton)
            }
            None => return TokenCounter::default(),
        };
        TokenCounter::Exact {
            encoding,
            bpe: bpe(),
        }
    }

    /// An estimate at `bytes_per_token` (at least 1).
    pub fn estimate(bytes_per_token: f64) -> TokenCounter {
        let bytes_per_token = if bytes_per_token.is_finite() && bytes_per_token >= 1.0 {
            bytes_per_token
        } else {
            DEFAULT_BYTES_PER_TOKEN
        };
        TokenCounter::Estimate { bytes_per_token }
    }

    /// How this counter counts, for reports: `o200k_base` or
    /// `estimate: 3.0 bytes a token`.
    pub fn describe(&self) -> String {
        match self {
            TokenCounter::Exact { encoding, .. } => (*encoding).to_owned(),
            TokenCounter::Estimate { bytes_per_token } => {
                format!("estimate: {bytes_per_token:.1} bytes a token")
            }
        }
    }

    /// The tokens of `text`, counted whole.
    pub fn count(&self, text: &str) -> usize {
        match self {
            TokenCounter::Exact { bpe, .. } => bpe.encode_ordinary(text).len(),
            TokenCounter::Estimate { bytes_per_token } => {
                (text.len() as f64 / bytes_per_token).ceil() as usize
            }
        }
    }

    /// The tokens of `text`, counted exactly up to [`SAMPLE_BYTES`] and
    /// extrapolated beyond.
    pub fn measure(&self, text: &str) -> usize {
        if text.len() <= SAMPLE_BYTES || matches!(self, TokenCounter::Estimate { .. }) {
            return self.count(text);
        }
        let sample = baton_core::head(text, SAMPLE_BYTES);
        let sampled = self.count(sample).max(1);
        (sampled as f64 * text.len() as f64 / sample.len() as f64).ceil() as usize
    }

    /// Bytes a token in `text` (from its sample), for cutting it to size.
    pub fn bytes_per_token(&self, text: &str) -> f64 {
        match self {
            TokenCounter::Estimate { bytes_per_token } => *bytes_per_token,
            TokenCounter::Exact { .. } => {
                text.len().max(1) as f64 / self.measure(text).max(1) as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_families_are_counted_exactly_and_others_estimated() {
        let gpt4o = TokenCounter::for_model("openai/gpt-4o-mini");
        assert_eq!(gpt4o.describe(), "o200k_base");
        assert_eq!(gpt4o.count("hello world"), 2);
        assert_eq!(
            TokenCounter::for_model("gpt-4-0613").describe(),
            "cl100k_base"
        );
        assert_eq!(
            TokenCounter::for_model("azure/gpt-5").describe(),
            "o200k_base"
        );
        let claude = TokenCounter::for_model("anthropic/claude-sonnet-4-5");
        assert_eq!(claude.describe(), "estimate: 3.0 bytes a token");
        assert_eq!(claude.count("123456"), 2);
        assert_eq!(
            TokenCounter::estimate(f64::NAN).describe(),
            "estimate: 3.0 bytes a token"
        );
    }

    #[test]
    fn long_text_is_sampled_then_extrapolated() {
        let counter = TokenCounter::for_model("gpt-4o");
        let text = "The parser lives in src/parse.rs and handles escapes.\n".repeat(5_000);
        let exact = counter.count(&text);
        let measured = counter.measure(&text);
        assert!(
            measured.abs_diff(exact) * 100 <= exact,
            "{measured} vs {exact}"
        );
        let ratio = counter.bytes_per_token(&text);
        assert!((3.0..8.0).contains(&ratio), "{ratio}");
    }
}
