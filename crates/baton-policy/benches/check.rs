//! What a policy check costs the agent loop: `Policy::check` on typical
//! calls (a path, a simple command, a pipeline, a disguised dangerous
//! command, a 2 KB script) against the defaults plus 100 user rules, and
//! building such a policy. Prints one JSON object with the median and p99
//! in nanoseconds per case.
//!
//! Usage: cargo bench -p baton-policy --bench check -- [ITERATIONS]

use std::hint::black_box;
use std::time::Instant;

use baton_policy::{Effect, Mode, Policy, Rules, Source};
use serde_json::{Map, Value, json};

const DEFAULT_ITERATIONS: usize = 20_000;
const WARMUP: usize = 500;

fn user_rules() -> Rules {
    let mut allow: Vec<String> = (0..50).map(|i| format!("\"shell(tool{i} *)\"")).collect();
    allow.extend((0..25).map(|i| format!("\"write(dir{i}/**)\"")));
    let deny: Vec<String> = (0..25).map(|i| format!("\"mcp(server{i}.*)\"")).collect();
    let text = format!(
        "allow = [{}, \"shell(cargo *)\", \"shell(git *)\", \"shell(tail *)\"]\ndeny = [{}]",
        allow.join(","),
        deny.join(",")
    );
    let value: toml::Value = toml::from_str(&text).expect("bench rules parse");
    Rules::from_toml(&value, Source::User, "bench").expect("bench rules are valid")
}

fn build_policy() -> Policy {
    let mut policy = Policy::new(Mode::Ask);
    policy.add(user_rules());
    policy
}

fn measure(iterations: usize, mut f: impl FnMut()) -> Value {
    for _ in 0..WARMUP {
        f();
    }
    let mut samples: Vec<u128> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    json!({
        "median_ns": samples[samples.len() / 2],
        "p99_ns": samples[samples.len() * 99 / 100],
    })
}

fn main() {
    let iterations = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let policy = build_policy();
    let script: String = (0..40)
        .map(|i| format!("cargo test -p crate{i} -- --nocapture 2>&1 | tail -n 5"))
        .collect::<Vec<_>>()
        .join(" && ");
    let cases: [(&str, &str, Effect, &str); 6] = [
        ("read path", "read", Effect::Read, "src/deep/module/file.rs"),
        ("write path", "write", Effect::Write, "dir24/a/b.rs"),
        ("simple command", "shell", Effect::Execute, "git status"),
        (
            "pipeline",
            "shell",
            Effect::Execute,
            "cargo test --workspace 2>&1 | tail -n 20",
        ),
        (
            "disguised rm",
            "shell",
            Effect::Execute,
            "bash -lc \"echo $(env /bin/rm -r -f ~)\"",
        ),
        ("2 KB script", "shell", Effect::Execute, &script),
    ];
    let mut results = Map::new();
    for (name, tool, effect, subject) in cases {
        let result = measure(iterations, || {
            black_box(policy.check(tool, effect, black_box(subject)));
        });
        results.insert(name.to_owned(), result);
    }
    results.insert(
        "build policy (defaults + 100 rules)".to_owned(),
        measure(iterations / 10, || {
            black_box(build_policy());
        }),
    );
    let report = json!({
        "bench": "baton-policy check",
        "iterations": iterations,
        "rules": policy.rules().count(),
        "script_bytes": script.len(),
        "cases": results,
    });
    println!("{report:#}");
}
