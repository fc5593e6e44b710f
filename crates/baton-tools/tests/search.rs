//! `search` over real trees: regex and literal, case, globs, context,
//! .gitignore/hidden/binary skipping, sorting, and its limits.

mod common;

use common::Env;
use serde_json::json;

fn tree() -> Env {
    let env = Env::new();
    env.write(".gitignore", "ignored/\n");
    env.write("b.rs", "fn beta() {}\nlet needle = 2;\n");
    env.write("a.rs", "// Needle here\nfn alpha() {}\nlet needle = 1;\n");
    env.write("docs/guide.md", "one\ntwo\nneedle in docs\nthree\nfour\n");
    env.write("ignored/x.rs", "needle ignored\n");
    env.write(".hidden/x.rs", "needle hidden\n");
    std::fs::write(env.path("blob.bin"), b"needle\0binary\n").unwrap();
    env
}

#[tokio::test]
async fn finds_matches_sorted_by_path_then_line() {
    let env = tree();
    let out = env
        .call("search", json!({"pattern": "needle"}))
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "a.rs:3:let needle = 1;\nb.rs:2:let needle = 2;\ndocs/guide.md:3:needle in docs\n"
    );
    assert_eq!(out.summary, "3 matches in 3 files");
    assert!(!out.truncated);
}

#[tokio::test]
async fn case_literal_regex_and_path() {
    let env = tree();
    let out = env
        .call(
            "search",
            json!({"pattern": "needle", "case_insensitive": true, "path": "a.rs"}),
        )
        .await
        .unwrap();
    assert_eq!(out.text, "a.rs:1:// Needle here\na.rs:3:let needle = 1;\n");
    let out = env
        .call("search", json!({"pattern": "fn (alpha|beta)"}))
        .await
        .unwrap();
    assert_eq!(out.summary, "2 matches in 2 files");
    let out = env
        .call(
            "search",
            json!({"pattern": "fn (alpha", "fixed_strings": true}),
        )
        .await
        .unwrap();
    assert_eq!(out.text, "no matches\n");
    let out = env
        .call("search", json!({"pattern": "needle", "path": "docs"}))
        .await
        .unwrap();
    assert_eq!(out.text, "docs/guide.md:3:needle in docs\n");
}

#[tokio::test]
async fn globs_include_and_exclude() {
    let env = tree();
    let out = env
        .call("search", json!({"pattern": "needle", "glob": ["*.rs"]}))
        .await
        .unwrap();
    assert_eq!(out.summary, "2 matches in 2 files");
    let out = env
        .call("search", json!({"pattern": "needle", "glob": ["!*.rs"]}))
        .await
        .unwrap();
    assert_eq!(out.text, "docs/guide.md:3:needle in docs\n");
    let err = env
        .call("search", json!({"pattern": "needle", "glob": ["a[b"]}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad glob `a[b`"), "{err}");
}

#[tokio::test]
async fn context_lines_use_dashes() {
    let env = tree();
    let out = env
        .call(
            "search",
            json!({"pattern": "needle", "path": "docs", "context": 1}),
        )
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "docs/guide.md-2-two\ndocs/guide.md:3:needle in docs\ndocs/guide.md-4-three\n"
    );
    let out = env
        .call(
            "search",
            json!({"pattern": "needle", "glob": ["*.rs"], "context": 1}),
        )
        .await
        .unwrap();
    assert!(
        out.text.contains("let needle = 1;\n--\nb.rs-1-"),
        "{}",
        out.text
    );
    let err = env
        .call("search", json!({"pattern": "x", "context": 11}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("context must be 0 to 10"), "{err}");
}

#[tokio::test]
async fn max_results_stops_and_says_so() {
    let env = tree();
    let out = env
        .call("search", json!({"pattern": "needle", "max_results": 2}))
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.summary, "2 matches in 2 files");
    assert!(out.text.contains("[stopped at 2 matches"), "{}", out.text);
    let out = env
        .call("search", json!({"pattern": "needle", "max_results": 3}))
        .await
        .unwrap();
    assert!(
        !out.truncated,
        "exactly the limit is not a cut: {}",
        out.text
    );
    let err = env
        .call("search", json!({"pattern": "needle", "max_results": 201}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("max_results must be 1 to 200"),
        "{err}"
    );
}

#[tokio::test]
async fn big_files_are_skipped_and_counted() {
    let mut env = tree();
    env.write("big.txt", &"needle\n".repeat(100));
    env.ctx.limits.max_file_bytes = 200;
    let out = env
        .call("search", json!({"pattern": "needle"}))
        .await
        .unwrap();
    assert_eq!(out.summary, "3 matches in 3 files");
    assert!(
        out.text.contains("[skipped 1 files larger than 200 bytes]"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn bad_patterns_are_explained() {
    let env = tree();
    let err = env
        .call("search", json!({"pattern": "(unclosed"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a valid regex"), "{err}");
    let err = env
        .call("search", json!({"pattern": ""}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = env
        .call("search", json!({"pattern": "a", "regex": true}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `regex`"), "{err}");
}

#[tokio::test]
async fn long_lines_are_cut() {
    let env = Env::new();
    env.write(
        "min.js",
        &format!("{}needle{}\n", "x".repeat(2000), "y".repeat(2000)),
    );
    let out = env
        .call("search", json!({"pattern": "needle"}))
        .await
        .unwrap();
    assert!(out.text.contains("needle"), "{}", out.text);
    assert!(
        out.text.contains("[… line of 4006 bytes cut to 1024]"),
        "{}",
        out.text
    );
    assert!(out.text.len() < 1200);
}

#[tokio::test]
async fn the_time_limit_stops_the_walk_with_a_note() {
    let mut env = tree();
    env.ctx.limits.timeout = std::time::Duration::ZERO;
    let out = env
        .call("search", json!({"pattern": "needle"}))
        .await
        .unwrap();
    assert!(out.truncated);
    assert!(
        out.text.contains("[search stopped at its time limit"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn subject_is_the_searched_path() {
    let env = Env::new();
    let tool = env.toolbox.get("search").unwrap();
    assert_eq!(tool.subject(&json!({"pattern": "x"})).unwrap(), ".");
    assert_eq!(
        tool.subject(&json!({"pattern": "x", "path": "src"}))
            .unwrap(),
        "src"
    );
    assert!(tool.subject(&json!({"path": "src"})).is_err());
}
