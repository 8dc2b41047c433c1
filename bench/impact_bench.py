"""Impact benchmark (issues 26 and 24 point 5): a policy change's impact, and counts-and-ids bulk, in PostgreSQL.

Not part of the test suite; it asserts nothing about timing and exits non-zero only when two answers differ.

One million orders (``--rows``) generated server-side as ``bench/sql_bench.py`` does (three stores, two with
overrides, one row in 1,000 with a NULL or undeclared status); OLD is the shipped policies, NEW the change of
docs/impact.md (``docs/examples/impact_demo.py``: a wider Delete, Archive hidden for Closed orders, Edit reading
``has_shipment``, globex's override dropped). Each figure is the median of ``--rounds`` wall times:

1. **impact, one question** (``sql.impact`` for one action and profile: one query) beside the floor, one plain
   ``SELECT count(*)`` of the same table (aim: within 3x), and beside a hand-written ``GROUP BY`` of the fact
   columns with ``count(*)`` and ``min(id)`` (what the query's one pass does before deciding); then every action
   and role of the shipped policies beside as many scans; then the reference a host would otherwise run:
   ``sql.fetch_orders`` + ``evaluate`` with
   both engines on every row (one round; its answer is checked equal to ``sql.impact``'s).
2. **counts-and-ids bulk** (``sql.bulk_counts``, Reset for a member) beside hand-written SQL for the same answer
   (counts per reason and the applicable ids, one hashed GROUP BY; aim: within 1.3x), and beside ``sql.bulk``.

Reproduce::

    .venv/bin/python bench/impact_bench.py                  # 1,000,000 rows (a few minutes here)
    .venv/bin/python bench/impact_bench.py --rows 100000    # quicker
"""

from __future__ import annotations

import argparse
import gc
import runpy
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import policyengine
from policyengine import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from sql_bench import URL, _fill, _table  # noqa: E402 - the same generated table

ROLES = ("admin", "member", "viewer")


def _timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _reference(conn: sa.Connection, old: policyengine.Engine, new: policyengine.Engine, table: Any,
               columns: dict[str, Any], action: str, user: Any) -> dict[tuple[str, str], int]:
    """Counts per transition from fetching every row and evaluating both engines in Python."""
    out: dict[tuple[str, str], int] = {}
    for order in sql.fetch_orders(conn, new, table, columns, table.c.id):
        a, b = old.evaluate(order, user).get(action), new.evaluate(order, user).get(action)
        key = (a.state if a else "hidden", b.state if b else "hidden")
        if key[0] != key[1]:
            out[key] = out.get(key, 0) + 1
    return out


def _hand_written(table: Any) -> Any:
    """Reset for a member, by hand: 0 applies, 1 the base's shipment guard, 2 acme's rewording of it, 3 a NULL
    has_shipment, 4 a NULL store id (the generated table has neither NULL, the SQL still decides them)."""
    reason = sa.case((table.c.store_id.is_(None), 4), (table.c.has_shipment.is_(None), 3),
                     (table.c.has_shipment, sa.case((table.c.store_id == "acme", 2), else_=1)), else_=0)
    inner = sa.select(reason.label("r"), table.c.id).subquery()
    return sa.select(inner.c.r, sa.func.count(), sa.func.array_agg(inner.c.id).filter(inner.c.r == 0)).group_by(inner.c.r)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--action", default="delete", help="the action of the one-question figure (default: delete)")
    args = parser.parse_args(argv)
    demo = runpy.run_path(str(ROOT / "docs" / "examples" / "impact_demo.py"))
    with tempfile.TemporaryDirectory() as tmp:
        demo["change"](ROOT / "policies", Path(tmp) / "new")
        old, new = policyengine.load(ROOT / "policies"), policyengine.load(Path(tmp) / "new")
    member = {"member": {"role": "member"}}
    database = sa.create_engine(URL)
    schema = f"pe_impact_{uuid.uuid4().hex[:10]}"
    table, columns = _table(schema)
    try:
        with database.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            table.create(conn)
            start = time.perf_counter()
            _fill(conn, schema, args.rows)
            print(f"{args.rows:,} orders generated in PostgreSQL in {time.perf_counter() - start:.1f} s")
        with database.connect() as conn:
            sql.install(conn)
            scan, total = _timed(lambda: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one(),
                                 args.rounds)
            keys = [table.c[n] for n in ("status", "has_shipment", "sent_to_warehouse", "store_id", "manual_fulfillment",
                                         "channel")]
            grouping = sa.select(*keys, sa.func.count(), sa.func.min(table.c.id)).group_by(*keys)
            grouped, _ = _timed(lambda: conn.execute(grouping).all(), args.rounds)
            one, result = _timed(lambda: sql.impact(conn, old, new, table, columns, table.c.id, users=member,
                                                    actions=[args.action]), args.rounds)
            every, full = _timed(lambda: sql.impact(conn, old, new, table, columns, table.c.id,
                                                    users={r: {"role": r} for r in ROLES}), 1)
            questions = len({(a.action, a.profile) for a in full.actions})
            print(f"\nimpact of docs/impact.md's change over {total:,} orders (median of {args.rounds}):")
            print(f"  SELECT count(*) (the floor)                  {scan:8.3f} s")
            print(f"  GROUP BY the six fact columns, by hand       {grouped:8.3f} s   {grouped / scan:5.1f}x the scan"
                  " (what one pass that groups costs)")
            print(f"  sql.impact, {args.action} for a member (1 query)     {one:8.3f} s   {one / scan:5.1f}x the scan"
                  " (aim <= 3x)")
            print(f"  sql.impact, every action and role            {every:8.3f} s   {every / scan / questions:5.1f}x a scan"
                  f" per answer ({questions} answers, {len(full.actions)} entries)")
            start = time.perf_counter()
            want = _reference(conn, old, new, table, columns, args.action, {"role": "member"})
            python = time.perf_counter() - start
            got = {(t.old, t.new): t.count for t in result.actions[0].transitions}
            print(f"  fetch_orders + evaluate both, in Python      {python:8.3f} s   {python / one:5.1f}x sql.impact"
                  f" (answers equal: {'yes' if got == want else 'NO'})")
            if got != want:
                print("  DIFFER:", got, want)
                return 1

            user = {"role": "member"}
            hand, rows = _timed(lambda: conn.execute(_hand_written(table)).all(), args.rounds)
            counts_s, counts = _timed(lambda: sql.bulk_counts(conn, old, "reset", user, table, columns, table.c.id),
                                      args.rounds)
            bulk_s, bulk = _timed(lambda: sql.bulk(conn, old, "reset", user, table, columns, table.c.id), args.rounds)
            applicable = next((r[2] for r in rows if r[0] == 0), None) or []
            same = (sorted(counts.applicable_ids) == sorted(applicable) == sorted(map(str, bulk.applicable_ids))
                    and sorted(n for _, n in counts.skipped) == sorted(r[1] for r in rows if r[0] != 0))
            print(f"\ncounts-and-ids bulk, Reset for a member (median of {args.rounds}):")
            print(f"  hand-written SQL (the floor)                 {hand:8.3f} s")
            print(f"  sql.bulk_counts                              {counts_s:8.3f} s   {counts_s / hand:5.2f}x (aim <= 1.3x)")
            print(f"  sql.bulk (every row's index and id)          {bulk_s:8.3f} s   {bulk_s / hand:5.2f}x"
                  f"   (answers equal: {'yes' if same else 'NO'})")
            if not same:
                return 1
    finally:
        with database.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
