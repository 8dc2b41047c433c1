"""Query plans benchmark (issue 12): bulk actions computed by PostgreSQL vs fetching the rows into Python.

Not part of the test suite; it asserts nothing about timing and exits non-zero only when the two answers differ.

1. **One million orders in PostgreSQL** (``--rows``; generated server-side with ``generate_series``: 13 statuses,
   three stores of which two have overrides, shipments, channels, and one row in 1,000 with a NULL or undeclared
   status): ``policyengine.sql.bulk(conn, engine, "reset", member, ...)`` against the reference a host app would
   otherwise run, ``engine.bulk("reset", sql.fetch_orders(...), member)`` (every row fetched and evaluated in
   Python). Both results are checked equal first. Reported: wall time of each (median of ``--rounds`` rounds; the
   database's work is the point, so wall rather than process CPU time), their ratio, and Python's peak memory of
   each (``tracemalloc``, in a separate untimed run: tracing slows allocation down).
2. **Plan construction** for the shipped policies: ``engine.plan(action, user, state=...)`` for every action,
   state and role, every store at once (dispatching on store.id) and per store; median and worst µs per plan.

Reproduce::

    .venv/bin/python bench/sql_bench.py                    # 1,000,000 rows (~2-3 minutes here)
    .venv/bin/python bench/sql_bench.py --rows 100000      # quicker
    POLICYENGINE_TEST_POSTGRES_URL=postgresql+psycopg://user@host/db .venv/bin/python bench/sql_bench.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import policyengine
from policyengine import sql
from policyengine.runtime.plan import build_plan

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("POLICYENGINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STATUSES = ["New", "Pending", "Queued", "Bundled", "Routed", "Open", "Partially Shipped", "Shipped", "Error",
            "Skipped", "Closed", "Abandoned", "Archived"]


def _table(schema: str) -> tuple[sa.Table, dict[str, Any]]:
    table = sa.Table("orders", sa.MetaData(schema=schema), sa.Column("id", sa.Text, primary_key=True),
                     sa.Column("status", sa.Text), sa.Column("has_shipment", sa.Boolean),
                     sa.Column("sent_to_warehouse", sa.Boolean), sa.Column("store_id", sa.Text),
                     sa.Column("manual_fulfillment", sa.Boolean), sa.Column("channel", sa.Text))
    columns = {"order.status": table.c.status, "order.has_shipment": table.c.has_shipment,
               "order.sent_to_warehouse": table.c.sent_to_warehouse, "store.id": table.c.store_id,
               "store.manual_fulfillment": table.c.manual_fulfillment, "order.channel": table.c.channel}
    return table, columns


def _fill(conn: sa.Connection, schema: str, rows: int) -> None:
    statuses = "ARRAY[" + ", ".join(f"'{s}'" for s in STATUSES) + "]"
    conn.execute(sa.text(f"""
        INSERT INTO "{schema}".orders
        SELECT 'SO-' || lpad(g::text, 8, '0'),
               CASE WHEN g % 1000 = 0 THEN NULL WHEN g % 1000 = 1 THEN 'Shiped' ELSE ({statuses})[1 + g % 13] END,
               g % 13 IN (6, 7) OR g % 17 = 0, g % 13 IN (5, 6, 7, 11) OR g % 4 = 0,
               (ARRAY['acme', 'globex', 'no-override-store'])[1 + g % 3], g % 3 = 2,
               (ARRAY['shopify', 'amazon', 'woocommerce'])[1 + g % 3]
        FROM generate_series(1, :rows) AS g"""), {"rows": rows})
    conn.execute(sa.text(f'ANALYZE "{schema}".orders'))


def _timed(fn: Callable[[], Any], rounds: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def _peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def plan_times(engine: policyengine.Engine) -> dict[str, float]:
    """µs per plan over every action, state, role and store scope of the shipped policies: built from scratch
    (``build_plan`` without the engine's cache: the first call for a user) and through ``engine.plan`` (cached)."""
    cold, warm = [], []
    actions = sorted({a.id for s in (None, *engine.stores) for a in engine.store_policy(s).actions})
    for action in actions:
        for state in ("enabled", "disabled", "hidden", "visible"):
            for role in ("admin", "member", "viewer"):
                for store in (None, *engine.stores, "other"):
                    user = {"role": role}
                    for samples, build in ((cold, lambda: build_plan(engine, action, user, store=store, state=state)),  # noqa: B023 - called in this iteration
                                           (warm, lambda: engine.plan(action, user, store=store, state=state))):  # noqa: B023 - called in this iteration
                        build()
                        runs = []
                        for _ in range(5):  # the best of 5: the machine's other load is not the planner's cost
                            start = time.perf_counter_ns()
                            build()
                            runs.append((time.perf_counter_ns() - start) / 1000)
                        samples.append(min(runs))
    return {"plans": len(cold), "median_us": statistics.median(cold), "max_us": max(cold),
            "cached_median_us": statistics.median(warm), "cached_max_us": max(warm)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--action", default="reset")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    engine = policyengine.load(ROOT / "policies")
    user = {"role": "member"}
    figures: dict[str, Any] = {"rows": args.rows, "action": args.action}

    timing = plan_times(engine)
    figures["plan_construction"] = timing
    print(f"plan construction, shipped policies: {timing['plans']} plans, median {timing['median_us']:.0f} µs, "
          f"worst {timing['max_us']:.0f} µs from scratch; cached: median {timing['cached_median_us']:.0f} µs, "
          f"worst {timing['cached_max_us']:.0f} µs (target < 1 ms)")

    database = sa.create_engine(URL)
    schema = f"pe_bench_{uuid.uuid4().hex[:10]}"
    table, columns = _table(schema)
    try:
        with database.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            table.create(conn)
            start = time.perf_counter()
            _fill(conn, schema, args.rows)
            print(f"{args.rows:,} orders generated in PostgreSQL in {time.perf_counter() - start:.1f} s")
        with database.connect() as conn:
            in_db = lambda: sql.bulk(conn, engine, args.action, user, table, columns, table.c.id)  # noqa: E731
            in_python = lambda: engine.bulk(args.action, sql.fetch_orders(conn, engine, table, columns, table.c.id),  # noqa: E731
                                            user)
            db_times, db_result = _timed(in_db, args.rounds)
            py_times, py_result = _timed(in_python, args.rounds)
            if db_result != py_result:
                print("sql.bulk and engine.bulk DIFFER:", db_result.summary, py_result.summary, sep="\n  ")
                return 1
            db_peak, py_peak = _peak(in_db), _peak(in_python)
    finally:
        with database.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        database.dispose()
    db_s, py_s = statistics.median(db_times), statistics.median(py_times)
    figures.update({"sql_bulk_s": db_times, "fetch_and_engine_bulk_s": py_times, "ratio": py_s / db_s,
                    "sql_bulk_peak_bytes": db_peak, "fetch_and_engine_bulk_peak_bytes": py_peak,
                    "summary": db_result.summary})
    print(db_result.summary[:160] + ("..." if len(db_result.summary) > 160 else ""))
    print(f"  sql.bulk (computed by PostgreSQL)   {db_s:8.2f} s   Python peak {db_peak / 2**20:8.1f} MiB")
    print(f"  fetch rows + engine.bulk            {py_s:8.2f} s   Python peak {py_peak / 2**20:8.1f} MiB")
    print(f"  ratio: sql.bulk is {py_s / db_s:.1f}x faster (target >= 20x); rounds: "
          f"{', '.join(f'{t:.2f}' for t in db_times)} vs {', '.join(f'{t:.2f}' for t in py_times)} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
