#!/usr/bin/env python3
"""LangGraph side of the side-by-side workflow benchmark.

It times LangGraph (from PyPI) on the shapes the baton side runs, with one
checkpointer per run of the script:

  chain40   40 nodes in sequence (START -> n0 -> n1 -> ... -> n39 -> END)
  fan10     a root, 10 parallel leaves and a join (edges root -> each leaf,
  fan100    each leaf -> join: LangGraph's ordinary parallel branches, so the
  fan1000   leaves run in one superstep); 100 and 1000 leaves likewise

Each node either does nothing but return a one-key update, or awaits
asyncio.sleep(sleep_ms). The graph is async (async nodes, `ainvoke`) with the
async checkpointers: InMemorySaver, AsyncSqliteSaver (a fresh file in a temp
directory unless --sqlite-path is given) and AsyncPostgresSaver (`setup()` run
once). The state is one integer channel with an `operator.add` reducer, so the
parallel leaves' writes merge and the checkpointed state stays the same size
whatever the shape; after each run the count is checked against the number of
nodes.

Per shape and sleep: the graph is compiled once, run once to warm up, then
--repeats times, each with a fresh thread_id, timing `ainvoke` with
time.perf_counter. Reported per case:

  median_ms, p90_ms         wall time of one run (p90: nearest rank)
  critical_sleep_ms         the sleep on the critical path: 40 x sleep for the
                            chain, 3 x sleep for a fan (root, leaves, join)
  overhead_ms               median_ms - critical_sleep_ms
  per_task_overhead_ms      overhead_ms / tasks (chain: 40; fan: N + 2), i.e.
                            the sequential step overhead for the chain
  tasks_per_s               tasks / median (fan-out throughput for a no-op fan)

A table goes to stdout; --json writes the records (engine "langgraph",
checkpointer, shape, tasks, sleep_ms, repeats, median_ms, p90_ms, overhead_ms,
per_task_overhead_ms, tasks_per_s, langgraph_version, python_version, plus
api, durability, critical_sleep_ms, bare_sleep_ms and samples_ms).
bare_sleep_ms is the median wall time of ten bare asyncio.sleep(sleep_ms)
calls on the same loop: what it exceeds sleep_ms by is the timer's own
overshoot, which overhead_ms includes once per level of the critical path.

--durability is LangGraph's own switch: "sync" (the default here) persists each
step before the next one starts, which is what a durable engine promises;
LangGraph's default, "async", writes the checkpoint while the next step runs;
"exit" writes only at the end. It has no effect without a checkpointer.

For postgres the URL comes from --postgres-url, else $BATON_TEST_DATABASE_URL
(see scripts/test-postgres.sh). Unless --postgres-db is empty, the script
creates that database on the server if it is missing (default
"langgraph_bench"), empties its checkpoint tables and runs there, so nothing
else on the cluster is touched.

Run (after scripts/python-env.sh, which installs langgraph and the
checkpointers into .venv):

  .venv/bin/python bench/workflow/langgraph_bench.py --checkpointer memory
  .venv/bin/python bench/workflow/langgraph_bench.py --checkpointer sqlite \\
      --shapes chain40,fan10,fan100 --sleep-ms 0,50 --repeats 7 --json out.json
  eval "$(bash scripts/test-postgres.sh start)"
  .venv/bin/python bench/workflow/langgraph_bench.py --checkpointer postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import operator
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Annotated, Any, AsyncIterator, TypedDict
from urllib.parse import urlsplit, urlunsplit

# No tracing to LangSmith (it would add network calls to every run).
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"

from langgraph.graph import END, START, StateGraph  # noqa: E402

CHECKPOINTERS = ("none", "memory", "sqlite", "postgres")
SHAPES = ("chain40", "fan10", "fan100", "fan1000")
CHAIN_LENGTH = 40
API = "async"


class State(TypedDict):
    # Each node adds 1; parallel leaves' writes are summed by the reducer.
    count: Annotated[int, operator.add]


@dataclass
class Record:
    engine: str
    checkpointer: str
    shape: str
    tasks: int
    sleep_ms: float
    repeats: int
    median_ms: float
    p90_ms: float
    overhead_ms: float
    per_task_overhead_ms: float
    tasks_per_s: float
    langgraph_version: str
    python_version: str
    api: str
    durability: str | None
    critical_sleep_ms: float
    bare_sleep_ms: float | None
    samples_ms: list[float]


def make_node(sleep_s: float):
    if sleep_s > 0:

        async def node(state: State) -> dict[str, int]:
            await asyncio.sleep(sleep_s)
            return {"count": 1}

    else:

        async def node(state: State) -> dict[str, int]:
            return {"count": 1}

    return node


def build_graph(shape: str, sleep_s: float) -> tuple[StateGraph, int, int]:
    """The graph for a shape, its number of tasks, and its depth in levels."""
    graph = StateGraph(State)
    if shape == "chain40":
        names = [f"n{i}" for i in range(CHAIN_LENGTH)]
        for name in names:
            graph.add_node(name, make_node(sleep_s))
        graph.add_edge(START, names[0])
        for a, b in zip(names, names[1:]):
            graph.add_edge(a, b)
        graph.add_edge(names[-1], END)
        return graph, CHAIN_LENGTH, CHAIN_LENGTH
    if shape.startswith("fan"):
        leaves = int(shape[len("fan") :])
        graph.add_node("root", make_node(sleep_s))
        graph.add_node("join", make_node(sleep_s))
        graph.add_edge(START, "root")
        for i in range(leaves):
            leaf = f"leaf{i}"
            graph.add_node(leaf, make_node(sleep_s))
            graph.add_edge("root", leaf)
            graph.add_edge(leaf, "join")
        graph.add_edge("join", END)
        return graph, leaves + 2, 3
    raise ValueError(f"unknown shape {shape!r}")


async def bare_sleep_ms(sleep_ms: float, samples: int = 10) -> float | None:
    """Median wall time of one bare asyncio.sleep(sleep_ms) on this loop.

    The timer overshoots the asked sleep a little (more on a busy machine);
    that overshoot is part of overhead_ms as defined, and this shows how much.
    """
    if sleep_ms <= 0:
        return None
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        await asyncio.sleep(sleep_ms / 1000.0)
        times.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(times), 3)


def p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def prepare_postgres_database(url: str, database: str) -> str:
    """Creates `database` on the server of `url` if it is missing; its URL."""
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        )
        if await cur.fetchone() is None:
            await conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
            )
    return with_database(url, database)


async def empty_postgres_tables(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "TRUNCATE checkpoints, checkpoint_blobs, checkpoint_writes"
        )


@contextlib.asynccontextmanager
async def open_checkpointer(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[Any, str]]:
    """Yields the checkpointer (None for "none") and a line describing it."""
    kind = args.checkpointer
    if kind == "none":
        yield None, "no checkpointer"
    elif kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver(), "InMemorySaver"
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        with contextlib.ExitStack() as stack:
            path = args.sqlite_path
            if path is None:
                tmp = stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="langgraph-bench-")
                )
                path = os.path.join(tmp, "checkpoints.sqlite")
            async with AsyncSqliteSaver.from_conn_string(path) as saver:
                await saver.setup()
                yield saver, f"AsyncSqliteSaver at {path}"
    elif kind == "postgres":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        url = args.postgres_url or os.environ.get("BATON_TEST_DATABASE_URL")
        if not url:
            sys.exit(
                "postgres: give --postgres-url or set BATON_TEST_DATABASE_URL "
                '(eval "$(bash scripts/test-postgres.sh start)")'
            )
        if args.postgres_db:
            url = await prepare_postgres_database(url, args.postgres_db)
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            await saver.setup()
            if args.postgres_db:
                await empty_postgres_tables(url)
            where = urlsplit(url)
            yield saver, (
                f"AsyncPostgresSaver at {where.hostname}:{where.port}{where.path}"
            )
    else:
        raise ValueError(kind)


async def run_case(
    shape: str,
    sleep_ms: float,
    checkpointer: Any,
    args: argparse.Namespace,
    versions: tuple[str, str],
) -> Record:
    graph, tasks, depth = build_graph(shape, sleep_ms / 1000.0)
    app = graph.compile(checkpointer=checkpointer)
    kwargs: dict[str, Any] = {}
    if checkpointer is not None:
        kwargs["durability"] = args.durability

    async def once() -> float:
        config = {
            "configurable": {"thread_id": str(uuid.uuid4())},
            "recursion_limit": tasks + 10,
        }
        start = time.perf_counter()
        out = await app.ainvoke({"count": 0}, config, **kwargs)
        elapsed = time.perf_counter() - start
        if out["count"] != tasks:
            raise RuntimeError(f"{shape}: {out['count']} of {tasks} nodes ran")
        return elapsed * 1000.0

    await once()  # warm-up
    samples = [await once() for _ in range(args.repeats)]

    median = statistics.median(samples)
    critical = depth * sleep_ms
    overhead = median - critical
    return Record(
        engine="langgraph",
        checkpointer=args.checkpointer,
        shape=shape,
        tasks=tasks,
        sleep_ms=sleep_ms,
        repeats=args.repeats,
        median_ms=round(median, 3),
        p90_ms=round(p90(samples), 3),
        overhead_ms=round(overhead, 3),
        per_task_overhead_ms=round(overhead / tasks, 4),
        tasks_per_s=round(tasks / (median / 1000.0), 1),
        langgraph_version=versions[0],
        python_version=versions[1],
        api=API,
        durability=args.durability if checkpointer is not None else None,
        critical_sleep_ms=critical,
        bare_sleep_ms=await bare_sleep_ms(sleep_ms),
        samples_ms=[round(s, 3) for s in samples],
    )


TABLE_HEADER = (
    f"{'checkpointer':<12} {'shape':<8} {'tasks':>5} {'sleep':>6} "
    f"{'median ms':>10} {'p90 ms':>10} {'overhead':>10} "
    f"{'per task':>9} {'tasks/s':>9}"
)


def print_row(r: Record) -> None:
    print(
        f"{r.checkpointer:<12} {r.shape:<8} {r.tasks:>5} {r.sleep_ms:>6g} "
        f"{r.median_ms:>10.2f} {r.p90_ms:>10.2f} {r.overhead_ms:>10.2f} "
        f"{r.per_task_overhead_ms:>9.3f} {r.tasks_per_s:>9.1f}",
        flush=True,
    )


def parse_list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise argparse.ArgumentTypeError(
                    f"{item!r} is not one of {', '.join(allowed)}"
                )
    return items


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time LangGraph on the workflow benchmark's shapes.",
    )
    p.add_argument("--checkpointer", choices=CHECKPOINTERS, required=True)
    p.add_argument(
        "--postgres-url",
        help="PostgreSQL URL (default: $BATON_TEST_DATABASE_URL)",
    )
    p.add_argument(
        "--postgres-db",
        default="langgraph_bench",
        help="database to create (if missing) and run in on the server of "
        "the URL; empty to use the URL's own database (default: %(default)s)",
    )
    p.add_argument(
        "--sqlite-path",
        help="SQLite file (default: a fresh file in a temporary directory)",
    )
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--shapes",
        type=lambda s: parse_list(s, SHAPES),
        default=["chain40", "fan10", "fan100"],
        help=f"comma-separated, of {', '.join(SHAPES)} "
        "(default: chain40,fan10,fan100)",
    )
    p.add_argument(
        "--sleep-ms",
        type=lambda s: [float(x) for x in parse_list(s)],
        default=[0.0, 50.0],
        help="comma-separated task sleeps in ms (default: 0,50)",
    )
    p.add_argument(
        "--durability",
        choices=("sync", "async", "exit"),
        default="sync",
        help="LangGraph durability mode when checkpointing (default: %(default)s)",
    )
    p.add_argument("--json", help="write the records here as a JSON list")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


async def main_async(args: argparse.Namespace) -> list[Record]:
    versions = (metadata.version("langgraph"), platform.python_version())
    async with open_checkpointer(args) as (checkpointer, described):
        durability = (
            f", durability={args.durability}" if checkpointer is not None else ""
        )
        print(
            f"langgraph {versions[0]}, python {versions[1]}, {API} graph "
            f"(ainvoke, async nodes), {described}{durability}, "
            f"repeats={args.repeats} after 1 warm-up",
            flush=True,
        )
        print(TABLE_HEADER)
        print("-" * len(TABLE_HEADER), flush=True)
        records = []
        for shape in args.shapes:
            for sleep_ms in args.sleep_ms:
                record = await run_case(shape, sleep_ms, checkpointer, args, versions)
                print_row(record)
                records.append(record)
        return records


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    records = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in records], f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
