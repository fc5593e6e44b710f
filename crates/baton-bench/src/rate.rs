//! `baton-loadgen rate`: an open-loop, fixed-rate load generator for OpenAI
//! chat completions.
//!
//! Request `i` is *scheduled* at `start + i / rate`, whatever happened to the
//! requests before it, and its latency is measured from that scheduled
//! instant. A closed-loop generator (send, wait, send) or one that measures
//! from the actual send time lets a stalled server delay the next sends and
//! so erases the stall from the record (coordinated omission). Here a stall
//! shows up in every request scheduled during it.
//!
//! The schedule runs on its own OS thread sleeping with `std::thread::sleep`
//! (hrtimer precision, tens of microseconds) because tokio's timer wheel
//! rounds to whole milliseconds, which at 1,000 requests/s would add up to a
//! millisecond of generator-made latency to every request. Whatever delay
//! remains between the scheduled instant and the moment the request's task
//! starts running is reported separately as `dispatch_lag_us`, so the
//! generator's own share of the latency is visible.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::RateArgs;
use crate::sse::Scanner;
use crate::stats::{Summary, micros_histogram, record};

/// Delay between deciding to start and the first scheduled send, so the
/// scheduler thread is running before its first deadline.
const LEAD_IN: Duration = Duration::from_millis(20);

pub fn main(args: RateArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads as usize)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(ExitCode::SUCCESS)
}

/// When each request is due: `start + i / rate` for `i` in `0..total`.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: Instant,
    rate: f64,
    /// Requests scheduled in all, warm-up included.
    total: u64,
    /// The first `warmup` requests are sent but not recorded.
    warmup: u64,
}

impl Plan {
    fn new(start: Instant, rate: f64, warmup_secs: u64, duration_secs: u64) -> Plan {
        let count = |secs: u64| (secs as f64 * rate).round() as u64;
        let warmup = count(warmup_secs);
        Plan {
            start,
            rate,
            total: warmup + count(duration_secs).max(1),
            warmup,
        }
    }

    /// Computed from `i` rather than by adding an interval, so rounding never
    /// accumulates into drift over a long run.
    fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    fn measure_start(&self) -> Instant {
        self.due(self.warmup)
    }
}

/// Everything a request task needs, shared by all of them.
struct Shared {
    client: reqwest::Client,
    url: reqwest::Url,
    body: Bytes,
    auth: Option<HeaderValue>,
    stream: bool,
    timeout: Duration,
    /// Bounds requests in flight; a request waits here for a slot.
    slots: Semaphore,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Why a request did not produce a complete, well-formed answer. The
/// `Display` form is the key in the report's `errors` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The TCP connection could not be made.
    Connect,
    /// Not finished within `--timeout-ms` of its scheduled time.
    Timeout,
    /// A non-2xx status.
    Status(u16),
    /// The request or response failed mid-way (reset, truncated body).
    Transport,
    /// A 2xx whose body was not a chat completion.
    InvalidBody,
    /// A stream that ended without `data: [DONE]`.
    NoDone,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect => f.write_str("connect"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Status(code) => write!(f, "status_{code}"),
            Failure::Transport => f.write_str("transport"),
            Failure::InvalidBody => f.write_str("invalid_body"),
            Failure::NoDone => f.write_str("no_done"),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Failure {
        if e.is_connect() {
            Failure::Connect
        } else if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Transport
        }
    }
}

/// A successful request's timings, all from its scheduled instant.
#[derive(Debug, Clone, Copy)]
struct Timing {
    total: Duration,
    /// Streams only: when the first non-empty content delta arrived.
    first_content: Option<Duration>,
    finished: Instant,
}

/// What one request task sends back to the collector.
#[derive(Debug)]
struct Outcome {
    measured: bool,
    /// From the scheduled instant to the task starting to run.
    dispatch_lag: Duration,
    result: Result<Timing, Failure>,
}

/// Holds one unit of `in_flight` for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&shared.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run(args: &RateArgs) -> anyhow::Result<Report> {
    let cap = args.concurrency_cap as usize;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(cap)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .context("cannot build the HTTP client")?;
    let body = json!({
        "model": args.model,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": args.stream,
    });
    let auth = args
        .token
        .as_deref()
        .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
        .transpose()
        .context("--token is not a valid header value")?;
    let shared = Arc::new(Shared {
        client,
        url: args.url.clone(),
        body: Bytes::from(serde_json::to_vec(&body)?),
        auth,
        stream: args.stream,
        timeout: Duration::from_millis(args.timeout_ms),
        slots: Semaphore::new(cap),
        in_flight: AtomicUsize::new(0),
        peak_in_flight: AtomicUsize::new(0),
    });
    let plan = Plan::new(
        Instant::now() + LEAD_IN,
        args.rate,
        args.warmup,
        args.duration,
    );
    let (outcomes, mut collect) = mpsc::unbounded_channel();
    let scheduler = spawn_scheduler(plan, shared.clone(), outcomes)?;

    // Every task ends by its deadline and then drops its sender, and the
    // scheduler drops the last one when the plan is exhausted, so this loop
    // ends no later than the plan's last due time plus the timeout.
    let mut tally = Tally::new();
    while let Some(outcome) = collect.recv().await {
        tally.add(outcome);
    }
    scheduler
        .join()
        .map_err(|_| anyhow::anyhow!("the scheduler thread panicked"))?;
    let peak_in_flight = shared.peak_in_flight.load(Ordering::Relaxed);
    Ok(tally.report(args, &plan, peak_in_flight, own_cpu_seconds()))
}

/// CPU (user + system) this process has used, warm-up included: on a small
/// machine the generator competes with the servers it measures, and this
/// says by how much.
fn own_cpu_seconds() -> Option<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(seconds(usage.user_time()) + seconds(usage.system_time()))
}

/// Starts the thread that releases each request at its due time.
fn spawn_scheduler(
    plan: Plan,
    shared: Arc<Shared>,
    outcomes: mpsc::UnboundedSender<Outcome>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("loadgen-schedule".into())
        .spawn(move || {
            // Linux lets a sleeping thread wake up to 50 µs late by default
            // so timers can be batched; this thread's whole job is waking on
            // time. Best effort: without it the lag is larger but reported.
            let _ = nix::sys::prctl::set_timerslack(1);
            for i in 0..plan.total {
                let due = plan.due(i);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                // Behind schedule (the machine is saturated), requests go
                // out back to back; their latency still counts from `due`.
                let shared = shared.clone();
                let outcomes = outcomes.clone();
                let measured = i >= plan.warmup;
                runtime.spawn(async move {
                    let outcome = one_request(&shared, due, measured).await;
                    // The collector outlives every sender; a send cannot fail
                    // while it is listening.
                    let _ = outcomes.send(outcome);
                });
            }
        })
        .context("cannot start the scheduler thread")
}

async fn one_request(shared: &Shared, due: Instant, measured: bool) -> Outcome {
    let dispatch_lag = due.elapsed();
    let deadline = tokio::time::Instant::from_std(due + shared.timeout);
    let result = tokio::time::timeout_at(deadline, exchange(shared, due))
        .await
        .unwrap_or(Err(Failure::Timeout));
    Outcome {
        measured,
        dispatch_lag,
        result,
    }
}

/// One POST, read to the end. The slot and the connection are released when
/// this future ends or is dropped at the deadline.
async fn exchange(shared: &Shared, due: Instant) -> Result<Timing, Failure> {
    let _slot = shared
        .slots
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let _in_flight = InFlight::enter(shared);
    let mut request = shared
        .client
        .post(shared.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(shared.body.clone());
    if let Some(auth) = &shared.auth {
        request = request.header(AUTHORIZATION, auth.clone());
    }
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        // Read the error body so the connection can be reused.
        let _ = response.bytes().await;
        return Err(Failure::Status(status.as_u16()));
    }
    if shared.stream {
        read_stream(response, due).await
    } else {
        let body = response.bytes().await?;
        let finished = Instant::now();
        let valid = serde_json::from_slice::<Value>(&body)
            .is_ok_and(|completion| completion.pointer("/choices/0/message").is_some());
        if !valid {
            return Err(Failure::InvalidBody);
        }
        Ok(Timing {
            total: finished - due,
            first_content: None,
            finished,
        })
    }
}

/// Reads an SSE body chunk by chunk, timing the first content delta and
/// `[DONE]`, then drains whatever follows so the connection goes back to
/// the pool.
async fn read_stream(mut response: reqwest::Response, due: Instant) -> Result<Timing, Failure> {
    let mut scanner = Scanner::default();
    let mut first_content = None;
    let mut done_at = None;
    while let Some(chunk) = response.chunk().await? {
        let now = Instant::now();
        let progress = scanner.feed(&chunk);
        if progress.first_content {
            first_content = Some(now - due);
        }
        if progress.done {
            done_at = Some(now);
        }
    }
    let finished = done_at.ok_or(Failure::NoDone)?;
    if first_content.is_none() {
        return Err(Failure::InvalidBody);
    }
    Ok(Timing {
        total: finished - due,
        first_content,
        finished,
    })
}

/// The collector's running totals over measured requests.
struct Tally {
    latency: Histogram<u64>,
    first_content: Histogram<u64>,
    dispatch_lag: Histogram<u64>,
    scheduled: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    last_finish: Option<Instant>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: micros_histogram(),
            first_content: micros_histogram(),
            dispatch_lag: micros_histogram(),
            scheduled: 0,
            ok: 0,
            errors: BTreeMap::new(),
            last_finish: None,
        }
    }

    fn add(&mut self, outcome: Outcome) {
        if !outcome.measured {
            return;
        }
        self.scheduled += 1;
        record(&mut self.dispatch_lag, outcome.dispatch_lag);
        match outcome.result {
            Ok(timing) => {
                self.ok += 1;
                record(&mut self.latency, timing.total);
                if let Some(first) = timing.first_content {
                    record(&mut self.first_content, first);
                }
                self.last_finish = self.last_finish.max(Some(timing.finished));
            }
            Err(failure) => *self.errors.entry(failure.to_string()).or_default() += 1,
        }
    }

    fn report(
        self,
        args: &RateArgs,
        plan: &Plan,
        peak_in_flight: usize,
        generator_cpu_s: Option<f64>,
    ) -> Report {
        // Successful answers per second over the measured window, stretched
        // to the last answer when the server fell behind, so a server that
        // cannot keep up shows a rate below the one asked for.
        let window = Duration::from_secs(args.duration).max(
            self.last_finish
                .map_or(Duration::ZERO, |last| last - plan.measure_start()),
        );
        Report {
            url: args.url.to_string(),
            model: args.model.clone(),
            stream: args.stream,
            rate_rps: args.rate,
            warmup_s: args.warmup,
            duration_s: args.duration,
            concurrency_cap: args.concurrency_cap,
            timeout_ms: args.timeout_ms,
            threads: args.threads,
            scheduled: self.scheduled,
            ok: self.ok,
            error_count: self.errors.values().sum(),
            errors: self.errors,
            achieved_rps: self.ok as f64 / window.as_secs_f64(),
            peak_in_flight,
            latency_us: Summary::of(&self.latency),
            first_content_us: Summary::of(&self.first_content),
            dispatch_lag_us: Summary::of(&self.dispatch_lag),
            generator_cpu_s,
        }
    }
}

/// The result of one `rate` run; its JSON form is what `bench/` scripts keep.
#[derive(Debug, Serialize)]
struct Report {
    url: String,
    model: String,
    stream: bool,
    rate_rps: f64,
    warmup_s: u64,
    duration_s: u64,
    concurrency_cap: u32,
    timeout_ms: u64,
    threads: u32,
    /// Requests scheduled inside the measured window.
    scheduled: u64,
    ok: u64,
    error_count: u64,
    errors: BTreeMap<String, u64>,
    achieved_rps: f64,
    peak_in_flight: usize,
    /// Scheduled instant to the complete answer (`[DONE]` for streams).
    latency_us: Option<Summary>,
    /// Scheduled instant to the first content delta; streams only.
    first_content_us: Option<Summary>,
    /// Scheduled instant to the request's task starting: the generator's
    /// own contribution to `latency_us`.
    dispatch_lag_us: Option<Summary>,
    /// CPU seconds the generator itself used over the whole run.
    generator_cpu_s: Option<f64>,
}

impl Report {
    fn text(&self) -> String {
        let mode = if self.stream { "stream" } else { "whole" };
        let mut out = format!(
            "{} {} at {} rps for {} s: {} scheduled, {} ok, {} errors, {:.1} rps achieved, peak {} in flight\n",
            self.url,
            mode,
            self.rate_rps,
            self.duration_s,
            self.scheduled,
            self.ok,
            self.error_count,
            self.achieved_rps,
            self.peak_in_flight,
        );
        if let Some(cpu) = self.generator_cpu_s {
            out += &format!("  generator used {cpu:.2} CPU s\n");
        }
        for (kind, count) in &self.errors {
            out += &format!("  error {kind}: {count}\n");
        }
        let rows = [
            ("latency", &self.latency_us),
            ("first content", &self.first_content_us),
            ("dispatch lag", &self.dispatch_lag_us),
        ];
        for (name, summary) in rows {
            if let Some(s) = summary {
                out += &format!(
                    "  {name:<14} µs  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
                    s.p50, s.p90, s.p99, s.p999, s.max
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_spaces_requests_evenly_and_counts_warmup_separately() {
        let start = Instant::now();
        let plan = Plan::new(start, 1000.0, 3, 15);
        assert_eq!(plan.warmup, 3000);
        assert_eq!(plan.total, 18_000);
        assert_eq!(plan.due(1) - start, Duration::from_millis(1));
        assert_eq!(plan.measure_start() - start, Duration::from_secs(3));
        assert_eq!(plan.due(17_999) - start, Duration::from_micros(17_999_000));
    }

    #[test]
    fn a_fractional_rate_still_schedules_at_least_one_request() {
        let plan = Plan::new(Instant::now(), 0.1, 0, 1);
        assert_eq!(plan.total, 1);
    }

    #[test]
    fn failures_have_stable_report_keys() {
        assert_eq!(Failure::Status(503).to_string(), "status_503");
        assert_eq!(Failure::NoDone.to_string(), "no_done");
        assert_eq!(Failure::Connect.to_string(), "connect");
    }
}
