"""Reading results: what a host pays to read the decisions ``evaluate`` returned, against the hand-written rows.

For the same orders (``orderactions.random_pairs``), the engine's results (shared :class:`~policyengine.Decisions`)
and :func:`orderactions.handwritten_menu`'s rows (plain tuples) are computed once, then read: every decision's
action id and state, through ``values()``, ``items()`` and iteration (``for action in result: result[action]``),
against reading ``row[0]`` and ``row[2]`` of every row; and iteration alone (the ids) against reading ``row[0]``.
Printed: ns per result and the ratio, with the target (issue 16: at most 1.2x the rows); and ``to_dict()`` of a shared
result after its first call (target under 1 us).

Usage: ``python bench/results_bench.py [--orders N] [--rounds R]``. Timing is CPU time, rounds interleave the
contenders (order alternating) and the median round is reported.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import orderactions as oa  # noqa: E402

import policyengine  # noqa: E402

Thunk = Callable[[], None]


def _rounds(contenders: dict[str, Thunk], rounds: int, count: int) -> dict[str, float]:
    """Median ns per item of each contender; contenders interleaved, order alternating, gc off while timing."""
    names = list(contenders)
    for name in names:
        contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                start = time.process_time_ns()
                contenders[name]()
                times[name].append((time.process_time_ns() - start) / count)
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in times.items()}


def reading(results: Sequence[policyengine.Decisions], rows: Sequence[tuple[Any, ...]]) -> dict[str, Thunk]:
    """One pass per contender over every result: read each decision's action id and state."""

    def hand_rows() -> None:
        for menu in rows:
            for row in menu:
                row[0], row[2]

    def values() -> None:
        for result in results:
            for d in result.values():
                d.action, d.state  # noqa: B018 -- the bare read is what is timed

    def items() -> None:
        for result in results:
            for action, d in result.items():
                action, d.state  # noqa: B018 -- the bare read is what is timed

    def hand_ids() -> None:
        for menu in rows:
            for row in menu:
                row[0]

    def ids() -> None:
        for result in results:
            for action in result:
                action  # noqa: B018 -- the bare read is what is timed

    def iteration() -> None:
        for result in results:
            for action in result:
                action, result[action].state

    return {"hand-written rows": hand_rows, "values()": values, "items()": items, "iteration + [key]": iteration,
            "hand-written ids": hand_ids, "iteration (ids)": ids}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=31)
    args = parser.parse_args(argv)
    engine = policyengine.load(HERE.parent / "policies" / "order-actions.yaml")
    pairs = oa.random_pairs(args.orders, seed=7, stores=oa.NO_OVERRIDE_STORES)
    results = [engine.evaluate(order, user) for order, user in pairs]
    rows = [oa.handwritten_menu(order, user) for order, user in pairs]
    # correctness first: the engine and the hand-written function read alike
    for result, menu in zip(results, rows, strict=True):
        if [(d.action, d.state) for d in result.values()] != [(row[0], row[2]) for row in menu]:
            raise SystemExit("engine and hand-written rows disagree; fix that before timing")

    medians = _rounds(reading(results, rows), args.rounds, len(results))
    base = medians["hand-written rows"]
    actions = len(engine.actions)
    print(f"reading every decision of a result ({actions} actions, {len(results)} results, median of {args.rounds} "
          "rounds, CPU time)")
    print(f"  {'hand-written rows':<20} {base:8.0f} ns/result")
    for name, ns in medians.items():
        if name == "iteration (ids)":
            ratio, what = ns / medians["hand-written ids"], "rows' ids"
        elif name in ("hand-written rows", "hand-written ids"):
            continue
        else:
            ratio, what = ns / base, "rows"
        print(f"  {name:<20} {ns:8.0f} ns/result  {ratio:5.2f}x {what:<10} target <= 1.2x")

    shared = results[0]
    shared.to_dict()  # the first call builds and caches the JSON form
    calls = 20000

    def to_dict() -> None:
        for _ in range(calls):
            shared.to_dict()

    ns = _rounds({"to_dict": to_dict}, args.rounds, calls)["to_dict"]
    print(f"to_dict() of a shared result after its first call: {ns / 1000:.3f} us   target < 1 us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
