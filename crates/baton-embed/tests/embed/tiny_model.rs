//! Batching, truncation, the pipeline files and the per-call limits on a
//! tiny random BERT: none of it needs a good model, only a real one.

use std::sync::Arc;

use baton_embed::{EmbedError, LocalEmbedder, MAX_BYTES_PER_CALL, MAX_TEXTS_PER_CALL};
use serde_json::json;

use crate::common::{
    TINY_HIDDEN, TINY_POSITIONS, TINY_WORDS, max_abs_diff, write_sentence_transformers_files,
    write_tiny_model,
};

fn tiny() -> (tempfile::TempDir, LocalEmbedder) {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    let embedder = LocalEmbedder::load(tmp.path()).unwrap();
    (tmp, embedder)
}

/// `n` words from the tiny vocabulary, cycling.
fn words(n: usize) -> String {
    TINY_WORDS
        .iter()
        .cycle()
        .take(n)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_plain_bert_directory_gets_mean_pooling_and_its_position_limit() {
    let (tmp, embedder) = tiny();
    assert_eq!(embedder.dimensions(), TINY_HIDDEN);
    assert_eq!(embedder.max_tokens(), TINY_POSITIONS);
    assert!(!embedder.normalizes());
    let dir_name = tmp.path().file_name().unwrap().to_str().unwrap();
    assert_eq!(embedder.name(), dir_name);
    let fingerprint = embedder.fingerprint();
    assert_eq!(fingerprint.len(), 12);
    assert!(
        fingerprint.chars().all(|c| c.is_ascii_hexdigit()),
        "{fingerprint}"
    );
    let shown = format!("{embedder:?}");
    assert!(
        shown.contains("dimensions: 8") && shown.contains("Mean"),
        "{shown}"
    );
    let vectors = embedder.embed(&["the cat sat", ""]).unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(vectors.iter().all(|v| v.len() == TINY_HIDDEN));
    assert!(vectors.iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn no_texts_give_no_vectors() {
    let (_tmp, embedder) = tiny();
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_batch_gives_what_one_text_at_a_time_gives() {
    let (_tmp, embedder) = tiny();
    // Lengths that differ, and more than one batch, so padding and the
    // reordering by length are both exercised.
    let owned: Vec<String> = (0..70).map(|i| words(1 + i % 13)).collect();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let batched = embedder.embed(&texts).unwrap();
    for (text, vector) in texts.iter().zip(&batched) {
        let single = embedder.embed(&[text]).unwrap().remove(0);
        let diff = max_abs_diff(vector, &single);
        assert!(diff < 1e-5, "{text:?}: batched and single differ by {diff}");
    }
}

#[test]
fn input_longer_than_max_tokens_is_truncated_not_refused() {
    let (_tmp, embedder) = tiny();
    let long = words(500);
    let longer = format!("{long} dog ran far");
    let vectors = embedder.embed(&[&long, &longer]).unwrap();
    // Both are cut to the same first tokens, so they embed alike.
    assert!(max_abs_diff(&vectors[0], &vectors[1]) < 1e-6);
    let short = embedder.embed(&[&words(5)]).unwrap().remove(0);
    assert!(max_abs_diff(&vectors[0], &short) > 1e-4);
}

#[test]
fn sentence_transformers_files_choose_pooling_normalisation_and_length() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(tmp.path());
    let text = "the cat sat on the mat";
    let plain = LocalEmbedder::load(tmp.path()).unwrap();
    let mean = plain.embed(&[text]).unwrap().remove(0);

    write_sentence_transformers_files(
        tmp.path(),
        json!({"pooling_mode_mean_tokens": true}),
        true,
        TINY_POSITIONS,
    );
    let normalized = LocalEmbedder::load(tmp.path()).unwrap();
    assert!(normalized.normalizes());
    let unit = normalized.embed(&[text]).unwrap().remove(0);
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    let scaled: Vec<f32> = mean.iter().map(|x| x / norm).collect();
    assert!(max_abs_diff(&unit, &scaled) < 1e-5);

    write_sentence_transformers_files(
        tmp.path(),
        json!({"pooling_mode_mean_tokens": false, "pooling_mode_cls_token": true}),
        false,
        4,
    );
    let cls = LocalEmbedder::load(tmp.path()).unwrap();
    assert_eq!(cls.max_tokens(), 4);
    let first = cls.embed(&[text]).unwrap().remove(0);
    assert!(max_abs_diff(&first, &mean) > 1e-4);
    // Four tokens, [CLS] the cat [SEP]: whatever follows "cat" is cut.
    let same = cls.embed(&["the cat dog ran far"]).unwrap().remove(0);
    assert!(max_abs_diff(&first, &same) < 1e-6);
    let other = cls.embed(&["the dog"]).unwrap().remove(0);
    assert!(max_abs_diff(&first, &other) > 1e-4);
}

#[test]
fn too_many_texts_or_too_much_text_in_one_call_are_refused() {
    let (_tmp, embedder) = tiny();
    let many = vec!["the cat"; MAX_TEXTS_PER_CALL + 1];
    let err = embedder.embed(&many).unwrap_err();
    assert!(
        matches!(err, EmbedError::TooManyTexts { count } if count == MAX_TEXTS_PER_CALL + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains(&MAX_TEXTS_PER_CALL.to_string()));

    let huge = "cat ".repeat(MAX_BYTES_PER_CALL / 4 + 1);
    let err = embedder.embed(&[&huge]).unwrap_err();
    assert!(matches!(err, EmbedError::TooMuchInput { .. }), "{err:?}");
    assert!(embedder.embed(&vec!["the cat"; MAX_TEXTS_PER_CALL]).is_ok());
}

#[test]
fn one_embedder_is_shared_across_threads() {
    let (_tmp, embedder) = tiny();
    let embedder = Arc::new(embedder);
    let expected = embedder.embed(&["the dog ran far"]).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let embedder = Arc::clone(&embedder);
            std::thread::spawn(move || embedder.embed(&["the dog ran far"]).unwrap())
        })
        .collect();
    for thread in threads {
        assert!(max_abs_diff(&thread.join().unwrap()[0], &expected[0]) < 1e-6);
    }
}
