//! Turning an encoder's per-token states into one sentence vector, the way
//! sentence-transformers' `Pooling` and `Normalize` modules do, so vectors
//! computed here can be compared with ones the Python library computed.

use std::path::Path;

use serde::Deserialize;

use crate::error::EmbedError;

/// How token states become one vector, read from the pooling module's
/// `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    /// The average of the states of the real (unmasked) tokens.
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
}

/// The fields of sentence-transformers' `1_Pooling/config.json`; modes this
/// crate does not compute are read so that a model asking for them is
/// refused rather than embedded differently.
#[derive(Deserialize)]
pub(crate) struct PoolingConfig {
    word_embedding_dimension: usize,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl Pooling {
    /// The pooling a pooling `config.json` (read from `path`) asks for,
    /// checked against the encoder's hidden size.
    pub(crate) fn from_config(
        path: &Path,
        config: &PoolingConfig,
        hidden: usize,
    ) -> Result<Self, EmbedError> {
        if config.word_embedding_dimension != hidden {
            return Err(EmbedError::MalformedConfig {
                path: path.to_owned(),
                reason: format!(
                    "word_embedding_dimension is {} but the encoder's hidden_size is {hidden}",
                    config.word_embedding_dimension
                ),
            });
        }
        let unsupported = [
            ("pooling_mode_max_tokens", config.pooling_mode_max_tokens),
            (
                "pooling_mode_mean_sqrt_len_tokens",
                config.pooling_mode_mean_sqrt_len_tokens,
            ),
            (
                "pooling_mode_weightedmean_tokens",
                config.pooling_mode_weightedmean_tokens,
            ),
            ("pooling_mode_lasttoken", config.pooling_mode_lasttoken),
        ];
        if let Some((mode, _)) = unsupported.iter().find(|(_, on)| *on) {
            return Err(EmbedError::UnsupportedPipeline {
                path: path.to_owned(),
                found: (*mode).to_owned(),
            });
        }
        match (
            config.pooling_mode_mean_tokens,
            config.pooling_mode_cls_token,
        ) {
            (true, false) => Ok(Self::Mean),
            (false, true) => Ok(Self::Cls),
            (true, true) => Err(EmbedError::UnsupportedPipeline {
                path: path.to_owned(),
                found: "mean and CLS pooling concatenated".to_owned(),
            }),
            (false, false) => Err(EmbedError::MalformedConfig {
                path: path.to_owned(),
                reason: "no pooling mode is enabled".to_owned(),
            }),
        }
    }

    /// Pools one text's token states: `states` is `mask.len()` rows of `dim`
    /// values, row-major; `mask` is 1 for real tokens and 0 for padding.
    pub(crate) fn pool(self, states: &[f32], mask: &[u32], dim: usize) -> Vec<f32> {
        debug_assert_eq!(states.len(), mask.len() * dim);
        match self {
            Self::Cls => states[..dim].to_vec(),
            Self::Mean => {
                let mut sum = vec![0.0f32; dim];
                let mut count = 0.0f32;
                for (row, &m) in states.chunks_exact(dim).zip(mask) {
                    if m != 0 {
                        count += 1.0;
                        for (s, x) in sum.iter_mut().zip(row) {
                            *s += x;
                        }
                    }
                }
                // sentence-transformers clamps the token count the same way,
                // so an all-padding row gives zeros rather than NaN.
                let count = count.max(1e-9);
                sum.iter_mut().for_each(|s| *s /= count);
                sum
            }
        }
    }
}

/// Scales `v` to unit Euclidean length, as `torch.nn.functional.normalize`
/// does (the norm is clamped to 1e-12, so a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Result<Pooling, EmbedError> {
        let config: PoolingConfig = serde_json::from_str(json).unwrap();
        Pooling::from_config(Path::new("1_Pooling/config.json"), &config, 4)
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        let states = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(Pooling::Mean.pool(&states, &[1, 1, 0], 2), vec![2.0, 3.0]);
    }

    #[test]
    fn mean_pooling_of_all_padding_is_zero_not_nan() {
        assert_eq!(Pooling::Mean.pool(&[5.0, 6.0], &[0], 2), vec![0.0, 0.0]);
    }

    #[test]
    fn cls_pooling_takes_the_first_token() {
        let states = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(Pooling::Cls.pool(&states, &[1, 1], 2), vec![1.0, 2.0]);
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = [0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }

    #[test]
    fn reads_mean_and_cls_configs() {
        let mean = r#"{"word_embedding_dimension": 4, "pooling_mode_mean_tokens": true}"#;
        assert_eq!(config(mean).unwrap(), Pooling::Mean);
        let cls = r#"{"word_embedding_dimension": 4, "pooling_mode_cls_token": true,
                      "pooling_mode_mean_tokens": false}"#;
        assert_eq!(config(cls).unwrap(), Pooling::Cls);
    }

    #[test]
    fn refuses_modes_it_does_not_compute() {
        let max = r#"{"word_embedding_dimension": 4, "pooling_mode_max_tokens": true}"#;
        let err = config(max).unwrap_err().to_string();
        assert!(err.contains("pooling_mode_max_tokens"), "{err}");
        let both = r#"{"word_embedding_dimension": 4, "pooling_mode_mean_tokens": true,
                       "pooling_mode_cls_token": true}"#;
        assert!(matches!(
            config(both),
            Err(EmbedError::UnsupportedPipeline { .. })
        ));
        let none = r#"{"word_embedding_dimension": 4}"#;
        assert!(matches!(
            config(none),
            Err(EmbedError::MalformedConfig { .. })
        ));
    }

    #[test]
    fn refuses_a_dimension_other_than_the_encoders() {
        let wrong = r#"{"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true}"#;
        let err = config(wrong).unwrap_err().to_string();
        assert!(err.contains("hidden_size is 4"), "{err}");
    }
}
