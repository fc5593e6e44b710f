//! Shared by the integration suites: the probed sandbox and a spec for `sh -c`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use baton_sandbox::{ExecLimits, ExecSpec, Sandbox};

/// The sandbox, asserting that this machine's kernel offers Landlock: the suites exist to
/// prove the isolation, so running them unconfined would prove nothing.
pub fn sandbox() -> Sandbox {
    let sandbox = Sandbox::probe();
    assert!(
        sandbox.isolation().is_isolated(),
        "Landlock is required for these tests: {}",
        sandbox.isolation()
    );
    sandbox
}

/// `sh -c script` in `workspace`, which is the only writable tree, with a minimal
/// environment and short limits.
pub fn shell(script: &str, workspace: &Path) -> ExecSpec {
    let mut spec = ExecSpec::new("/bin/sh", workspace);
    spec.args = vec![OsString::from("-c"), OsString::from(script)];
    spec.env = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        (
            "HOME".into(),
            std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
        ),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    spec.writable = vec![workspace.to_owned()];
    spec.limits = ExecLimits {
        wall_time: Duration::from_secs(20),
        ..ExecLimits::default()
    };
    spec
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
