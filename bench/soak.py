"""Soak test (issue 11): evaluations, loads and reloads for a set time, printing RSS and garbage-collection pauses.

Not part of the test suite. It runs, round after round until ``--minutes`` are up: reloads of ``policies/`` (the
engine in use is replaced, as a host that reloads policies through the day does), single ``evaluate`` calls on good
and bad orders (dicts, objects, ``unittest.mock.Mock`` instances: a fresh class each), ``evaluate_many`` and ``bulk``
over batches where many orders lack a fact, and every order bad its own way. Each ``--every`` seconds it prints the
process's RSS, the longest and total full-collection (generation 2) pause since the last line, and what it ran.

It exits 1 when memory grew: when the RSS of the last quarter of the run exceeds the RSS after the first quarter by
more than ``--tolerance-mb`` (default 20 MB). Its verdict is a figure, not a timing.

    .venv/bin/python bench/soak.py --minutes 10            # the issue's run
    .venv/bin/python bench/soak.py --minutes 0.5 --every 5   # a smoke run
    .venv/bin/python bench/soak.py --minutes 2 --live          # reloads through policyengine.live (the service's)

No round calls ``gc.collect()``: the collector runs as a host that never asks for one would run it (issue 23).
With ``--live`` each round edits a copy of the policies and reloads it through :class:`LivePolicies`, as the service
does on a file change.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import unittest.mock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policyengine  # noqa: E402

STATUSES = ("New", "Pending", "Queued", "Error", "Shipped", "Archived", "Closed")


def rss_mb() -> float:
    """The current resident set size (``/proc/self/statm``; the peak from ``getrusage`` where there is no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        import os
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Pauses:
    """Full-collection pauses, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.started = 0.0
        self.longest = self.total = 0.0
        self.count = 0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self.started = time.perf_counter()
        else:
            pause = time.perf_counter() - self.started
            self.longest, self.total, self.count = max(self.longest, pause), self.total + pause, self.count + 1

    def take(self) -> tuple[float, float, int]:
        out = (self.longest, self.total, self.count)
        self.longest = self.total = 0.0
        self.count = 0
        return out


def order(rng: random.Random, i: int, bad: str | None = None) -> dict[str, Any]:
    o: dict[str, Any] = {"id": f"o{i}", "status": rng.choice(STATUSES), "has_shipment": rng.random() < 0.5,
                         "sent_to_warehouse": rng.random() < 0.5,
                         "store": {"id": rng.choice(("acme", "globex", "other")), "manual_fulfillment": True}}
    if bad == "missing":
        del o["store"]["manual_fulfillment"]
    elif bad == "type":
        o["has_shipment"] = "no"
    elif bad == "unique":
        o["status"] = f"Imported-{i}"
    return o


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between report lines (default 30)")
    parser.add_argument("--path", default=str(ROOT / "policies"), help="the policies to load (default: policies/)")
    parser.add_argument("--batch", type=int, default=5000, help="orders per evaluate_many / bulk (default 5000)")
    parser.add_argument("--live", action="store_true", help="reload through policyengine.live after an edit")
    parser.add_argument("--tolerance-mb", type=float, default=20.0, help="allowed RSS growth (default 20 MB)")
    args = parser.parse_args(argv)

    rng = random.Random(11)
    pauses = Pauses()
    live = None
    if args.live:
        import shutil
        import tempfile

        copy = Path(tempfile.mkdtemp()) / "policies"
        shutil.copytree(args.path, copy)
        live = policyengine.live(copy, watch=False)
    engine = policyengine.load(args.path)
    user = {"role": "member"}
    start = last = time.perf_counter()
    end = start + args.minutes * 60
    counts = {"loads": 0, "evaluations": 0, "batch orders": 0}
    samples: list[tuple[float, float]] = []
    i = 0
    print(f"soak: {args.path}, {args.minutes:g} min; RSS at start {rss_mb():.1f} MB", flush=True)
    print(f"{'elapsed':>8} {'RSS MB':>8} {'max gen2 pause ms':>18} {'gen2 total ms':>14} {'gen2 runs':>10} "
          f"{'loads':>7} {'evaluations':>12} {'batch orders':>13}", flush=True)
    while True:
        now = time.perf_counter()
        if now - last >= args.every or now >= end:
            longest, total, runs = pauses.take()
            samples.append((now - start, rss_mb()))
            print(f"{now - start:>7.0f}s {samples[-1][1]:>8.1f} {longest * 1000:>18.1f} {total * 1000:>14.1f} "
                  f"{runs:>10} {counts['loads']:>7} {counts['evaluations']:>12} {counts['batch orders']:>13}",
                  flush=True)
            last = now
            if now >= end:
                break
        if live is not None:  # an edit, then the reload the service's watcher would make
            with open(live.path / "order-actions.yaml", "a", encoding="utf-8") as file:
                file.write(f"# soak {counts['loads']}\n")
            live.reload()
            engine = live.engine
        else:
            engine = policyengine.load(args.path)  # a reload: the previous engine is dropped
        counts["loads"] += 1
        for bad in (None, "missing", "type", "unique"):
            for _ in range(200):
                i += 1
                engine.evaluate(order(rng, i, bad), user)
            counts["evaluations"] += 200
        for _ in range(100):  # objects, and a fresh class every time
            engine.evaluate(unittest.mock.Mock(), unittest.mock.Mock())
        counts["evaluations"] += 100
        batch = [order(rng, i + k, "missing" if k % 2 else None) for k in range(args.batch)]
        i += args.batch
        engine.evaluate_many([(o, user) for o in batch])
        engine.bulk("reset", batch, user)
        counts["batch orders"] += 2 * args.batch

    quarter = max(1, len(samples) // 4)
    early, late = max(r for _, r in samples[:quarter]), max(r for _, r in samples[-quarter:])
    grew = late - early
    print(f"RSS: {early:.1f} MB after the first quarter, {late:.1f} MB in the last; growth {grew:+.1f} MB "
          f"(tolerance {args.tolerance_mb:g} MB): {'FLAT' if grew <= args.tolerance_mb else 'GREW'}")
    return 0 if grew <= args.tolerance_mb else 1


if __name__ == "__main__":
    sys.exit(main())
