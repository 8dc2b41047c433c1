"""Plan time and SQL size (issue 21): for the shipped policies (every action, state, role and store scope) and for
the worst case the plan budget admits (the deepest nested and/or guard whose plan and reasons fit
``PLAN_BUDGET``), from scratch (no plan cache): ``engine.plan`` + ``build_reasons`` time, and the PostgreSQL text
of ``sql.where`` and ``sql.reason`` (printed with literal binds) with the time to compile it. The aim: under 50 ms
and under 1 MB; each figure is printed beside the aim as a ratio.

    .venv/bin/python bench/plan_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import policyengine
from policyengine import sql as psql
from policyengine.runtime.plan import PLAN_BUDGET, PlanError, build_plan, build_reasons

ROOT = Path(__file__).resolve().parent.parent
AIM_MS, AIM_BYTES = 50.0, 1_000_000
ROLES = ({"role": "admin"}, {"role": "member"}, {"role": "viewer"})


def _best(rounds: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best * 1000, out


def _sql(element: Any) -> str:
    return str(element.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[no-untyped-call]


def _columns(engine: policyengine.Engine) -> dict[str, Any]:
    names = {f.name for s in (None, *engine.stores) for f in engine.store_policy(s).facts if f.source[:1] != ("user",)}
    return {n: sa.column(n.replace(".", "_")) for n in names}


def _measure(engine: policyengine.Engine, action: str, user: Any, store: str | None, rounds: int) -> dict[str, float]:
    columns = _columns(engine)
    plan_ms, plan = _best(rounds, lambda: build_plan(engine, action, user, store=store))
    reasons_ms, _ = _best(rounds, lambda: build_reasons(engine, action, user, store=store))
    where_ms, where = _best(rounds, lambda: _sql(psql.where(plan, columns)))
    reason_ms, reason = _best(rounds, lambda: _sql(psql.reason(engine, action, user, columns, store=store)))
    built = psql.where(plan, columns), psql.reason(engine, action, user, columns, store=store)
    compile_ms, _ = _best(rounds, lambda: [_sql(b) for b in built])  # SQLAlchemy's compilation alone
    return {"plan_ms": plan_ms + reasons_ms, "sql_ms": where_ms + reason_ms, "bytes": len(where) + len(reason),
            "compile_ms": compile_ms}


def _nested(depth: int) -> str:
    condition = "order.n > 0"
    for i in range(depth):
        condition = f"({condition} and order.m > {i}) or order.k < {i}"
    return condition


def _worst(directory: Path) -> tuple[policyengine.Engine, int]:
    """The deepest nested guard whose plan fits the budget."""
    best = None
    for depth in range(4, 40):
        path = directory / f"d{depth}.yaml"
        path.write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\nname: p\nversion: 1\nfacts:\n"
                        "  order.n: {type: number}\n  order.m: {type: number}\n  order.k: {type: number}\n"
                        "actions:\n  go:\n    label: Go\n    allow: \"true\"\n    deny:\n"
                        f"      - id: g\n        when: \"{_nested(depth)}\"\n        reason: No.\n")
        try:
            engine = policyengine.load(path)
            build_reasons(engine, "go", {})
            build_plan(engine, "go", {})
        except (PlanError, policyengine.PolicyError):
            break
        best = (engine, depth)
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = policyengine.load(ROOT / "policies")
    actions = sorted({a.id for s in (None, *engine.stores) for a in engine.store_policy(s).actions})
    rows = [_measure(engine, a, u, s, args.rounds) for a in actions for u in ROLES for s in (None, *engine.stores)]
    worst = max(rows, key=lambda r: r["plan_ms"] + r["sql_ms"])
    biggest = max(r["bytes"] for r in rows)
    print(f"shipped policies: {len(rows)} (action, role, store) plans with their reasons, best of {args.rounds}")
    print(f"  slowest plan+reasons {worst['plan_ms']:.2f} ms ({worst['plan_ms'] / AIM_MS:.3f}x the 50 ms aim), "
          f"its SQL compiled in {worst['sql_ms']:.1f} ms; largest SQL {biggest:,} bytes "
          f"({biggest / AIM_BYTES:.3f}x the 1 MB aim)")
    with tempfile.TemporaryDirectory() as tmp:
        worst_engine, depth = _worst(Path(tmp))
        figures = _measure(worst_engine, "go", {}, None, args.rounds)
    print(f"worst case the budget ({PLAN_BUDGET:,} nodes) admits: a guard nested {depth} deep "
          f"({len(_nested(depth))} characters)")
    print(f"  plan+reasons {figures['plan_ms']:.2f} ms ({figures['plan_ms'] / AIM_MS:.3f}x the aim); SQL "
          f"{figures['bytes']:,.0f} bytes ({figures['bytes'] / AIM_BYTES:.3f}x the aim), built and compiled in "
          f"{figures['sql_ms']:.0f} ms (reason() rebuilds its reasons; SQLAlchemy's compilation alone "
          f"{figures['compile_ms']:.0f} ms)")


if __name__ == "__main__":
    main()
