#!/usr/bin/env python3
"""Markdown tables from the JSON the benchmark scripts write.

    report.py gateway bench/results/gateway-DATE.json
    report.py startup bench/results/startup-DATE.json

Kept apart from the shell scripts so a results file can be re-tabled later
without re-running anything.
"""

import json
import sys


def ms(micros):
    """Microseconds as milliseconds with microsecond precision."""
    return "-" if micros is None else f"{micros / 1000:.3f}"


def added(value, floor):
    if value is None or floor is None:
        return "-"
    return f"{(value - floor) / 1000:+.3f}"


def machine_line(machine):
    return (
        f"{machine['nproc']} cores ({machine['cpu']}), "
        f"{machine['mem_kib'] / 1024 / 1024:.1f} GiB RAM, kernel {machine['kernel']}, "
        f"{machine['rustc']}, commit {machine['commit']}"
    )


def errors_cell(report):
    if not report["error_count"]:
        return "0"
    kinds = ", ".join(f"{kind} {count}" for kind, count in report["errors"].items())
    return f"{report['error_count']} ({kinds})"


def other_cpu(run, ours_s):
    """Cores busy with anything but the servers and the generator, on average
    over the run; '-' for results files older than this measurement."""
    if "all_processes_cpu_s" not in run:
        return "-"
    return f"{max(run['all_processes_cpu_s'] - ours_s, 0) / run['wall_s']:.2f}"


def gateway(results):
    runs = results["runs"]
    floor = {
        (run["mode"], run["rate"]): run["report"]["latency_us"]
        for run in runs
        if run["target"] == "direct"
    }
    print(f"Gateway run {results['date']}: {machine_line(results['machine'])}; "
          f"LiteLLM {results['litellm_version']}.")
    print()
    print("Latency from scheduled send to the complete answer (`[DONE]` for streams), in ms; "
          "*added* is the target's percentile minus the direct percentile at the same rate and mode.")
    print()
    print("| target | mode | rate (rps) | achieved (rps) | errors | p50 | p99 | added p50 | added p99 |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for run in runs:
        report = run["report"]
        latency = report["latency_us"] or {}
        base = floor.get((run["mode"], run["rate"])) or {}
        direct = run["target"] == "direct"
        print(
            f"| {run['target']} | {run['mode']} | {run['rate']} | {report['achieved_rps']:.1f} "
            f"| {errors_cell(report)} | {ms(latency.get('p50'))} | {ms(latency.get('p99'))} "
            f"| {'' if direct else added(latency.get('p50'), base.get('p50'))} "
            f"| {'' if direct else added(latency.get('p99'), base.get('p99'))} |"
        )
    print()
    print("Detail: p90/p99.9/max latency, first content (streams), the generator's own dispatch lag, "
          "CPU per request (warm-up included) of each process in the chain, and the CPU anything "
          "else on the machine used during the run (in cores; near 0 means an undisturbed run).")
    print()
    print("| target | mode | rate | p90 | p99.9 | max | first content p50 / p99 | dispatch lag p50 / p99 "
          "| CPU µs/req: scripted / baton / litellm / generator | peak in flight | other CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        report = run["report"]
        latency = report["latency_us"] or {}
        first = report["first_content_us"] or {}
        lag = report["dispatch_lag_us"] or {}
        sent = run["requests_sent_incl_warmup"]
        cpu = run["server_cpu_s"]
        per_request = [cpu["scripted"], cpu["baton"], cpu["litellm"], report.get("generator_cpu_s") or 0]
        cpu_cell = " / ".join(f"{seconds * 1e6 / sent:.0f}" for seconds in per_request)
        first_cell = f"{ms(first.get('p50'))} / {ms(first.get('p99'))}" if first else "-"
        print(
            f"| {run['target']} | {run['mode']} | {run['rate']} | {ms(latency.get('p90'))} "
            f"| {ms(latency.get('p999'))} | {ms(latency.get('max'))} | {first_cell} "
            f"| {ms(lag.get('p50'))} / {ms(lag.get('p99'))} | {cpu_cell} | {report['peak_in_flight']} "
            f"| {other_cpu(run, sum(per_request))} |"
        )


def startup(results):
    report = results["report"]
    print(f"Start-up run {results['date']}: {machine_line(results['machine'])}.")
    print()
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| start to healthy /health, median of {report['runs']} | {report['median_ms']:.1f} ms | ≤ 100 ms |")
    print(f"| start to healthy /health, p95 | {report['p95_ms']:.1f} ms | |")
    print(f"| start to healthy /health, max | {report['max_ms']:.1f} ms | |")
    print(f"| idle RSS after {report['idle_secs']} s (VmRSS) | {report['idle_rss_mb']:.1f} MB | ≤ 30 MB |")
    print(f"| peak RSS so far (VmHWM) | {report['idle_peak_rss_mb']:.1f} MB | |")
    exits = "all 0" if report["all_exited_zero"] else str(report["exit_codes"])
    print(f"| exit status after SIGTERM | {exits} | 0 |")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("gateway", "startup"):
        sys.exit(__doc__)
    with open(sys.argv[2], encoding="utf-8") as f:
        results = json.load(f)
    {"gateway": gateway, "startup": startup}[sys.argv[1]](results)


if __name__ == "__main__":
    main()
