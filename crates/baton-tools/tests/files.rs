//! `read`, `write`, `edit` and `list` on real files.

mod common;

use std::os::unix::fs::PermissionsExt;

use baton_tools::{Effect, Limits, ToolError};
use common::Env;
use serde_json::json;

#[tokio::test]
async fn read_numbers_lines_and_reads_ranges() {
    let env = Env::new();
    env.write("notes.txt", "one\ntwo\nthree\nfour\n");
    let out = env
        .call("read", json!({"path": "notes.txt"}))
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "notes.txt: lines 1-4 of 4\n     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n"
    );
    let out = env
        .call(
            "read",
            json!({"path": "notes.txt", "start_line": 2, "end_line": 3}),
        )
        .await
        .unwrap();
    assert_eq!(
        out.text,
        "notes.txt: lines 2-3 of 4\n     2\ttwo\n     3\tthree\n"
    );
    assert_eq!(out.summary, "notes.txt: lines 2-3 of 4");
    let out = env
        .call(
            "read",
            json!({"path": "notes.txt", "start_line": 4, "end_line": 99}),
        )
        .await
        .unwrap();
    assert!(out.text.ends_with("     4\tfour\n"));
}

#[tokio::test]
async fn read_explains_bad_ranges_binary_large_and_missing_files() {
    let env = Env::new();
    env.write("notes.txt", "one\ntwo\n");
    let err = env
        .call("read", json!({"path": "notes.txt", "start_line": 5}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has 2 lines"), "{err}");
    let err = env
        .call(
            "read",
            json!({"path": "notes.txt", "start_line": 2, "end_line": 1}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("before start_line"), "{err}");
    let err = env
        .call("read", json!({"path": "notes.txt", "start_line": 0}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1-based"), "{err}");
    std::fs::write(env.path("image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let err = env
        .call("read", json!({"path": "image.png"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::Binary { .. }), "{err}");
    let err = env
        .call("read", json!({"path": "missing.txt"}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "`missing.txt` does not exist");
    let err = env
        .call("read", json!({"paht": "notes.txt"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `paht`"), "{err}");

    let mut env = env;
    env.ctx.limits = Limits {
        max_file_bytes: 4,
        ..Limits::default()
    };
    let err = env
        .call("read", json!({"path": "notes.txt"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::TooLarge { limit: 4, .. }), "{err}");
}

#[tokio::test]
async fn read_output_is_cut_at_the_output_limit() {
    let mut env = Env::new();
    env.ctx.limits.max_output_bytes = 100;
    env.write("long.txt", &"line of text\n".repeat(100));
    let out = env.call("read", json!({"path": "long.txt"})).await.unwrap();
    assert!(out.truncated);
    assert!(out.text.len() < 140, "{}", out.text.len());
    assert!(out.text.contains("bytes cut]"), "{}", out.text);
}

#[tokio::test]
async fn write_creates_parents_replaces_and_keeps_the_mode() {
    let env = Env::new();
    let out = env
        .call(
            "write",
            json!({"path": "deep/er/new.txt", "content": "hi\n"}),
        )
        .await
        .unwrap();
    assert_eq!(out.summary, "created deep/er/new.txt (3 bytes)");
    assert_eq!(env.read("deep/er/new.txt"), "hi\n");
    env.write("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(env.path("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let out = env
        .call(
            "write",
            json!({"path": "run.sh", "content": "#!/bin/sh\necho ok\n"}),
        )
        .await
        .unwrap();
    assert_eq!(out.summary, "replaced run.sh (18 bytes)");
    let mode = std::fs::metadata(env.path("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    let leftovers: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".baton-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn write_refuses_binary_clobbering_big_content_and_directories() {
    let mut env = Env::new();
    std::fs::write(env.path("blob.bin"), b"\0\x01\x02").unwrap();
    let err = env
        .call("write", json!({"path": "blob.bin", "content": "text"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::Binary { .. }), "{err}");
    assert_eq!(std::fs::read(env.path("blob.bin")).unwrap(), b"\0\x01\x02");
    std::fs::create_dir(env.path("adir")).unwrap();
    let err = env
        .call("write", json!({"path": "adir", "content": "x"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    env.ctx.limits.max_file_bytes = 3;
    let err = env
        .call("write", json!({"path": "big.txt", "content": "four"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::TooLarge { limit: 3, .. }), "{err}");
    assert!(!env.path("big.txt").exists());
}

#[tokio::test]
async fn edit_replaces_a_unique_match() {
    let env = Env::new();
    env.write("src/lib.rs", "fn a() {}\nfn b() {}\n");
    let out = env
        .call(
            "edit",
            json!({"path": "src/lib.rs", "old": "fn b() {}", "new": "fn b() -> u8 { 1 }"}),
        )
        .await
        .unwrap();
    assert_eq!(out.summary, "src/lib.rs: 1 replacement, first at line 2");
    assert_eq!(env.read("src/lib.rs"), "fn a() {}\nfn b() -> u8 { 1 }\n");
}

#[tokio::test]
async fn edit_explains_missing_and_ambiguous_text() {
    let env = Env::new();
    env.write("a.txt", "x = 1\nx = 1\n");
    let err = env
        .call(
            "edit",
            json!({"path": "a.txt", "old": "y = 2", "new": "y = 3"}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was not found"), "{err}");
    let err = env
        .call(
            "edit",
            json!({"path": "a.txt", "old": "x = 1", "new": "x = 2"}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("occurs 2 times"), "{err}");
    assert_eq!(env.read("a.txt"), "x = 1\nx = 1\n");
    let out = env
        .call(
            "edit",
            json!({"path": "a.txt", "old": "x = 1", "new": "x = 2", "replace_all": true}),
        )
        .await
        .unwrap();
    assert_eq!(out.summary, "a.txt: 2 replacements, first at line 1");
    assert_eq!(env.read("a.txt"), "x = 2\nx = 2\n");
    let err = env
        .call("edit", json!({"path": "a.txt", "old": "", "new": "z"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`old` is empty"), "{err}");
    let err = env
        .call("edit", json!({"path": "nope.txt", "old": "a", "new": "b"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::NotFound { .. }), "{err}");
    std::fs::write(env.path("b.bin"), b"a\0b").unwrap();
    let err = env
        .call("edit", json!({"path": "b.bin", "old": "a", "new": "c"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::Binary { .. }), "{err}");
}

#[tokio::test]
async fn list_marks_dirs_honours_gitignore_and_caps_results() {
    let mut env = Env::new();
    env.write(".gitignore", "target/\n*.log\n");
    env.write("src/main.rs", "");
    env.write("src/util/mod.rs", "");
    env.write("target/debug/app", "");
    env.write("build.log", "");
    env.write(".git/HEAD", "ref: refs/heads/main\n");
    let out = env.call("list", json!({})).await.unwrap();
    assert_eq!(out.text, ".gitignore\nsrc/\n");
    let out = env.call("list", json!({"recursive": true})).await.unwrap();
    assert_eq!(
        out.text,
        ".gitignore\nsrc/\nsrc/main.rs\nsrc/util/\nsrc/util/mod.rs\n"
    );
    assert_eq!(out.summary, "5 entries in ./");
    let out = env
        .call(
            "list",
            json!({"path": "src", "recursive": true, "max_depth": 1}),
        )
        .await
        .unwrap();
    assert_eq!(out.text, "src/main.rs\nsrc/util/\n");
    let err = env.call("list", json!({"max_depth": 2})).await.unwrap_err();
    assert!(err.to_string().contains("needs recursive"), "{err}");
    let err = env
        .call("list", json!({"path": "src/main.rs"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    env.ctx.limits.max_results = 2;
    let out = env.call("list", json!({"recursive": true})).await.unwrap();
    assert!(out.truncated);
    assert!(
        out.text
            .starts_with(".gitignore\nsrc/\n[listing stopped at 2 entries"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn effects_and_subjects_for_the_policy() {
    let env = Env::new();
    for (name, effect) in [
        ("search", Effect::Read),
        ("read", Effect::Read),
        ("list", Effect::Read),
        ("write", Effect::Write),
        ("edit", Effect::Write),
    ] {
        assert_eq!(
            env.toolbox.get(name).unwrap().effect(&json!({})),
            effect,
            "{name}"
        );
    }
    let git = env.toolbox.get("git").unwrap();
    for (args, effect) in [
        (json!({"command": "status"}), Effect::Read),
        (json!({"command": "diff", "staged": true}), Effect::Read),
        (json!({"command": "log"}), Effect::Read),
        (json!({"command": "branch"}), Effect::Read),
        (
            json!({"command": "branch", "create": "topic"}),
            Effect::Write,
        ),
        (json!({"command": "add", "paths": ["a"]}), Effect::Write),
        (json!({"command": "commit", "message": "m"}), Effect::Write),
        (json!({"command": "push"}), Effect::Write),
    ] {
        assert_eq!(git.effect(&args), effect, "{args}");
    }
    let subject = |tool: &str, args| env.toolbox.get(tool).unwrap().subject(&args);
    assert_eq!(
        subject("read", json!({"path": "src/a.rs"})).unwrap(),
        "src/a.rs"
    );
    assert_eq!(
        subject("write", json!({"path": "b", "content": ""})).unwrap(),
        "b"
    );
    assert_eq!(
        subject("edit", json!({"path": "c", "old": "x", "new": "y"})).unwrap(),
        "c"
    );
    assert_eq!(subject("list", json!({})).unwrap(), ".");
    let err = subject("write", json!({"path": "b"})).unwrap_err();
    assert!(err.to_string().contains("missing field `content`"), "{err}");
}
