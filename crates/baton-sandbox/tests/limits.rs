//! Resource limits, tried with real runaway commands: each must end fast, leave no process
//! behind, and say which limit ended it.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use baton_sandbox::{ExitState, Limit, ProcessCap};
use common::{sandbox, shell, text};

#[tokio::test]
async fn a_fork_bomb_is_contained_and_killed_with_its_group() {
    let sandbox = sandbox();
    if sandbox.process_cap() == ProcessCap::None {
        // Without a cap a fork bomb as root would starve this whole machine before the
        // timeout fired; that configuration is reported by `baton doctor`, not tested.
        eprintln!("SKIPPED fork bomb: {}", sandbox.process_cap());
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    // The first shell stays (sleeping) while the bomb grows behind it, until the timeout.
    let mut spec = shell(":(){ :|:& };: ; sleep 100", workspace.path());
    // dash does not accept `:` as a function name; bash does.
    spec.program = "/bin/bash".into();
    spec.limits.max_processes = 64;
    spec.limits.wall_time = Duration::from_secs(1);
    let started = Instant::now();
    let outcome = sandbox.run(spec).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        survivors(outcome.pid).is_empty(),
        "{:?}",
        survivors(outcome.pid)
    );
    assert!(
        text(&outcome.stderr).contains("fork: retry: Resource temporarily unavailable"),
        "the cap should have refused forks: {}",
        text(&outcome.stderr)
    );
    assert!(outcome.timed_out);
    assert_eq!(outcome.killed_by, Some(Limit::WallTime));
}

#[tokio::test]
async fn huge_output_is_cut_at_the_cap() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("yes", workspace.path());
    spec.limits.max_output_bytes = 100_000;
    let started = Instant::now();
    let outcome = sandbox().run(spec).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.stdout.len(), 100_000);
    assert!(outcome.stdout.starts_with(b"y\ny\n"));
    assert!(outcome.stdout_truncated);
    assert!(!outcome.stderr_truncated);
    assert_eq!(outcome.killed_by, Some(Limit::Output));
    assert!(!outcome.timed_out);
    assert!(survivors(outcome.pid).is_empty());
}

#[tokio::test]
async fn output_under_the_cap_is_whole() {
    let workspace = tempfile::tempdir().unwrap();
    let outcome = sandbox()
        .run(shell(
            "head -c 5000 /dev/zero; echo err >&2",
            workspace.path(),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.stdout.len(), 5000);
    assert_eq!(text(&outcome.stderr), "err\n");
    assert!(!outcome.stdout_truncated);
    assert_eq!(outcome.killed_by, None);
}

#[tokio::test]
async fn runaway_time_is_killed_with_the_whole_group() {
    let workspace = tempfile::tempdir().unwrap();
    for script in ["sleep 1000", "sleep 1000 & while true; do :; done"] {
        let mut spec = shell(script, workspace.path());
        spec.limits.wall_time = Duration::from_millis(500);
        let started = Instant::now();
        let outcome = sandbox().run(spec).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{script}: took {:?}",
            started.elapsed()
        );
        assert!(outcome.timed_out, "{script}");
        assert_eq!(outcome.killed_by, Some(Limit::WallTime));
        assert_eq!(outcome.status, ExitState::Signal(libc::SIGKILL));
        assert!(survivors(outcome.pid).is_empty(), "{script}");
    }
}

#[tokio::test]
async fn background_children_die_with_the_command() {
    let workspace = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let outcome = sandbox()
        .run(shell("sleep 100 & echo started", workspace.path()))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(outcome.status.success());
    assert_eq!(text(&outcome.stdout), "started\n");
    assert!(!outcome.timed_out);
    assert!(survivors(outcome.pid).is_empty());
}

#[tokio::test]
async fn a_child_that_leaves_the_group_is_still_killed() {
    let sandbox = sandbox();
    if sandbox.process_cap() != ProcessCap::PidsCgroup {
        eprintln!("SKIPPED: only a pids cgroup can find a process that called setsid");
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let marker = workspace.path().join("escaped.pid");
    let script = format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 100' > /dev/null 2>&1 < /dev/null & sleep 0.3",
        marker.display()
    );
    let outcome = sandbox.run(shell(&script, workspace.path())).await.unwrap();
    assert!(outcome.status.success(), "{}", text(&outcome.stderr));
    let escaped: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{escaped}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.rsplit_once(") ").unwrap().1.starts_with('Z'),
        "the setsid child {escaped} survived: {stat}"
    );
}

#[tokio::test]
async fn a_memory_hog_is_refused_by_the_address_space_limit() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell(
        "python3 -c 'x = bytearray(2 * 1024 ** 3); print(len(x))'",
        workspace.path(),
    );
    spec.limits.address_space_bytes = 512 * 1024 * 1024;
    let outcome = sandbox().run(spec).await.unwrap();
    assert_eq!(outcome.status, ExitState::Code(1));
    assert!(
        text(&outcome.stderr).contains("MemoryError"),
        "{}",
        text(&outcome.stderr)
    );
}

#[tokio::test]
async fn cpu_time_is_limited() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("while true; do :; done", workspace.path());
    spec.limits.cpu_time = Duration::from_secs(1);
    spec.limits.wall_time = Duration::from_secs(30);
    let outcome = sandbox().run(spec).await.unwrap();
    assert_eq!(outcome.status, ExitState::Signal(libc::SIGXCPU));
    assert_eq!(outcome.killed_by, Some(Limit::CpuTime));
    assert!(!outcome.timed_out);
}

#[tokio::test]
async fn file_size_is_limited() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("exec head -c 1000000 /dev/zero > big", workspace.path());
    spec.limits.max_file_size_bytes = 4096;
    let outcome = sandbox().run(spec).await.unwrap();
    assert_eq!(outcome.killed_by, Some(Limit::FileSize), "{outcome:?}");
    assert_eq!(
        std::fs::metadata(workspace.path().join("big"))
            .unwrap()
            .len(),
        4096
    );
}

#[tokio::test]
async fn dropping_the_run_kills_it() {
    let workspace = tempfile::tempdir().unwrap();
    let marker = workspace.path().join("pid");
    let script = format!("echo $$ > {}; sleep 1000 & wait", marker.display());
    let sandbox = sandbox();
    let run = sandbox.run(shell(&script, workspace.path()));
    let cancelled = tokio::time::timeout(Duration::from_millis(500), run).await;
    assert!(cancelled.is_err(), "the run should still be going");
    let pid: u32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(2);
    while !survivors(pid).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(survivors(pid).is_empty(), "{:?}", survivors(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_each_get_their_own_confinement() {
    let sandbox = sandbox();
    let workspaces: Vec<_> = (0..16).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs = workspaces.iter().enumerate().map(|(i, workspace)| {
        let sandbox = sandbox.clone();
        let spec = shell(&format!("echo {i} > mine && cat mine"), workspace.path());
        tokio::spawn(async move { sandbox.run(spec).await })
    });
    let outcomes = outcomes_of(runs.collect()).await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert!(outcome.status.success(), "{}", text(&outcome.stderr));
        assert_eq!(text(&outcome.stdout), format!("{i}\n"));
        assert!(outcome.isolation.is_isolated());
    }
}

async fn outcomes_of(
    handles: Vec<
        tokio::task::JoinHandle<Result<baton_sandbox::ExecOutcome, baton_sandbox::SandboxError>>,
    >,
) -> Vec<baton_sandbox::ExecOutcome> {
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap().unwrap());
    }
    outcomes
}

/// Processes of the session `sid` that are still alive (not zombies), from `/proc`.
pub fn survivors(sid: u32) -> Vec<u32> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        // After the command name: state, ppid, pgrp, session.
        if fields.first() != Some(&"Z") && fields.get(3) == Some(&sid.to_string().as_str()) {
            alive.push(pid);
        }
    }
    alive
}
