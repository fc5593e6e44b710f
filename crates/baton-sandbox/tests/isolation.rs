//! The filesystem, network and environment confinement, tried with real commands on the real
//! kernel.
#![cfg(target_os = "linux")]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;

use baton_sandbox::Sandbox;
use baton_sandbox::{Enforcement, ExitState, Isolation, SandboxError};
use common::{sandbox, shell, text};

#[tokio::test]
async fn landlock_is_active_and_reported_by_the_run() {
    let sandbox = sandbox();
    let workspace = tempfile::tempdir().unwrap();
    let outcome = sandbox.run(shell("true", workspace.path())).await.unwrap();
    assert!(outcome.status.success());
    let Isolation::Landlock {
        abi, enforcement, ..
    } = outcome.isolation
    else {
        panic!("the run was not confined: {}", outcome.isolation);
    };
    assert!(abi >= 1);
    let expected = if abi >= baton_sandbox::TARGET_LANDLOCK_ABI {
        Enforcement::Full
    } else {
        Enforcement::Partial
    };
    assert_eq!(enforcement, expected);
    println!("{sandbox}");
}

#[tokio::test]
async fn writing_inside_the_workspace_is_allowed() {
    let workspace = tempfile::tempdir().unwrap();
    let outcome = sandbox()
        .run(shell(
            "mkdir -p a/b && echo hello > a/b/f && mv a/b/f a/g && rm -r a/b && cat a/g",
            workspace.path(),
        ))
        .await
        .unwrap();
    assert!(outcome.status.success(), "{}", text(&outcome.stderr));
    assert_eq!(text(&outcome.stdout), "hello\n");
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("a/g")).unwrap(),
        "hello\n"
    );
}

#[tokio::test]
async fn writing_outside_the_workspace_is_refused() {
    let workspace = tempfile::tempdir().unwrap();
    let outside = PathBuf::from(format!("/tmp/baton-sandbox-outside-{}", std::process::id()));
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
        .join(format!("baton-sandbox-home-{}", std::process::id()));
    for target in [&outside, &home] {
        let outcome = sandbox()
            .run(shell(
                &format!("echo x > {}", target.display()),
                workspace.path(),
            ))
            .await
            .unwrap();
        assert_ne!(outcome.status, ExitState::Code(0));
        assert!(
            text(&outcome.stderr).contains("Permission denied"),
            "{}",
            text(&outcome.stderr)
        );
        assert!(!target.exists(), "{} was written", target.display());
    }
}

#[tokio::test]
async fn rm_rf_root_deletes_nothing_outside_the_workspace() {
    let sandbox = sandbox();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("doomed"), "x").unwrap();
    let sentinel_dir = tempfile::tempdir().unwrap();
    let sentinel = sentinel_dir.path().join("sentinel");
    std::fs::write(&sentinel, "still here").unwrap();
    // First make sure the confinement holds for this very spec before letting rm loose.
    let probe = sandbox
        .run(shell("echo x > /baton-sandbox-probe", workspace.path()))
        .await
        .unwrap();
    assert!(
        !probe.status.success() && probe.isolation.is_isolated(),
        "refusing to run rm -rf / without working confinement"
    );
    // The whole tree, and the system trees by name (a shell cannot even list `/` to expand
    // `/*`); then the workspace through the working directory, which the sandbox may delete in.
    let mut spec = shell(
        "rm -rf --no-preserve-root / /usr /etc /tmp /root /home /var; rm -rf \"$PWD\"/* ; echo done",
        workspace.path(),
    );
    spec.limits.wall_time = std::time::Duration::from_secs(120);
    // rm reports every entry it may not remove: tens of thousands of lines.
    spec.limits.max_output_bytes = baton_sandbox::MAX_OUTPUT_BYTES;
    let outcome = sandbox.run(spec).await.unwrap();
    assert!(outcome.isolation.is_isolated());
    assert!(!outcome.timed_out && !outcome.stderr_truncated);
    assert_eq!(text(&outcome.stdout), "done\n");
    assert!(
        !workspace.path().join("doomed").exists(),
        "rm reached the workspace and could delete there"
    );
    assert_eq!(
        std::fs::read_to_string(&sentinel).unwrap(),
        "still here",
        "the sentinel outside the workspace was touched"
    );
    assert!(PathBuf::from("/bin/sh").exists());
    assert!(
        text(&outcome.stderr).contains("Permission denied"),
        "{}",
        text(&outcome.stderr).chars().take(500).collect::<String>()
    );
}

#[tokio::test]
async fn a_symlink_out_of_the_workspace_does_not_open_a_way_out() {
    let workspace = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let name = format!("baton-sandbox-escape-{}", std::process::id());
    let script = format!(
        "ln -s /usr x && ln -s {} y; echo > x/{name}; echo > y/{name}; ls x/ > /dev/null",
        elsewhere.path().display()
    );
    let outcome = sandbox()
        .run(shell(&script, workspace.path()))
        .await
        .unwrap();
    assert!(
        workspace.path().join("x").is_symlink(),
        "making the link itself is allowed"
    );
    assert!(!PathBuf::from("/usr").join(&name).exists());
    assert!(!elsewhere.path().join(&name).exists());
    assert_eq!(
        text(&outcome.stderr).matches("Permission denied").count(),
        2,
        "{}",
        text(&outcome.stderr)
    );
    assert!(
        outcome.status.success(),
        "reading through the link is allowed"
    );
}

#[tokio::test]
async fn network_is_denied_unless_allowed() {
    let sandbox = sandbox();
    if !network_rules_enforceable(&sandbox) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let workspace = tempfile::tempdir().unwrap();
    let script = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\""
    );
    let denied = sandbox.run(shell(&script, workspace.path())).await.unwrap();
    assert_eq!(denied.status, ExitState::Code(1));
    assert!(
        text(&denied.stderr).contains("PermissionError"),
        "{}",
        text(&denied.stderr)
    );
    assert!(matches!(
        denied.isolation,
        Isolation::Landlock { network: true, .. }
    ));

    let mut spec = shell(&script, workspace.path());
    spec.network = true;
    let allowed = sandbox.run(spec).await.unwrap();
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert_eq!(text(&allowed.stdout), "connected\n");
    assert!(matches!(
        allowed.isolation,
        Isolation::Landlock { network: false, .. }
    ));
}

#[tokio::test]
async fn binding_a_port_is_denied_without_network() {
    let sandbox = sandbox();
    if !network_rules_enforceable(&sandbox) {
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let outcome = sandbox
        .run(shell(
            "python3 -c \"import socket; socket.socket().bind(('127.0.0.1', 0))\"",
            workspace.path(),
        ))
        .await
        .unwrap();
    assert!(
        text(&outcome.stderr).contains("PermissionError"),
        "{}",
        text(&outcome.stderr)
    );
}

#[tokio::test]
async fn datagrams_do_not_leave_without_network() {
    let sandbox = sandbox();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let workspace = tempfile::tempdir().unwrap();
    let send = format!(
        "python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak', ('127.0.0.1', {port})); print('sent')\""
    );
    let denied = sandbox.run(shell(&send, workspace.path())).await.unwrap();
    assert!(
        text(&denied.stderr).contains("PermissionError"),
        "{}",
        text(&denied.stderr)
    );
    let mut buf = [0u8; 16];
    assert!(receiver.recv(&mut buf).is_err(), "a datagram got out");
    // Local sockets still work: a UNIX socket pair needs no network.
    let local = sandbox
        .run(shell(
            "python3 -c \"import socket; a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))\"",
            workspace.path(),
        ))
        .await
        .unwrap();
    assert_eq!(text(&local.stdout), "b'x'\n", "{}", text(&local.stderr));

    let mut spec = shell(&send, workspace.path());
    spec.network = true;
    let allowed = sandbox.run(spec).await.unwrap();
    assert_eq!(text(&allowed.stdout), "sent\n", "{}", text(&allowed.stderr));
    assert_eq!(receiver.recv(&mut buf).unwrap(), 4);
}

#[tokio::test]
async fn the_parent_environment_is_not_inherited() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("env", workspace.path());
    spec.env.push(("GIVEN".into(), "yes".into()));
    let given: Vec<String> = spec
        .env
        .iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    let outcome = sandbox().run(spec).await.unwrap();
    let env = text(&outcome.stdout);
    assert!(env.lines().any(|l| l == "GIVEN=yes"), "{env}");
    // Whatever this test process has (cargo's CARGO_* variables, the shell's, any secret)
    // and did not pass on must be absent.
    let inherited: Vec<String> = std::env::vars()
        .filter(|(k, _)| !given.contains(k))
        .map(|(k, v)| format!("{k}={v}"))
        .filter(|line| env.lines().any(|l| l == line))
        .collect();
    assert!(std::env::vars().count() > given.len());
    assert!(inherited.is_empty(), "inherited: {inherited:?}");
}

#[tokio::test]
async fn the_sandbox_cannot_signal_its_parent() {
    let workspace = tempfile::tempdir().unwrap();
    let outcome = sandbox()
        .run(shell(
            &format!("kill -TERM {}", std::process::id()),
            workspace.path(),
        ))
        .await
        .unwrap();
    let Isolation::Landlock { abi, .. } = outcome.isolation else {
        unreachable!()
    };
    if abi < 6 {
        eprintln!("SKIPPED: Landlock ABI {abi} cannot scope signals (needs ABI >= 6)");
        return;
    }
    assert!(!outcome.status.success());
    assert!(
        text(&outcome.stderr).contains("not permitted"),
        "{}",
        text(&outcome.stderr)
    );
}

#[tokio::test]
async fn no_helper_program_is_needed() {
    // Isolation comes from syscalls the child makes itself: with nothing on its PATH, no
    // bubblewrap, firejail or setuid helper can be involved.
    let workspace = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut spec = shell("", workspace.path());
    spec.program = "/bin/true".into();
    spec.args.clear();
    spec.env = vec![("PATH".into(), empty.path().into())];
    let outcome = sandbox().run(spec).await.unwrap();
    assert!(outcome.status.success());
    assert!(outcome.isolation.is_isolated());
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("", workspace.path());
    spec.program = "/no/such/program".into();
    let error = sandbox().run(spec).await.unwrap_err();
    assert!(matches!(error, SandboxError::Spawn { .. }), "{error}");
    assert!(error.to_string().contains("/no/such/program"));
}

#[tokio::test]
async fn a_bare_program_name_is_looked_up_on_the_given_path() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("", workspace.path());
    spec.program = "echo".into();
    spec.args = vec!["found".into()];
    let outcome = sandbox().run(spec).await.unwrap();
    assert_eq!(text(&outcome.stdout), "found\n");
}

#[tokio::test]
async fn stdin_is_fed_and_closed() {
    let workspace = tempfile::tempdir().unwrap();
    let mut spec = shell("wc -c", workspace.path());
    spec.stdin = Some(vec![b'x'; 200_000]);
    let outcome = sandbox().run(spec).await.unwrap();
    assert_eq!(text(&outcome.stdout).trim(), "200000");
}

/// True when the kernel can deny TCP (Landlock ABI >= 4); prints why a check is skipped.
pub fn network_rules_enforceable(sandbox: &Sandbox) -> bool {
    match sandbox.isolation() {
        Isolation::Landlock { network: true, .. } => true,
        other => {
            eprintln!("SKIPPED network assertions: {other} cannot deny TCP (needs ABI >= 4)");
            false
        }
    }
}

#[tokio::test]
async fn nothing_outside_the_system_trees_and_the_workspace_can_be_read() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("mine.txt"), "mine").unwrap();
    let home = tempfile::tempdir().unwrap();
    let secret = home.path().join("id_ed25519");
    std::fs::write(&secret, "PRIVATE KEY").unwrap();
    let script = format!(
        "cat mine.txt; cat {}; cat /etc/shadow; cat /proc/{}/environ; ls {}; python3 -c 'print(6*7)'",
        secret.display(),
        std::process::id(),
        home.path().display()
    );
    let outcome = sandbox()
        .run(shell(&script, workspace.path()))
        .await
        .unwrap();
    assert!(outcome.isolation.is_isolated());
    let stdout = text(&outcome.stdout);
    let stderr = text(&outcome.stderr);
    assert!(stdout.starts_with("mine"), "{stdout}");
    assert!(
        stdout.contains("42"),
        "programs and interpreters still run: {stderr}"
    );
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(
        !stdout.contains("PATH="),
        "the parent's environment leaked: {stdout}"
    );
    assert_eq!(stderr.matches("Permission denied").count(), 4, "{stderr}");
}
