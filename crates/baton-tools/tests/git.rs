//! `git` against a real repository made by the test.

mod common;

use std::process::Command;

use baton_tools::{CallInfo, ToolError};
use common::Env;
use serde_json::json;

fn git(env: &Env, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(env.root())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn repo() -> Env {
    let env = Env::new();
    git(&env, &["init", "-q", "-b", "main"]);
    git(&env, &["config", "user.name", "Test Person"]);
    git(&env, &["config", "user.email", "test@example.invalid"]);
    git(&env, &["config", "commit.gpgsign", "false"]);
    env.write("README.md", "hello\n");
    git(&env, &["add", "README.md"]);
    git(&env, &["commit", "-q", "-m", "first"]);
    env
}

#[tokio::test]
async fn status_add_commit_log_round_trip() {
    let env = repo();
    env.write("src/new.rs", "fn new() {}\n");
    env.write("README.md", "hello again\n");
    let out = env.call("git", json!({"command": "status"})).await.unwrap();
    assert!(out.text.starts_with("## main"), "{}", out.text);
    assert!(out.text.contains(" M README.md"), "{}", out.text);
    assert!(out.text.contains("?? src/"), "{}", out.text);
    assert_eq!(out.summary, "git status: 2 changed paths");

    let out = env.call("git", json!({"command": "diff"})).await.unwrap();
    assert!(out.text.contains("+hello again"), "{}", out.text);
    let out = env
        .call(
            "git",
            json!({"command": "add", "paths": ["src/new.rs", "README.md"]}),
        )
        .await
        .unwrap();
    assert_eq!(out.summary, "git add: 2 paths");
    let out = env
        .call(
            "git",
            json!({"command": "diff", "staged": true, "path": "src"}),
        )
        .await
        .unwrap();
    assert!(out.text.contains("+fn new() {}"), "{}", out.text);
    assert!(!out.text.contains("README"), "{}", out.text);

    let out = env
        .call(
            "git",
            json!({"command": "commit", "message": "-add new and --amend"}),
        )
        .await
        .unwrap();
    assert!(
        out.summary.starts_with("git commit: [main "),
        "{}",
        out.summary
    );
    assert_eq!(
        git(&env, &["log", "-1", "--format=%s"]),
        "-add new and --amend\n"
    );
    assert_eq!(git(&env, &["rev-list", "--count", "HEAD"]), "2\n");

    let out = env
        .call("git", json!({"command": "log", "max_count": 5}))
        .await
        .unwrap();
    assert_eq!(out.summary, "git log: 2 commits");
    assert!(
        out.text.contains("Test Person: -add new and --amend"),
        "{}",
        out.text
    );
    let out = env.call("git", json!({"command": "diff"})).await.unwrap();
    assert_eq!(out.summary, "git diff: no changes");
}

#[tokio::test]
async fn add_dot_stages_the_workspace() {
    let env = repo();
    env.write("a.txt", "a\n");
    env.call("git", json!({"command": "add", "paths": ["."]}))
        .await
        .unwrap();
    assert_eq!(git(&env, &["diff", "--cached", "--name-only"]), "a.txt\n");
}

#[tokio::test]
async fn branch_lists_and_creates_validated_names() {
    let env = repo();
    let out = env
        .call("git", json!({"command": "branch", "create": "feature/x"}))
        .await
        .unwrap();
    assert_eq!(out.summary, "git branch: created feature/x");
    let out = env.call("git", json!({"command": "branch"})).await.unwrap();
    assert_eq!(out.text, "  feature/x\n* main\n");
    for bad in ["-D", "--delete", "a..b", "x y", "bad.lock"] {
        let err = env
            .call("git", json!({"command": "branch", "create": bad}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ToolError::InvalidArguments { .. }),
            "{bad}: {err}"
        );
    }
    assert_eq!(git(&env, &["branch", "--list"]), "  feature/x\n* main\n");
}

#[tokio::test]
async fn commit_refuses_an_empty_message_and_reports_nothing_to_commit() {
    let env = repo();
    let err = env
        .call("git", json!({"command": "commit", "message": "  \n"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("commit message is empty"), "{err}");
    let err = env
        .call("git", json!({"command": "commit", "message": "nothing"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothing to commit"), "{err}");
}

#[tokio::test]
async fn hooks_in_the_repository_do_not_run() {
    let env = repo();
    let marker = env.outside.path().join("hook-ran");
    let hook = env.path(".git/hooks/pre-commit");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write("b.txt", "b\n");
    env.call("git", json!({"command": "add", "paths": ["b.txt"]}))
        .await
        .unwrap();
    env.call("git", json!({"command": "commit", "message": "b"}))
        .await
        .unwrap();
    assert!(!marker.exists(), "the pre-commit hook ran");
}

#[tokio::test]
async fn bad_arguments_and_limits_are_explained() {
    let env = repo();
    let err = env
        .call("git", json!({"command": "log", "max_count": 101}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("max_count must be 1 to 100"),
        "{err}"
    );
    let err = env
        .call("git", json!({"command": "add", "paths": []}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least one path"), "{err}");
    let err = env
        .call("git", json!({"command": "push", "remote": "origin"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown variant `push`"), "{err}");
    let err = env
        .call("git", json!({"command": "add", "paths": [".git/config"]}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::OutsideWorkspace { .. }), "{err}");
}

#[tokio::test]
async fn diff_output_is_capped() {
    let mut env = repo();
    env.write("README.md", &"a changed line\n".repeat(5000));
    env.ctx.limits.max_output_bytes = 1000;
    let out = env.call("git", json!({"command": "diff"})).await.unwrap();
    assert!(out.truncated);
    assert!(out.text.len() < 1200, "{}", out.text.len());
    assert!(
        out.text.contains("[git output cut at 1000 bytes]"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn a_workspace_that_is_not_a_repository_is_named() {
    let env = Env::new();
    let err = env
        .call("git", json!({"command": "status"}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not inside a git repository"),
        "{err}"
    );
}

#[tokio::test]
async fn subject_is_the_subcommand() {
    let env = Env::new();
    let tool = env.toolbox.get("git").unwrap();
    assert_eq!(
        tool.subject(&json!({"command": "commit", "message": "m"}))
            .unwrap(),
        "commit"
    );
    assert!(tool.subject(&json!({"command": "rebase"})).is_err());
}

#[tokio::test]
async fn a_call_past_its_time_limit_is_stopped() {
    let mut env = repo();
    env.ctx.limits.timeout = std::time::Duration::ZERO;
    let err = env
        .call("git", json!({"command": "status"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::Timeout { .. }), "{err}");
    assert_eq!(err.to_string(), "timed out after 0 s");
}

/// A repository's config can name programs git runs (a clean filter here);
/// git runs in the sandbox, so such a program cannot write outside the
/// workspace.
#[tokio::test]
async fn a_filter_named_by_the_repository_is_confined() {
    let env = repo();
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("filter-ran");
    git(
        &env,
        &[
            "config",
            "filter.evil.clean",
            &format!("sh -c 'touch {} ; cat'", marker.display()),
        ],
    );
    env.write(".gitattributes", "*.txt filter=evil\n");
    env.write("notes.txt", "data\n");
    let result = env
        .call("git", json!({"command": "add", "paths": ["notes.txt"]}))
        .await;
    assert!(!marker.exists(), "the filter wrote outside: {result:?}");
}

#[tokio::test]
async fn a_filter_git_starts_sees_the_calls_idempotency_key() {
    let env = repo();
    // Hooks are off; a clean filter the repository's config names is the
    // program git itself starts on `add`, in git's environment.
    git(
        &env,
        &[
            "config",
            "filter.key.clean",
            "sh -c 'printf %s \"$BATON_IDEMPOTENCY_KEY\" > seen-key; cat'",
        ],
    );
    env.write(".gitattributes", "*.txt filter=key\n");
    env.write("a.txt", "hello\n");
    let call = CallInfo::new("run-1", "call_git");
    env.call_as(&call, "git", json!({"command": "add", "paths": ["a.txt"]}))
        .await
        .unwrap();
    assert_eq!(env.read("seen-key"), "baton-run-1-call_git");
}
