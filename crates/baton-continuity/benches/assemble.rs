//! What context assembly costs a session start: `assemble` over a
//! workspace with about 1 MB of tier documents (a 250 KB portfolio and
//! project context, a 100 KB briefing, a 400 KB session log of 400
//! entries), at an 8,000-token budget and at a budget that takes it all,
//! counting tokens by the byte estimate and exactly (GPT-4o's o200k_base).
//! Prints one JSON object with the median and p99 in microseconds.
//!
//! Usage: cargo bench -p baton-continuity --bench assemble -- [ITERATIONS]

use std::hint::black_box;
use std::time::Instant;

use baton_continuity::{Entry, Tier, TokenCounter, assemble};

const DEFAULT_ITERATIONS: usize = 300;

fn lines(label: &str, bytes: usize) -> String {
    let line = format!("- {label}: a line of notes about decisions, constraints and reasons\n");
    line.repeat(bytes / line.len())
}

fn main() {
    let iterations = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |tier: Tier, text: String| {
        std::fs::write(dir.path().join(tier.file_name()), text).expect("write tier")
    };
    write(
        Tier::Portfolio,
        format!("# Portfolio Context\n{}", lines("portfolio", 250_000)),
    );
    write(
        Tier::Project,
        format!("# Project Context\n{}", lines("project", 250_000)),
    );
    write(
        Tier::Briefing,
        format!("# Session Briefing\n{}", lines("briefing", 100_000)),
    );
    let mut log = String::from("# Session Log\n");
    for n in 0..400 {
        let entry = Entry {
            title: format!("2026-11-23 session {n}"),
            work_done: vec![lines("work", 800)],
            ..Entry::default()
        };
        log.push_str(&entry.render());
    }
    write(Tier::Log, log);
    let total: u64 = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();

    let mut report = serde_json::Map::new();
    report.insert("tier_bytes".into(), total.into());
    let estimate = TokenCounter::default();
    let o200k = TokenCounter::for_model("openai/gpt-4o");
    for (name, budget, counter) in [
        ("budget_8000", 8_000, estimate),
        ("budget_all", 1_000_000, estimate),
        ("budget_8000_o200k", 8_000, o200k),
        ("budget_all_o200k", 1_000_000, o200k),
    ] {
        let mut micros: Vec<f64> = (0..iterations)
            .map(|_| {
                let started = Instant::now();
                black_box(assemble(dir.path(), None, budget, &counter));
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize].round();
        report.insert(
            name.into(),
            serde_json::json!({"p50_us": at(0.5), "p99_us": at(0.99)}),
        );
    }
    println!("{}", serde_json::Value::Object(report));
}
