//! `baton-loadgen startup`: how fast `baton serve` becomes useful, and how
//! little memory it holds while waiting.
//!
//! Each run starts `baton serve` on a free loopback port over the same data
//! directory and polls `GET /health` about every millisecond; the figure is
//! spawn to the first 200, so it includes process start, configuration,
//! opening the store (and its migrations check) and binding. The first run
//! creates the data directory and is discarded: the target is a restart on
//! existing data, the common case. The last run is left idle for a while and
//! its resident memory read from `/proc`. Every run is stopped with SIGTERM
//! and must exit 0, so a fast start that breaks shutdown does not pass.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use crate::StartupArgs;
use crate::stats::nearest_rank;

/// How often `/health` is polled while waiting.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// How long a stopped server may take to exit before it counts as hung.
const EXIT_GRACE: Duration = Duration::from_secs(30);

pub fn main(args: StartupArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.all_exited_zero {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run(args: &StartupArgs) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")?;
    let mut startup_ms = Vec::new();
    let mut exit_codes = Vec::new();
    let mut memory = None;
    // Run 0 creates the data directory and is not counted.
    for index in 0..=args.runs {
        let idle = (index == args.runs).then(|| Duration::from_secs(args.idle_secs));
        let run = one_run(args, &client, idle)
            .await
            .with_context(|| format!("run {index}"))?;
        if index > 0 {
            startup_ms.push(run.healthy_after.as_secs_f64() * 1e3);
            exit_codes.push(run.exit_code);
        }
        memory = memory.or(run.memory);
    }
    let mut sorted = startup_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let memory = memory.context("the last run measured no memory")?;
    Ok(Report {
        baton: args.baton.display().to_string(),
        data_dir: args.data_dir.display().to_string(),
        runs: args.runs,
        median_ms: nearest_rank(&sorted, 0.5),
        p95_ms: nearest_rank(&sorted, 0.95),
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        startup_ms,
        idle_secs: args.idle_secs,
        idle_rss_mb: memory.rss_kib as f64 * 1024.0 / 1e6,
        idle_peak_rss_mb: memory.hwm_kib as f64 * 1024.0 / 1e6,
        idle_rss_kib: memory.rss_kib,
        idle_peak_rss_kib: memory.hwm_kib,
        all_exited_zero: exit_codes.iter().all(|code| *code == Some(0)),
        exit_codes,
    })
}

/// One start, measured.
struct Run {
    healthy_after: Duration,
    /// `None` when the process had to be killed or died by a signal.
    exit_code: Option<i32>,
    memory: Option<Memory>,
}

/// From `/proc/PID/status`, in KiB as the kernel reports them.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

/// A running `baton serve` that is killed if it is dropped still running,
/// so an error mid-run never leaves a server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn one_run(
    args: &StartupArgs,
    client: &reqwest::Client,
    idle: Option<Duration>,
) -> anyhow::Result<Run> {
    let port = free_port()?;
    let health = format!("http://127.0.0.1:{port}/health");
    let mut command = Command::new(&args.baton);
    if let Some(config) = &args.config {
        command.arg("--config").arg(config);
    }
    command
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("serve")
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let spawned = Instant::now();
    let mut server = Server(
        command
            .spawn()
            .with_context(|| format!("cannot start {}", args.baton.display()))?,
    );
    let deadline = spawned + Duration::from_secs(args.health_timeout_secs);
    let healthy_after = wait_healthy(client, &health, &mut server.0, spawned, deadline).await?;
    let memory = match idle {
        Some(idle) => {
            tokio::time::sleep(idle).await;
            Some(read_memory(server.0.id())?)
        }
        None => None,
    };
    let exit_code = stop(&mut server.0).await?.and_then(|status| status.code());
    Ok(Run {
        healthy_after,
        exit_code,
        memory,
    })
}

/// A port the kernel just handed out and that nobody holds. Another process
/// could take it before baton binds it; on a quiet benchmark machine that
/// does not happen, and if it did the run would fail loudly, not skew.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Polls `/health` until it answers 200 and returns the time since spawn.
/// The resolution is the poll interval, about a millisecond.
async fn wait_healthy(
    client: &reqwest::Client,
    url: &str,
    child: &mut Child,
    spawned: Instant,
    deadline: Instant,
) -> anyhow::Result<Duration> {
    loop {
        let answer = client.get(url).timeout(Duration::from_secs(1)).send().await;
        let now = Instant::now();
        if answer.is_ok_and(|response| response.status() == reqwest::StatusCode::OK) {
            return Ok(now - spawned);
        }
        if let Some(status) = child.try_wait()? {
            bail!("baton exited with {status} before becoming healthy");
        }
        if now >= deadline {
            bail!("{url} not healthy within {:?}", deadline - spawned);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn read_memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    Ok(Memory {
        rss_kib: status_kib(&status, "VmRSS:").with_context(|| format!("no VmRSS in {path}"))?,
        hwm_kib: status_kib(&status, "VmHWM:").with_context(|| format!("no VmHWM in {path}"))?,
    })
}

/// The value of a `Name:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Sends SIGTERM and waits for the exit, killing the process if it hangs.
/// Returns `None` when it had to be killed.
async fn stop(child: &mut Child) -> anyhow::Result<Option<ExitStatus>> {
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    kill(pid, Signal::SIGTERM).context("cannot send SIGTERM")?;
    let deadline = Instant::now() + EXIT_GRACE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill()?;
    child.wait()?;
    Ok(None)
}

/// The result of a `startup` run; its JSON form is what `bench/` keeps.
#[derive(Debug, Serialize)]
struct Report {
    baton: String,
    data_dir: String,
    runs: u32,
    /// Spawn to the first 200 from `/health`, per measured run.
    startup_ms: Vec<f64>,
    median_ms: f64,
    p95_ms: f64,
    min_ms: f64,
    max_ms: f64,
    idle_secs: u64,
    /// VmRSS after `idle_secs` idle, in MB of 10^6 bytes.
    idle_rss_mb: f64,
    /// VmHWM (peak RSS over the process's life) at the same moment.
    idle_peak_rss_mb: f64,
    idle_rss_kib: u64,
    idle_peak_rss_kib: u64,
    /// Per run: the exit status after SIGTERM, `None` if it had to be killed.
    exit_codes: Vec<Option<i32>>,
    all_exited_zero: bool,
}

impl Report {
    fn text(&self) -> String {
        let exits = if self.all_exited_zero {
            "every run exited 0 on SIGTERM".to_owned()
        } else {
            format!("exit codes after SIGTERM: {:?}", self.exit_codes)
        };
        format!(
            "baton serve on an existing data dir, {} runs: start to healthy median {:.1} ms, p95 {:.1} ms, max {:.1} ms (min {:.1} ms)\n\
             idle {} s: RSS {:.1} MB, peak RSS {:.1} MB\n{exits}\n",
            self.runs,
            self.median_ms,
            self.p95_ms,
            self.max_ms,
            self.min_ms,
            self.idle_secs,
            self.idle_rss_mb,
            self.idle_peak_rss_mb,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_values_are_read_in_kib() {
        let status = "Name:\tbaton\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(12345));
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let memory = read_memory(std::process::id()).expect("own /proc status");
        assert!(memory.rss_kib > 0 && memory.hwm_kib >= memory.rss_kib);
    }
}
