"""Issue 16's compiled-cache bench: the shipped base with many small generated store overrides, loaded cold (no
cache), then cold into an empty cache directory (which writes it), then warm (from the cache), each in a fresh
subprocess so the times and peak RSS are those of a process that did nothing else.

The overrides come in four shapes, in turn (see :func:`override_text`): a deny guard added to ``edit``, a renamed
action (``archive``'s label), a hidden action (``force_delete``), and a new action of the store's own. Each carries
its store's number in a label or reason, so no two are the same text.

Usage::

    .venv/bin/python bench/cache_bench.py                    # 10,000 overrides; prints the figures and the targets
    .venv/bin/python bench/cache_bench.py --stores 1000
    .venv/bin/python bench/cache_bench.py --measure DIR --cache-dir CACHE   # (the subprocess) one load, JSON
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "policies" / "order-actions.yaml"
WARM_TARGET_S = 1.0


def override_text(i: int) -> str:
    """The override of store number ``i``: one of the four shapes, by ``i % 4``."""
    store = f"s{i:05d}"
    head = (f"apiVersion: policyengine/v1\nkind: StoreOverride\nstore: {store}\nversion: 1\n"
            "base:\n  policy: order-actions\n  version: 1\n")
    shape = i % 4
    if shape == 0:  # a guard
        body = ("actions:\n  edit:\n    deny:\n      - id: shipped\n        when: order.status == 'Shipped'\n"
                f"        reason: Store {store} does not edit shipped orders.\n")
    elif shape == 1:  # a renamed action
        body = f"actions:\n  archive:\n    label: Archive for {store}\n"
    elif shape == 2:  # a hidden action
        body = f"actions:\n  force_delete:\n    hidden: true\n    visible: {{reason: {store} never force-deletes.}}\n"
    else:  # a new action
        body = ("actions:\n  request_cancellation:\n    label: Request Cancellation\n"
                f"    description: Asks the warehouse of {store} to cancel an order.\n"
                "    visible:\n      when: order.sent_to_warehouse\n      reason: Only for orders the warehouse has.\n"
                "    allow: {when: can_act, reason: Read-only users can't change orders.}\n"
                "    effects:\n      - operation: request_warehouse_cancellation\n")
    return head + "\n" + body


def write_policies(root: Path, stores: int) -> Path:
    """The shipped base and ``stores`` generated overrides under ``root``; returns ``root``."""
    (root / "stores").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BASE, root / BASE.name)
    for i in range(stores):
        (root / "stores" / f"s{i:05d}.yaml").write_text(override_text(i), encoding="utf-8")
    return root


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(path: Path, cache_dir: str | None) -> dict[str, Any]:
    """One ``policyengine.load`` in this process, with the cache in ``cache_dir`` (None: off)."""
    sys.path.insert(0, str(ROOT))
    import policyengine  # noqa: PLC0415 - after the RSS baseline's imports

    start = time.perf_counter()
    engine = policyengine.load(path, cache=Path(cache_dir) if cache_dir else None)
    seconds = time.perf_counter() - start
    probe = engine.evaluate({"id": 1, "store": {"id": engine.stores[-1]}, "status": "Open"}, {"role": "admin"})
    return {"seconds": round(seconds, 3), "stores": len(engine.stores), "revision": engine.revision,
            "probe": len(probe), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "vm_hwm_mb": _vm_hwm_mb()}


def _run(path: Path, cache_dir: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--measure", str(path)] + (["--cache-dir", str(cache_dir)] if cache_dir else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=10_000, help="store overrides to generate (default 10000)")
    parser.add_argument("--measure", type=Path, metavar="DIR", help="(subprocess) load DIR once and print JSON")
    parser.add_argument("--cache-dir", help="with --measure: the cache directory")
    parser.add_argument("--skip-uncached", action="store_true", help="do not time the load without a cache")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.cache_dir)))
        return 0
    with tempfile.TemporaryDirectory(prefix="policyengine-cache-bench-") as tmp:
        policies = write_policies(Path(tmp) / "policies", args.stores)
        cache = Path(tmp) / "cache"
        print(f"compiled cache: shipped base + {args.stores} small store overrides (guard / renamed / hidden / new)")
        rows = []
        if not args.skip_uncached:
            rows.append(("load, no cache", _run(policies, None)))
        rows.append(("cold load, writing the cache", _run(policies, cache)))
        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
        rows.append(("warm load, from the cache", _run(policies, cache)))
        revisions = {r["revision"] for _, r in rows}
        for name, r in rows:
            print(f"  {name:<30} {r['seconds']:8.3f} s   peak RSS {r['vm_hwm_mb'] or r['peak_rss_mb']:7.1f} MB")
        warm = rows[-1][1]["seconds"]
        print(f"  cache size {size:.1f} MB; same revision on every path: {len(revisions) == 1}")
        print(f"  warm start {warm:.3f} s  (target < {WARM_TARGET_S:.0f} s: {'met' if warm < WARM_TARGET_S else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
