//! Directories that are not a loadable model: each refusal names the file
//! and says what is wrong with it.

use baton_embed::{EmbedError, LocalEmbedder};
use serde_json::json;

use crate::common::{tiny_config, write_json, write_tiny_model};

fn load_error(dir: &std::path::Path) -> EmbedError {
    match LocalEmbedder::load(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn a_missing_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nowhere");
    let err = load_error(&dir);
    assert!(
        matches!(&err, EmbedError::MissingFile { path } if *path == dir),
        "{err:?}"
    );
}

#[test]
fn an_empty_directory_names_the_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_error(tmp.path());
    let message = err.to_string();
    assert!(
        matches!(&err, EmbedError::MissingFile { path } if path.ends_with("config.json")),
        "{err:?}"
    );
    assert!(message.contains("config.json: missing"), "{message}");
}

#[test]
fn a_directory_without_weights_or_tokenizer_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    std::fs::remove_file(tmp.path().join("model.safetensors")).unwrap();
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::MissingFile { path } if path.ends_with("model.safetensors")),
        "{err:?}"
    );

    write_tiny_model(tmp.path());
    std::fs::remove_file(tmp.path().join("tokenizer.json")).unwrap();
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::MissingFile { path } if path.ends_with("tokenizer.json")),
        "{err:?}"
    );
}

#[test]
fn an_onnx_only_directory_says_onnx_is_not_supported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("model.onnx"), b"not really onnx").unwrap();
    let err = load_error(tmp.path());
    let message = err.to_string();
    assert!(
        matches!(err, EmbedError::OnnxNotSupported { .. }),
        "{err:?}"
    );
    assert!(
        message.contains("ONNX models are not supported"),
        "{message}"
    );
    assert!(message.contains("model.safetensors"), "{message}");
}

#[test]
fn a_malformed_config_json_is_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    std::fs::write(
        tmp.path().join("config.json"),
        b"{\"model_type\": \"bert\",",
    )
    .unwrap();
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::MalformedConfig { path, .. } if path.ends_with("config.json")),
        "{err:?}"
    );
    assert!(err.to_string().contains("config.json: malformed"), "{err}");

    let mut config = tiny_config();
    config.as_object_mut().unwrap().remove("hidden_size");
    write_json(&tmp.path().join("config.json"), &config);
    let err = load_error(tmp.path()).to_string();
    assert!(err.contains("hidden_size"), "{err}");
}

#[test]
fn a_gpt2_config_is_an_unsupported_architecture_naming_gpt2() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    write_json(
        &tmp.path().join("config.json"),
        &json!({"model_type": "gpt2", "n_embd": 768, "n_layer": 12}),
    );
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::UnsupportedArchitecture { found, .. } if found == "gpt2"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"gpt2\""), "{err}");
}

#[test]
fn truncated_safetensors_are_bad_weights() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    let weights = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::BadWeights { path, .. } if *path == weights),
        "{err:?}"
    );
}

#[test]
fn weights_without_a_tensor_name_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    let weights = tmp.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    tensors
        .remove("encoder.layer.1.output.dense.weight")
        .unwrap();
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let err = load_error(tmp.path());
    assert!(
        matches!(&err, EmbedError::MissingTensor { tensor, .. }
            if tensor == "encoder.layer.1.output.dense.weight"),
        "{err:?}"
    );
}

#[test]
fn a_pipeline_with_a_dense_module_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    write_json(
        &tmp.path().join("modules.json"),
        &json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        ]),
    );
    let err = load_error(tmp.path());
    assert!(
        matches!(err, EmbedError::UnsupportedPipeline { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("models.Dense"), "{err}");
}
