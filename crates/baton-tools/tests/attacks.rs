//! Every path-taking tool against the classic escapes: traversal, absolute
//! paths, `~`, symlinks to files and directories outside, writes through a
//! symlink, and writes into `.git/`. Each must be refused with a clear
//! reason, and nothing outside the workspace may be read or changed.

mod common;

use std::os::unix::fs::symlink;

use common::{Env, SECRET, refusal};
use serde_json::{Value, json};

/// Every (tool, arguments) pair that names `path`.
fn path_calls(path: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("read", json!({"path": path})),
        ("write", json!({"path": path, "content": "pwned"})),
        ("edit", json!({"path": path, "old": SECRET, "new": "pwned"})),
        ("list", json!({"path": path})),
        ("search", json!({"pattern": "SECRET", "path": path})),
        ("git", json!({"command": "add", "paths": [path]})),
        ("git", json!({"command": "diff", "path": path})),
        ("git", json!({"command": "log", "path": path})),
    ]
}

async fn assert_all_refused(env: &Env, path: &str, expected: &str) {
    for (tool, args) in path_calls(path) {
        let reason = refusal(env.call(tool, args.clone()).await);
        assert!(
            reason.contains(expected),
            "{tool} {args}: reason {reason:?} does not mention {expected:?}"
        );
    }
    let secret = std::fs::read_to_string(env.outside.path().join("secret.txt")).unwrap();
    assert_eq!(
        secret,
        format!("{SECRET}\n"),
        "the secret outside was changed"
    );
}

#[tokio::test]
async fn traversal_is_refused_by_every_tool() {
    let env = Env::new();
    env.write("a/file.txt", "x");
    assert_all_refused(&env, "../secret.txt", "`..`").await;
    assert_all_refused(&env, "a/../../secret.txt", "`..`").await;
    assert_all_refused(&env, "./a/../../../../etc/passwd", "`..`").await;
}

#[tokio::test]
async fn absolute_and_home_paths_are_refused_by_every_tool() {
    let env = Env::new();
    let secret = env.outside.path().join("secret.txt");
    assert_all_refused(&env, secret.to_str().unwrap(), "absolute").await;
    assert_all_refused(&env, "/etc/passwd", "absolute").await;
    assert_all_refused(&env, "~/.ssh/id_rsa", "`~`").await;
}

#[tokio::test]
async fn a_symlinked_file_pointing_out_is_refused_by_every_tool() {
    let env = Env::new();
    symlink(env.outside.path().join("secret.txt"), env.path("leak.txt")).unwrap();
    assert_all_refused(&env, "leak.txt", "outside the workspace").await;
}

#[tokio::test]
async fn a_symlinked_dir_pointing_out_is_refused_by_every_tool() {
    let env = Env::new();
    symlink(env.outside.path(), env.path("out")).unwrap();
    assert_all_refused(&env, "out/secret.txt", "outside the workspace").await;
    assert_all_refused(&env, "out", "outside the workspace").await;
    let reason = refusal(
        env.call(
            "write",
            json!({"path": "out/new/planted.txt", "content": "x"}),
        )
        .await,
    );
    assert!(reason.contains("outside the workspace"), "{reason}");
    assert!(!env.outside.path().join("new").exists());
}

#[tokio::test]
async fn a_dangling_symlink_pointing_out_cannot_be_written_through() {
    let env = Env::new();
    let target = env.outside.path().join("created-by-attack.txt");
    symlink(&target, env.path("dangling")).unwrap();
    let reason = refusal(
        env.call("write", json!({"path": "dangling", "content": "x"}))
            .await,
    );
    assert!(reason.contains("does not exist"), "{reason}");
    assert!(!target.exists());
}

#[tokio::test]
async fn writes_into_git_are_refused() {
    let env = Env::new();
    std::fs::create_dir_all(env.path(".git/hooks")).unwrap();
    for path in [
        ".git/hooks/pre-commit",
        ".git/config",
        "./.git/HEAD",
        "sub/.git/x",
    ] {
        let reason = refusal(
            env.call(
                "write",
                json!({"path": path, "content": "#!/bin/sh\nrm -rf ~\n"}),
            )
            .await,
        );
        assert!(reason.contains(".git"), "{path}: {reason}");
    }
    env.write(".git/config", "[core]\n");
    let reason = refusal(
        env.call(
            "edit",
            json!({"path": ".git/config", "old": "[core]", "new": "[core]\nfsmonitor = evil"}),
        )
        .await,
    );
    assert!(reason.contains(".git"), "{reason}");
    assert!(!env.path(".git/hooks/pre-commit").exists());
    assert_eq!(env.read(".git/config"), "[core]\n");
}

#[tokio::test]
async fn symlinks_that_stay_inside_work() {
    let env = Env::new();
    env.write("src/real.txt", "hello\n");
    symlink("src/real.txt", env.path("alias.txt")).unwrap();
    symlink("src", env.path("srcdir")).unwrap();
    let out = env
        .call("read", json!({"path": "alias.txt"}))
        .await
        .unwrap();
    assert!(out.text.contains("hello"), "{}", out.text);
    env.call("write", json!({"path": "alias.txt", "content": "bye\n"}))
        .await
        .unwrap();
    assert_eq!(env.read("src/real.txt"), "bye\n");
    assert!(
        std::fs::symlink_metadata(env.path("alias.txt"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "writing through an inside symlink keeps the link"
    );
    env.call("write", json!({"path": "srcdir/new.txt", "content": "n\n"}))
        .await
        .unwrap();
    assert_eq!(env.read("src/new.txt"), "n\n");
}

#[tokio::test]
async fn search_does_not_follow_symlinks_out_during_the_walk() {
    let env = Env::new();
    env.write("inside.txt", "nothing here\n");
    symlink(env.outside.path(), env.path("out")).unwrap();
    symlink(env.outside.path().join("secret.txt"), env.path("leak.txt")).unwrap();
    let out = env
        .call("search", json!({"pattern": "SECRET"}))
        .await
        .unwrap();
    assert!(!out.text.contains(SECRET), "{}", out.text);
    assert_eq!(out.summary, "0 matches in 0 files");
    let out = env.call("list", json!({"recursive": true})).await.unwrap();
    assert!(!out.text.contains("secret.txt"), "{}", out.text);
}

#[tokio::test]
async fn a_fifo_planted_in_the_workspace_does_not_hang_a_tool() {
    let env = Env::new();
    let made = std::process::Command::new("mkfifo")
        .arg(env.path("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let within = std::time::Duration::from_secs(5);
    for (tool, args) in [
        ("read", json!({"path": "pipe"})),
        ("write", json!({"path": "pipe", "content": "x"})),
        ("edit", json!({"path": "pipe", "old": "a", "new": "b"})),
    ] {
        let result = tokio::time::timeout(within, env.call(tool, args))
            .await
            .unwrap_or_else(|_| panic!("{tool} hung on a FIFO"));
        let err = result.unwrap_err();
        assert!(
            err.to_string().contains("not a regular file"),
            "{tool}: {err}"
        );
    }
    let out = tokio::time::timeout(within, env.call("search", json!({"pattern": "x"})))
        .await
        .expect("search hung on a FIFO")
        .unwrap();
    assert_eq!(out.summary, "0 matches in 0 files");
}
