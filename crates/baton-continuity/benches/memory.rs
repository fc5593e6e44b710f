//! What memory costs: hybrid top-10 recall over 100,000 memories, the
//! vector part's recall@10 against exact search, and insert throughput.
//!
//! Memories are synthetic sentences of 8 to 15 words drawn (Zipf-like) from
//! a 5,000-word vocabulary whose most frequent words are English stopwords,
//! as in real text; their vectors are the scripted model server's
//! bag-of-words embeddings (384 dimensions, unit length: texts that share
//! words are close), so the index sees text-like structure. Queries are 3
//! to 6 words. The search runs the whole path: the query's vector from the
//! scripted server over HTTP, full text in the store, the in-process vector
//! index, fusion, and reading the hits back. The first search reads every
//! vector from the store into the index; it is reported apart.
//!
//! Usage: cargo bench -p baton-continuity --bench memory -- [MEMORIES] [QUERIES]
//! With BATON_BENCH_DATABASE_URL=postgres://… it runs on PostgreSQL
//! (a fresh database it may fill); SQLite in a temporary file otherwise.
//! Prints one JSON object.

use std::time::Instant;

use baton_config::{GatewayConfig, ProviderConfig, ProviderKind};
use baton_continuity::{Embedder, Memories, VectorIndex, exact_nearest, normalize};
use baton_core::log_chain::content_hash;
use baton_core::{DeviceId, Hlc};
use baton_llm::Gateway;
use baton_store::{MemoryVector, NewMemory, STOPWORDS, Store};
use baton_testkit::{DEFAULT_DIMENSIONS, ScriptedServer, embed};

const DEFAULT_MEMORIES: usize = 100_000;
const DEFAULT_QUERIES: usize = 1_000;
const VOCABULARY: usize = 5_000;
const BATCH: usize = 1_000;
const K: usize = 10;

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A word index, frequent words far more often (roughly Zipf).
    fn word(&mut self) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((VOCABULARY as f64).powf(u) as usize).saturating_sub(1)
    }

    fn sentence(&mut self, words: &[String], min: usize, max: usize) -> String {
        let n = min + self.below(max - min + 1);
        (0..n)
            .map(|_| words[self.word()].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let count = args.next().unwrap_or(DEFAULT_MEMORIES);
    let queries = args.next().unwrap_or(DEFAULT_QUERIES);

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let words: Vec<String> = (0..VOCABULARY)
        .map(|i| {
            if let Some(stopword) = STOPWORDS.get(i) {
                return (*stopword).to_owned();
            }
            let letters: String = (0..4 + i % 6)
                .map(|j| (b'a' + ((i * 7 + j * 13 + i / 26) % 26) as u8) as char)
                .collect();
            format!("{letters}{i}")
        })
        .collect();
    let texts: Vec<String> = (0..count).map(|_| rng.sentence(&words, 8, 15)).collect();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embed(t, DEFAULT_DIMENSIONS)).collect();

    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("BATON_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("baton.db").display()));
    let store = Store::connect(&url).await.expect("store");
    let workspace = dir.path().join("workspace");
    std::fs::create_dir(&workspace).expect("workspace");
    let key = baton_continuity::workspace_key(&workspace).expect("key");
    let device = DeviceId::parse("bench").expect("device");
    let clock = Hlc::new();
    let model = "scripted/embedder";

    // Insert throughput: batches of 1,000 in one transaction each.
    let ids: Vec<String> = (0..count).map(|i| format!("m{i:07}")).collect();
    let hashes: Vec<String> = texts.iter().map(|t| content_hash(t)).collect();
    let started = Instant::now();
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let batch: Vec<NewMemory<'_>> = (start..end)
            .map(|i| NewMemory {
                id: &ids[i],
                workspace: &key,
                source: "note",
                source_ref: None,
                content: &texts[i],
                hash: &hashes[i],
                embedding: Some(MemoryVector {
                    model,
                    values: &vectors[i],
                }),
                device_id: &device,
                hlc: clock.now(),
                created_ms: 0,
            })
            .collect();
        store.insert_memories(&batch).await.expect("insert");
    }
    let insert_secs = started.elapsed().as_secs_f64();

    // The search path, with query vectors from the scripted server.
    let server = ScriptedServer::start().await;
    let provider = ProviderConfig {
        name: "scripted".into(),
        kind: Some(ProviderKind::Openai),
        base_url: Some(server.openai_base()),
        enabled: true,
        ..ProviderConfig::default()
    };
    let config = GatewayConfig {
        detect_ollama: false,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(&[provider], &config, &|_: &str| None)
        .await
        .expect("gateway");
    let memories = Memories::new(
        store.clone(),
        Some(Embedder::Provider {
            gateway,
            model: model.to_owned(),
        }),
        device,
    );
    let query_texts: Vec<String> = (0..queries).map(|_| rng.sentence(&words, 3, 6)).collect();
    let started = Instant::now();
    memories
        .search(&workspace, &query_texts[0], K)
        .await
        .expect("first search");
    let build_secs = started.elapsed().as_secs_f64();

    let mut millis = Vec::with_capacity(queries);
    for query in &query_texts {
        let started = Instant::now();
        let recall = memories.search(&workspace, query, K).await.expect("search");
        millis.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(!recall.hits.is_empty(), "no hits for {query:?}");
    }
    millis.sort_by(f64::total_cmp);

    // Recall@10 of the approximate index against exact search, on an
    // index filled as the service fills its own.
    let query_vectors: Vec<Vec<f32>> = query_texts
        .iter()
        .map(|q| {
            let mut v = embed(q, DEFAULT_DIMENSIONS);
            normalize(&mut v);
            v
        })
        .collect();
    let exact: Vec<Vec<String>> = query_vectors
        .iter()
        .map(|q| {
            exact_nearest(
                q,
                ids.iter()
                    .map(String::as_str)
                    .zip(vectors.iter().map(Vec::as_slice)),
                K,
            )
            .into_iter()
            .map(|n| n.id)
            .collect()
        })
        .collect();
    let started = Instant::now();
    let mut index = VectorIndex::new(DEFAULT_DIMENSIONS, count);
    index.insert(
        ids.iter()
            .zip(&vectors)
            .enumerate()
            .map(|(i, (id, v))| (i as i64 + 1, id.clone(), v.clone()))
            .collect(),
    );
    let index_load = started.elapsed().as_secs_f64();
    let mut found = 0usize;
    let mut micros = Vec::with_capacity(queries);
    for (q, exact) in query_vectors.iter().zip(&exact) {
        let started = Instant::now();
        let approximate = index.search(q, K);
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        found += exact
            .iter()
            .filter(|e| approximate.iter().any(|a| &a.id == *e))
            .count();
    }
    micros.sort_by(f64::total_cmp);

    let report = serde_json::json!({
        "backend": store.backend().as_str(),
        "memories": count,
        "queries": queries,
        "dimensions": DEFAULT_DIMENSIONS,
        "insert_per_sec": (count as f64 / insert_secs).round(),
        "first_search_secs": (build_secs * 1000.0).round() / 1000.0,
        "hybrid_top10_ms": {
            "p50": (percentile(&millis, 0.5) * 1000.0).round() / 1000.0,
            "p99": (percentile(&millis, 0.99) * 1000.0).round() / 1000.0,
        },
        "vector_index": {
            "fill_secs": (index_load * 1000.0).round() / 1000.0,
            "top10_us": {"p50": percentile(&micros, 0.5).round(), "p99": percentile(&micros, 0.99).round()},
            "recall_at_10": (found as f64 / (queries * K) as f64 * 10_000.0).round() / 10_000.0,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
