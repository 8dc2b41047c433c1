"""The policyengine benchmark suite (issue 5): every figure a ratio to a baseline measured in the same run.

Not part of the test suite: it asserts nothing about timing and only exits non-zero when a baseline and the engine
decide differently (before anything is timed). What is measured:

1. **Single evaluate, default policy** (``policies/order-actions.yaml`` alone, 8 actions, specialised into one
   table): ``engine.evaluate(order, user)`` vs :func:`orderactions.handwritten_menu`, the plain-Python function a
   developer would write without the engine, on the same random orders, as **dicts**, frozen **dataclass** and
   **attrs** objects (:func:`orderactions.handwritten_menu_obj` for the objects).
2. **Batch of 100,000 orders**: ``engine.evaluate_many(pairs)`` vs the single-evaluate loop
   ``[engine.evaluate(o, u) for o, u in pairs]`` over the same orders (per-order ns and their ratio), with the
   hand-written loop and ``engine.bulk("reset", orders, user)`` per order for context.
3. **Non-finite facts** (``bench/policies/nonfinite.yaml``: a number ``order.total`` compared with constants and
   with ``user.refund_limit``, a set ``order.tags`` tested for membership, two enums; 6 actions, not specialisable):
   ``engine.evaluate`` vs :func:`nonfinite.handwritten_payments`; ``evaluate_many`` vs the loop for context.
4. **Store dispatch** (context): the whole ``policies/`` directory (the acme and globex overrides), orders of
   stores without an override and of all four stores, vs :func:`orderactions.handwritten_store_menu`.
5. **Naive rule-engine**: rule-engine used directly, every condition a parsed ``rule_engine.Rule`` (the compiled
   policy's own ``CompiledExpr.rule``) matched with ``Rule.matches`` per condition per call; for the default and the
   non-finite policies (and the synthetic one, for context). Run on fewer orders: it is ~3 orders of magnitude
   slower.
6. **The large synthetic policy** (``bench/synthetic.py``: 34 facts mixing enums, bools, numbers and a set, 80 named
   conditions referencing each other, 220 actions, 2,200 guards): ``policyengine.load`` timed several rounds in a
   fresh subprocess, which also reports its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), whether the
   engine specialised it into a table, and one ``evaluate`` on it (µs per call, and vs naive rule-engine).

Correctness first: before timing, each engine result (projected to the hand-written shape ``(action, label, state,
reasons, confirm, effects)``) is checked equal to its baseline's: the default policy over its whole finite fact
space (312 combinations, dicts, dataclasses, attrs and naive) and every random order, ``evaluate_many`` over all
100,000 orders, ``bulk``'s applicable count, the non-finite policy on thousands of random orders (totals at and
around the thresholds, 0-3 tags), the store dispatch, and the synthetic policy against naive rule-engine. Any
difference exits with status 1 and prints the input and both outputs.

Timing: a round is one short pass of every contender of a scenario, back to back (their order alternating), timed
in **process CPU time** (``time.process_time_ns``; ``--clock wall`` for ``perf_counter_ns``), so the time this
process spends preempted by the other processes on the machine is left out; garbage collection is off while timing.
Single-evaluate scenarios: N=20,000 random orders in rounds of 1,000, 5 passes (100 rounds). Passes are balanced: a
contender k times faster than the slowest runs k times as many calls (wrapping around within the same 1,000 orders),
so every pass is as long and as exposed to disturbance. The batch: 9 rounds of whole 100,000-order calls. Reported:
median per-call (per-order) time over the rounds and each ratio as the **median of the per-round ratios**, with
their min..max and the ratio of the best rounds ("best/best"). Only same-run ratios are meaningful; absolute times
are context. The synthetic policy's load is timed in CPU time (the target) and wall time.

Reproduce::

    make bench                                   # = .venv/bin/python bench/bench.py (~40 s here)
    .venv/bin/python bench/bench.py --quick      # a smoke run (~15 s): fewer orders and rounds
    .venv/bin/python bench/bench.py --json bench-results.json     # also write every figure as JSON
    .venv/bin/python bench/synthetic.py --out /tmp/synthetic.yaml # the synthetic policy, to look at
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import analysis_bench  # noqa: E402
import lockproof  # noqa: E402
import nonfinite  # noqa: E402
import orderactions as oa  # noqa: E402
import synthetic  # noqa: E402

import policyengine  # noqa: E402
from policyengine.runtime.bulk import summarise as bulk_summary  # noqa: E402

POLICIES = ROOT / "policies"
DEFAULT_POLICY = POLICIES / "order-actions.yaml"

Pair = tuple[Any, Any]

# ---------------------------------------------------------------------------------------------------------------
# The engine's answer in the hand-written shape, and the naive rule-engine baseline
# ---------------------------------------------------------------------------------------------------------------


def project(decisions: Any) -> tuple[Any, ...]:
    if decisions.errors:
        raise AssertionError(f"the engine reported fact errors: {decisions.errors}")
    return tuple((d.action, d.label, d.state, d.reasons, d.confirm,
                  tuple((tuple(sorted(e.set.items())), e.operation) for e in d.effects))
                 for d in decisions.values())


def naive_menu_factory(engine: policyengine.Engine) -> Callable[[dict[str, Any], dict[str, Any]], tuple[Any, ...]]:
    """rule-engine used directly: every condition a parsed ``Rule``, matched with ``rule.matches`` per call.

    The rule-engine context is ``{"order": order, "user": user, <other root>: order[<root>], <condition>: bool}``
    (``store.manual_fulfillment`` is ``order["store"]["manual_fulfillment"]``, as the default adapter reads it).
    """
    policy = engine.policy
    extra_roots = sorted({f.name.split(".")[0] for f in policy.facts} - {"order", "user"})
    conditions = [(name, expr.rule) for name, expr in policy.conditions.items()]  # in dependency order
    actions = []
    for a in policy.actions:
        spec = a.spec
        hidden_reason = (spec.hidden_reason or f"not shown: `{spec.visible.text}` is false",)
        allow_reason = spec.allow_reason or f"not allowed: `{spec.allow.text}` is false"
        guards = tuple((g.when.rule, g.spec.reason) for g in a.guards)
        effects = tuple((e.when.rule if e.when is not None else None,
                         (tuple(sorted(dict(e.spec.set).items())), e.spec.operation)) for e in a.effects)
        actions.append((spec.id, spec.label, spec.confirm, a.visible.rule, hidden_reason, a.allow.rule,
                        allow_reason, guards, effects))
    assert not any(expr.actions for a in policy.actions for expr in a.exprs()), "naive baseline: no action refs"

    def naive_menu(order: dict[str, Any], user: dict[str, Any]) -> tuple[Any, ...]:
        thing = {"order": order, "user": user}
        for root in extra_roots:
            thing[root] = order[root]
        for name, rule in conditions:
            thing[name] = rule.matches(thing)
        rows: list[tuple[Any, ...]] = []
        for action, label, confirm, visible, hidden_reason, allow, allow_reason, guards, effects in actions:
            if not visible.matches(thing):
                rows.append((action, label, "hidden", hidden_reason, confirm, ()))
                continue
            reasons = [] if allow.matches(thing) else [allow_reason]
            reasons += [reason for rule, reason in guards if rule.matches(thing)]
            out = tuple(effect for rule, effect in effects if rule is None or rule.matches(thing))
            rows.append((action, label, "disabled" if reasons else "enabled", tuple(reasons), confirm, out))
        return tuple(rows)

    return naive_menu


def floor_factory(engine: policyengine.Engine) -> Callable[[Sequence[Pair]], list[Any]]:
    """The least any batch evaluator of the default policy can cost, for scale: the five fact reads of each order and
    one lookup of a precomputed answer, with no checks at all (it silently takes a wrong type as a right one and
    raises on a missing fact, so it is not a contender). The answers are the engine's own, via ``evaluate``."""
    answers = {}
    for order, user in oa.all_pairs():
        key = (order["status"], order["has_shipment"], order["sent_to_warehouse"], order["store"]["manual_fulfillment"],
               user["role"])
        answers[key] = engine.evaluate(order, user)

    def floor(pairs: Sequence[Pair]) -> list[Any]:
        return [answers[(o["status"], o["has_shipment"], o["sent_to_warehouse"], o["store"]["manual_fulfillment"],
                         u["role"])] for o, u in pairs]

    return floor


# ---------------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------------


class Mismatch(Exception):
    pass


def _describe(x: Any) -> str:
    if dataclasses.is_dataclass(x) or attrs.has(type(x)):
        return repr(x)
    return json.dumps(x)


def _mismatch(name: str, order: Any, user: Any, a: Any, b: Any) -> Mismatch:
    lines = [f"MISMATCH ({name}) on input:", f"  order = {_describe(order)}", f"  user  = {_describe(user)}"]
    for ra, rb in zip(a, b, strict=False):  # a length mismatch is reported below
        if ra != rb:
            lines += [f"  action {rb[0]!r}:", f"    engine/candidate: {ra!r}", f"    baseline:         {rb!r}"]
    if len(a) != len(b):
        lines.append(f"  {len(a)} rows vs {len(b)} rows")
    return Mismatch("\n".join(lines))


def verify(name: str, pairs: Sequence[Pair], got: Callable[[Any, Any], Any],
           expected: Callable[[Any, Any], Any]) -> int:
    for order, user in pairs:
        a, b = got(order, user), expected(order, user)
        if a != b:
            raise _mismatch(name, order, user, a, b)
    return len(pairs)


def verify_results(name: str, pairs: Sequence[Pair], results: Sequence[Any],
                   expected: Callable[[Any, Any], Any]) -> int:
    if len(results) != len(pairs):
        raise Mismatch(f"{name}: {len(results)} results for {len(pairs)} inputs")
    for (order, user), result in zip(pairs, results, strict=True):
        a, b = project(result), expected(order, user)
        if a != b:
            raise _mismatch(name, order, user, a, b)
    return len(pairs)


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------

Thunk = Callable[[], Any]


def broken(pairs: Sequence[Pair], kinds: Sequence[Callable[[dict[str, Any], int], None]]) -> list[Pair]:
    """Copies of ``pairs`` with one fact broken in each order, by ``kinds`` in turn (issue 11's bad-fact figures: what
    a broken import sends). The originals are left as they are."""
    out = []
    for i, (order, user) in enumerate(pairs):
        copy = {k: dict(v) if isinstance(v, dict) else v for k, v in order.items()}
        kinds[i % len(kinds)](copy, i)
        out.append((copy, user))
    return out


DEFAULT_BREAKS: list[Callable[[dict[str, Any], int], None]] = [
    lambda o, i: o["store"].pop("manual_fulfillment"),  # a missing fact
    lambda o, i: o.update(has_shipment="no"),  # a wrong type
    lambda o, i: o.update(status="Shiped"),  # an undeclared value
]
NONFINITE_BREAKS: list[Callable[[dict[str, Any], int], None]] = [
    lambda o, i: o.pop("total"), lambda o, i: o.update(total="12.50"), lambda o, i: o.update(tags="vip")]
UNIQUE_BREAK: list[Callable[[dict[str, Any], int], None]] = [lambda o, i: o.update(status=f"Imported-{i}")]
"""Every order bad in its own way (no two messages alike): the fail-closed path's worst case, for context."""


def _noop(order: Any, user: Any) -> None:
    return None


def looper(fn: Callable[[Any, Any], Any], pairs: Sequence[Pair]) -> tuple[Thunk, int]:
    """A pass calling ``fn(order, user)`` for every pair (the harness's own loop), and how many calls it makes."""

    def run() -> None:
        for order, user in pairs:
            fn(order, user)

    return run, len(pairs)


CLOCK: Callable[[], int] = time.process_time_ns
"""The clock of a timed pass: this process's CPU time by default (``--clock wall``: ``perf_counter_ns``). Other
processes share the machine; CPU time leaves out the time this process spends preempted, wall time does not."""


def _timed(run: Thunk, count: int) -> float:
    start = CLOCK()
    run()
    return (CLOCK() - start) / count


def compare_thunks(contenders: dict[str, tuple[Thunk, int]], rounds: int) -> dict[str, list[float]]:
    """Per-item ns of each contender per round: one warm-up pass each, then ``rounds`` rounds, the contenders
    interleaved within a round and their order alternating between rounds; gc disabled while timing."""
    names = list(contenders)
    for name in names:
        contenders[name][0]()
    out: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                out[name].append(_timed(*contenders[name]))
    finally:
        gc.enable()
    return out


def compare(contenders: dict[str, Callable[[Any, Any], Any]], pairs: Sequence[Pair], *, chunk: int, passes: int,
            limit: int | None = None, pool: int | None = None) -> dict[str, list[float]]:
    """Per-call ns of each ``fn(order, user)`` per round.

    Round ``r`` starts at chunk ``r % chunks`` of the first ``limit`` pairs (all by default). Every contender makes
    one pass from there, back to back with the others (order alternating), before the next round: rounds are short,
    so a burst of load from other processes disturbs a few rounds, not the median of the per-round ratios. Passes are
    balanced: a contender faster than the slowest runs over ``k`` times as many consecutive pairs, so that every pass
    lasts about as long and is as exposed to disturbance. Its pairs wrap around within the aligned block of ``pool``
    pairs (default: ``chunk``) that holds the round's chunk, so that every contender works on a set of at most
    ``pool`` orders (the per-call cost of a dict lookup depends on how many orders are in the CPU caches).
    """
    limit = min(limit or len(pairs), len(pairs))
    pool = max(pool or chunk, chunk)
    names = list(contenders)
    starts = list(range(0, limit, chunk))

    def window(start: int, size: int) -> list[Pair]:
        base = start - start % pool
        span = min(pool, len(pairs) - base)
        return [pairs[base + (start - base + i) % span] for i in range(size)]

    first = window(0, min(chunk, limit))
    for name in names:  # warm-up
        looper(contenders[name], first)[0]()
    cost = {}
    for name in names:  # calibration: the best of 3 passes over the first chunk
        run, count = looper(contenders[name], first)
        cost[name] = min(_timed(run, count) for _ in range(3 if count * 1e-6 < 1 else 1))
    slowest = max(cost.values())
    k = {name: max(1, min(10_000, round(slowest / max(cost[name], 1e-3)))) for name in names}
    runs = [{name: looper(contenders[name], window(st, min(chunk, limit - st) * k[name])) for name in names}
            for st in starts]
    out: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(passes * len(starts)):
            this = runs[r % len(starts)]
            for name in (names if (r // len(starts) + r) % 2 == 0 else names[::-1]):
                out[name].append(_timed(*this[name]))
    finally:
        gc.enable()
    return out


def ratio_of(per_round: dict[str, list[float]], num: str, den: str) -> dict[str, float]:
    """num/den: the median of the per-round ratios (the figure), their range, and the ratio of the best rounds."""
    ratios = [a / b for a, b in zip(per_round[num], per_round[den], strict=True)]
    return {"ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "ratio_best": min(per_round[num]) / min(per_round[den]), "rounds": len(ratios)}


def summarise(per_round: dict[str, list[float]], num: str, den: str) -> dict[str, Any]:
    """Median ns per item of each contender, and :func:`ratio_of` num/den."""
    return {**{f"{name}_ns": statistics.median(v) for name, v in per_round.items()},
            **{f"{name}_best_ns": min(v) for name, v in per_round.items()},
            **ratio_of(per_round, num, den)}


# ---------------------------------------------------------------------------------------------------------------
# The synthetic policy's load, in a fresh process
# ---------------------------------------------------------------------------------------------------------------


def measure_synthetic_load(path: Path, rounds: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(BENCH / "synthetic.py"), "--measure-load", str(path),
                           "--rounds", str(rounds)], capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"the synthetic load subprocess failed ({proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {"nproc": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "loadavg_at_start": [round(x, 2) for x in load]}


@attrs.frozen
class Target:
    name: str
    text: str
    measured: float
    limit: float
    higher_is_better: bool = False
    unit: str = "x"
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.text, "measured": self.measured, "limit": self.limit,
                "unit": self.unit, "status": "PASS" if self.passed else "MISS", "detail": self.detail}


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.0f}x" if value >= 100 else f"{value:.3f}x" if value < 10 else f"{value:.1f}x"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.0f} {unit}"


def _us(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1000:.3f} µs"


def _ratio(value: float) -> str:
    return f"{value:.0f}x" if value >= 100 else f"{value:.2f}x"


def handwritten_bulk_factory(action: str = "reset") -> Callable[[Sequence[Any], dict[str, Any]], Any]:
    """A hand-written ``bulk(action, orders, user)`` for the default policy returning the very BulkResult the engine
    does: per order, read the facts, look the action's reason up (from :func:`orderactions.handwritten_menu`, once
    per combination), group the order's index and read its id (a str as it is, an int as its decimal text)."""
    position = [row[0] for row in oa.handwritten_menu(oa.all_pairs()[0][0], {"role": "admin"})].index(action)
    label = oa.handwritten_menu(oa.all_pairs()[0][0], {"role": "admin"})[position][1]
    reasons: dict[tuple[Any, ...], str | None] = {}

    def reason_of(order: dict[str, Any], user: dict[str, Any], key: tuple[Any, ...]) -> str | None:
        _, _, state, why, *_ = oa.handwritten_menu(order, user)[position]
        reasons[key] = None if state == "enabled" else why[0] if why else state
        return reasons[key]

    def bulk(orders: Sequence[Any], user: dict[str, Any]) -> Any:
        groups: dict[str | None, list[int]] = {}
        ids: list[str | None] = []
        role = user["role"]
        for i, o in enumerate(orders):
            key = (o["status"], o["has_shipment"], o["sent_to_warehouse"], o["store"]["manual_fulfillment"], role)
            reason = reasons[key] if key in reasons else reason_of(o, user, key)
            try:
                groups[reason].append(i)
            except KeyError:
                groups[reason] = [i]
            oid = o["id"]
            ids.append(oid if type(oid) is str else str(oid))
        return bulk_summary(action, label, len(orders), groups, ids)

    return bulk


def measure_import(rounds: int) -> dict[str, Any]:
    """``import policyengine`` in a fresh interpreter against ``python -c pass``, interleaved round by round: wall
    time (the figure: best round of each, the least disturbed on a shared machine; medians beside it) and CPU time
    of the child (user + system), and ``-X importtime``'s cumulative figure for the package (one run)."""
    wall: dict[str, list[float]] = {"pass": [], "import policyengine": []}
    cpu: dict[str, list[float]] = {"pass": [], "import policyengine": []}
    for r in range(rounds):
        for code in (("pass", "import policyengine") if r % 2 == 0 else ("import policyengine", "pass")):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
            wall[code].append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[code].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import policyengine"], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    cumulative = [int(line.split("|")[1]) for line in proc.stderr.splitlines() if line.rstrip().endswith("| policyengine")]
    bare, imported = wall["pass"], wall["import policyengine"]
    return {"over_bare_ms": min(imported) - min(bare),
            "over_bare_median_ms": statistics.median(imported) - statistics.median(bare),
            "cpu_over_bare_ms": statistics.median(cpu["import policyengine"]) - statistics.median(cpu["pass"]),
            "bare_ms": min(bare), "import_ms": min(imported), "rounds": rounds,
            "importtime_us": cumulative[-1] if cumulative else None}


def report_lock_proofs() -> dict[str, Any]:
    """Lock-proof time: loading the shipped policies with and without their store overrides, a small override whose
    every proof reads 14 facts, and a hostile 1 MiB one (bench/lockproof.py); CPU ms, decision tables off."""
    res = lockproof.measure()
    print(f"lock proofs (CPU, table_limit=0): base alone {res['base_only_ms']:.0f} ms, with the shipped overrides "
          f"{res['shipped_ms']:.0f} ms; {res['wide_13_bytes']} B override over 13 store facts {res['wide_13_ms']:.0f} ms "
          f"({res['wide_13']}); {res['hostile_1mib_bytes']} B hostile override {res['hostile_1mib_ms']:.0f} ms "
          f"({res['hostile_1mib']})")
    return res


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer orders and rounds)")
    parser.add_argument("--n", type=int, help="random orders per single-evaluate scenario (default 20000; quick 2000)")
    parser.add_argument("--chunk", type=int, help="orders per timed round (default 1000; quick 500)")
    parser.add_argument("--passes", type=int, help="passes over all N orders, chunk by chunk (default 5; quick 2)")
    parser.add_argument("--batch", type=int, help="orders in the evaluate_many batch (default 100000; quick 20000)")
    parser.add_argument("--batch-rounds", type=int, help="batch rounds (default 9; quick 3)")
    parser.add_argument("--naive-n", type=int, help="orders for the naive rule-engine baseline (default 600; quick 60)")
    parser.add_argument("--synthetic-rounds", type=int, help="loads of the synthetic policy (default 3; quick 1)")
    parser.add_argument("--synthetic-n", type=int,
                        help="synthetic-policy orders timed against naive rule-engine (default 8; quick 2)")
    parser.add_argument("--seed", type=int, default=20240601, help="RNG seed for the random orders")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time passes in process CPU time (default) or wall time (perf_counter)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time_ns if args.clock == "cpu" else time.perf_counter_ns
    q = args.quick

    def pick(value: int | None, full: int, quick: int) -> int:
        chosen = value if value is not None else (quick if q else full)
        if chosen < 1:
            parser.error("counts and rounds must be positive")
        return chosen

    n = pick(args.n, 20_000, 2_000)
    chunk = min(pick(args.chunk, 1_000, 500), n)
    passes = pick(args.passes, 5, 2)
    batch_n = max(pick(args.batch, 100_000, 20_000), n)
    batch_rounds = pick(args.batch_rounds, 9, 3)
    naive_n = min(pick(args.naive_n, 600, 60), n)
    naive_chunk = min(10, naive_n)
    synthetic_rounds = pick(args.synthetic_rounds, 3, 1)
    synthetic_n = pick(args.synthetic_n, 8, 2)
    nonfinite_verify_n = max(n, 5_000)
    single = {"chunk": chunk, "passes": passes}

    info = machine()
    print(f"policyengine benchmark: {info['implementation']} {info['python']}, nproc={info['nproc']}, "
          f"load average {info['loadavg_at_start']}, {info['platform']}")
    print(f"single evaluate: N={n} orders, rounds of {chunk} orders x {passes} passes = {passes * -(-n // chunk)} "
          f"rounds; batch {batch_n} orders x {batch_rounds} rounds; naive N={naive_n} in rounds of {naive_chunk}; "
          f"synthetic: {synthetic_rounds} loads, {synthetic_n} orders; seed={args.seed}")
    t_all = time.perf_counter()

    # -- the synthetic policy's load, first: a child's ru_maxrss starts at this process's RSS at the fork -------
    print(f"synthetic policy: generating, loading {synthetic_rounds} times in a fresh process ...", flush=True)
    synth = synthetic.generate()
    with tempfile.TemporaryDirectory(prefix="policyengine-bench-") as tmp:
        synth_path = Path(tmp) / "synthetic.yaml"
        synth_path.write_text(synth.text, encoding="utf-8")
        parent_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load_res = measure_synthetic_load(synth_path, synthetic_rounds)
        load_res["parent_rss_at_start_mb"] = parent_rss_mb

    # -- inputs and engines -------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    engine = policyengine.load(DEFAULT_POLICY)
    load_ms = (time.perf_counter() - t0) * 1000
    nf_engine = policyengine.load(nonfinite.POLICY)
    dir_engine = policyengine.load(POLICIES)
    evaluate, evaluate_many = engine.evaluate, engine.evaluate_many
    print(f"default policy {engine.name}@{engine.version} ({len(engine.actions)} actions, specialised="
          f"{engine.specialised}, batch loop in {'C' if engine.batch_in_c else 'Python'}) loaded in {load_ms:.1f} ms; "
          f"non-finite policy {nf_engine.name}@{nf_engine.version} "
          f"({len(nf_engine.actions)} actions, specialised={nf_engine.specialised}); policies/ with stores "
          f"{', '.join(dir_engine.stores)}")

    batch_pairs = oa.random_pairs(batch_n, args.seed)
    pairs = batch_pairs[:n]
    space = oa.all_pairs()
    dc_pairs = oa.to_objects(pairs, oa.OrderDC, oa.StoreDC, oa.UserDC)
    attrs_pairs = oa.to_objects(pairs, oa.OrderAttrs, oa.StoreAttrs, oa.UserAttrs)
    naive_menu = naive_menu_factory(engine)
    naive_pairs = pairs[:naive_n]
    floor = floor_factory(engine)
    bulk_orders = [o for o, _ in batch_pairs]
    bulk_user = {"role": "member"}

    nf_all = nonfinite.random_pairs(nonfinite_verify_n, args.seed + 1)
    nf_pairs = nf_all[:n]
    nf_naive_menu = naive_menu_factory(nf_engine)
    nf_naive_pairs = nf_pairs[:naive_n]

    store_mixed = oa.random_pairs(n, args.seed + 2)
    store_batch = oa.random_pairs(batch_n, args.seed + 5)
    dir_evaluate = dir_engine.evaluate
    import_rounds = 5 if q else 15
    store_plain = oa.random_pairs(n, args.seed + 3, oa.NO_OVERRIDE_STORES)

    def engine_projected(o: Any, u: Any) -> tuple[Any, ...]:
        return project(evaluate(o, u))

    # -- 1. equivalence, before any timing ----------------------------------------------------------------------
    checked: dict[str, int] = {}
    try:
        if tuple(engine.actions) != tuple(row[0] for row in oa.handwritten_menu(*pairs[0])):
            raise Mismatch(f"action order differs: engine {engine.actions}")
        checked["default: fact space, dicts"] = verify("fact space, dicts", space, engine_projected,
                                                       oa.handwritten_menu)
        checked["default: fact space, dataclasses"] = verify(
            "fact space, dataclasses", oa.to_objects(space, oa.OrderDC, oa.StoreDC, oa.UserDC), engine_projected,
            oa.handwritten_menu_obj)
        checked["default: fact space, attrs"] = verify(
            "fact space, attrs", oa.to_objects(space, oa.OrderAttrs, oa.StoreAttrs, oa.UserAttrs), engine_projected,
            oa.handwritten_menu_obj)
        checked["default: fact space, naive rule-engine"] = verify("fact space, naive rule-engine", space, naive_menu,
                                                                   oa.handwritten_menu)
        checked["default: random, naive rule-engine"] = verify("random, naive rule-engine", naive_pairs, naive_menu,
                                                               oa.handwritten_menu)
        checked["default: random, dataclasses"] = verify("random dataclasses", dc_pairs, engine_projected,
                                                         oa.handwritten_menu_obj)
        checked["default: random, attrs"] = verify("random attrs", attrs_pairs, engine_projected,
                                                   oa.handwritten_menu_obj)
        checked["default: evaluate_many, all batch orders"] = verify_results(
            "evaluate_many", batch_pairs, evaluate_many(batch_pairs), oa.handwritten_menu)
        checked["default: the floor loop, all batch orders"] = verify_results(
            "floor loop", batch_pairs, floor(batch_pairs), oa.handwritten_menu)
        bulk = engine.bulk("reset", bulk_orders, bulk_user)
        expected_applicable = tuple(i for i, o in enumerate(bulk_orders)
                                    if oa.handwritten_menu(o, bulk_user)[2][2] == "enabled")
        if bulk.applicable != expected_applicable or bulk.total != len(bulk_orders):
            raise Mismatch(f"bulk('reset'): {len(bulk.applicable)} applicable, hand-written "
                           f"{len(expected_applicable)}")
        checked["default: bulk('reset') applicable orders"] = len(bulk_orders)
        checked["non-finite: random, dicts"] = verify("non-finite policy", nf_all,
                                                      lambda o, u: project(nf_engine.evaluate(o, u)),
                                                      nonfinite.handwritten_payments)
        checked["non-finite: evaluate_many"] = verify_results("non-finite evaluate_many", nf_all,
                                                              nf_engine.evaluate_many(nf_all),
                                                              nonfinite.handwritten_payments)
        checked["non-finite: naive rule-engine"] = verify("non-finite naive rule-engine", nf_naive_pairs,
                                                          nf_naive_menu, nonfinite.handwritten_payments)
        checked["stores: random, all stores"] = verify("store dispatch", store_mixed,
                                                       lambda o, u: project(dir_engine.evaluate(o, u)),
                                                       oa.handwritten_store_menu)
        checked["stores: random, stores without override"] = verify(
            "store dispatch, no override", store_plain, lambda o, u: project(dir_engine.evaluate(o, u)),
            oa.handwritten_store_menu)
    except (Mismatch, AssertionError) as err:
        print(f"\nFAILED: the decisions differ from the baseline's (no evaluation was timed).\n{err}", file=sys.stderr)
        return 1
    print(f"verified identical decisions ({sum(checked.values())} inputs): "
          + ", ".join(f"{k} ({v})" for k, v in checked.items()))

    # -- 2. timing --------------------------------------------------------------------------------------------
    results: dict[str, Any] = {}
    t_start = time.perf_counter()

    print("\ntiming: single evaluate, default policy ...", flush=True)
    dict_rounds = compare({"engine": evaluate, "handwritten": oa.handwritten_menu, "overhead": _noop}, pairs,
                          **single)
    dc_rounds = compare({"engine": evaluate, "handwritten": oa.handwritten_menu_obj}, dc_pairs, **single)
    attrs_rounds = compare({"engine": evaluate, "handwritten": oa.handwritten_menu_obj}, attrs_pairs, **single)
    results["default_dicts"] = summarise(dict_rounds, "engine", "handwritten")
    results["default_dataclasses"] = summarise(dc_rounds, "engine", "handwritten")
    results["default_attrs"] = summarise(attrs_rounds, "engine", "handwritten")

    print(f"timing: batch of {batch_n} orders ...", flush=True)
    batch_rounds_ns = compare_thunks({
        "evaluate_many": (lambda: evaluate_many(batch_pairs), batch_n),
        "evaluate_loop": (lambda: [evaluate(o, u) for o, u in batch_pairs], batch_n),
        "handwritten_loop": (lambda: [oa.handwritten_menu(o, u) for o, u in batch_pairs], batch_n),
        "bulk_reset": (lambda: engine.bulk("reset", bulk_orders, bulk_user), batch_n),
        "floor_loop": (lambda: floor(batch_pairs), batch_n),
    }, batch_rounds)
    print(f"timing: batches with store overrides (policies/, {batch_n} orders of random stores), bulk ids ...",
          flush=True)
    dir_many = dir_engine.evaluate_many
    if dir_many(store_batch) != [dir_evaluate(o, u) for o, u in store_batch]:
        print("\nFAILED: evaluate_many and evaluate differ on policies/ (store overrides)", file=sys.stderr)
        return 1
    str_orders = [{**o, "id": str(o["id"])} for o in bulk_orders]
    hand_bulk = handwritten_bulk_factory("reset")
    for name, these in (("int", bulk_orders), ("str", str_orders)):
        if engine.bulk("reset", these, bulk_user) != hand_bulk(these, bulk_user):
            print(f"\nFAILED: bulk and the hand-written bulk differ ({name} ids)", file=sys.stderr)
            return 1
    store_rounds = compare_thunks({
        "evaluate_many": (lambda: dir_many(store_batch), batch_n),
        "evaluate_loop": (lambda: [dir_evaluate(o, u) for o, u in store_batch], batch_n),
        "bulk_int": (lambda: engine.bulk("reset", bulk_orders, bulk_user), batch_n),
        "hand_int": (lambda: hand_bulk(bulk_orders, bulk_user), batch_n),
        "bulk_str": (lambda: engine.bulk("reset", str_orders, bulk_user), batch_n),
        "hand_str": (lambda: hand_bulk(str_orders, bulk_user), batch_n),
    }, batch_rounds)
    results["stores_batch"] = summarise(store_rounds, "evaluate_many", "evaluate_loop")
    results["bulk_int"] = summarise(store_rounds, "bulk_int", "hand_int")
    results["bulk_str"] = summarise(store_rounds, "bulk_str", "hand_str")
    print("timing: import policyengine in fresh interpreters ...", flush=True)
    results["import"] = measure_import(import_rounds)
    results["batch"] = {**summarise(batch_rounds_ns, "evaluate_many", "evaluate_loop"), "orders": batch_n,
                        "evaluate_many_vs_handwritten_loop": ratio_of(batch_rounds_ns, "evaluate_many",
                                                                      "handwritten_loop"),
                        "bulk_vs_evaluate_loop": ratio_of(batch_rounds_ns, "bulk_reset", "evaluate_loop"),
                        "floor_vs_evaluate_loop": ratio_of(batch_rounds_ns, "floor_loop", "evaluate_loop")}

    print("timing: non-finite policy ...", flush=True)
    nf_evaluate, nf_many = nf_engine.evaluate, nf_engine.evaluate_many
    nf_rounds = compare({"engine": nf_evaluate, "handwritten": nonfinite.handwritten_payments}, nf_pairs, **single)
    nf_chunks = [nf_pairs[i:i + chunk] for i in range(0, len(nf_pairs), chunk)]
    nf_batch_rounds = compare_thunks({
        "evaluate_many": (lambda: [nf_many(c) for c in nf_chunks], len(nf_pairs)),
        "evaluate_loop": (lambda: [[nf_evaluate(o, u) for o, u in c] for c in nf_chunks], len(nf_pairs))},
        batch_rounds)
    results["nonfinite"] = summarise(nf_rounds, "engine", "handwritten")
    results["nonfinite_batch"] = summarise(nf_batch_rounds, "evaluate_many", "evaluate_loop")

    print("timing: bad facts vs good facts (the fail-closed path) ...", flush=True)
    bad_pairs, bad_batch = broken(pairs, DEFAULT_BREAKS), broken(batch_pairs, DEFAULT_BREAKS)
    bad_orders = [o for o, _ in bad_batch]
    nf_bad = broken(nf_pairs, NONFINITE_BREAKS)
    unique_bad = broken(pairs, UNIQUE_BREAK)
    if evaluate_many(bad_batch[:2000]) != [evaluate(o, u) for o, u in bad_batch[:2000]] or any(
            d.enabled and d.errors for r in evaluate_many(bad_batch[:2000]) for d in r.values()):
        print("\nFAILED: bad facts: evaluate_many and evaluate differ, or enable an action despite errors",
              file=sys.stderr)
        return 1
    bad_rounds = compare_thunks({
        "good": (lambda: [evaluate(o, u) for o, u in pairs], n),
        "bad": (lambda: [evaluate(o, u) for o, u in bad_pairs], n),
        "unique": (lambda: [evaluate(o, u) for o, u in unique_bad], n),
        "nf_good": (lambda: [nf_evaluate(o, u) for o, u in nf_pairs], n),
        "nf_bad": (lambda: [nf_evaluate(o, u) for o, u in nf_bad], n),
    }, passes * 2)
    bad_batch_rounds = compare_thunks({
        "good": (lambda: evaluate_many(batch_pairs), batch_n),
        "bad": (lambda: evaluate_many(bad_batch), batch_n),
        "bulk_good": (lambda: engine.bulk("reset", bulk_orders, bulk_user), batch_n),
        "bulk_bad": (lambda: engine.bulk("reset", bad_orders, bulk_user), batch_n),
    }, batch_rounds)
    results["bad_facts"] = {
        "evaluate": summarise(bad_rounds, "bad", "good"),
        "evaluate_unique": summarise(bad_rounds, "unique", "good"),
        "nonfinite": summarise(bad_rounds, "nf_bad", "nf_good"),
        "evaluate_many": summarise(bad_batch_rounds, "bad", "good"),
        "bulk": summarise(bad_batch_rounds, "bulk_bad", "bulk_good"),
    }

    print("timing: store dispatch (policies/) ...", flush=True)
    plain_rounds = compare({"engine": dir_evaluate, "handwritten": oa.handwritten_store_menu}, store_plain, **single)
    mixed_rounds = compare({"engine": dir_evaluate, "handwritten": oa.handwritten_store_menu}, store_mixed, **single)
    results["stores_no_override"] = summarise(plain_rounds, "engine", "handwritten")
    results["stores_mixed"] = summarise(mixed_rounds, "engine", "handwritten")

    print("timing: naive rule-engine ...", flush=True)
    # rounds start at each chunk of the first naive_n orders; the engine's balanced passes run on (wrapping around
    # within the same `chunk` orders as in the single-evaluate scenarios)
    naive_rounds_ns = compare({"naive": naive_menu, "engine": evaluate}, pairs, chunk=naive_chunk, passes=1,
                              limit=naive_n, pool=chunk)
    nf_naive_rounds = compare({"naive": nf_naive_menu, "engine": nf_evaluate}, nf_pairs, chunk=naive_chunk,
                              passes=1, limit=naive_n, pool=chunk)
    results["naive_default"] = {**summarise(naive_rounds_ns, "naive", "engine"), "orders": naive_n}
    results["naive_nonfinite"] = {**summarise(nf_naive_rounds, "naive", "engine"), "orders": naive_n}
    timing_s = time.perf_counter() - t_start

    # -- 3. the large synthetic policy ------------------------------------------------------------------------
    print("synthetic policy: loading in this process, evaluate ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="policyengine-bench-") as tmp:
        synth_path = Path(tmp) / "synthetic.yaml"
        synth_path.write_text(synth.text, encoding="utf-8")
        t0 = time.perf_counter()
        synth_engine = policyengine.load(synth_path)
        in_process_load_ms = (time.perf_counter() - t0) * 1000
    synth_pairs = synthetic.random_pairs(synth, max(200, synthetic_n), args.seed + 4)
    synth_naive = naive_menu_factory(synth_engine)
    try:
        checked["synthetic: naive rule-engine"] = verify("synthetic policy vs naive rule-engine",
                                                         synth_pairs[:synthetic_n],
                                                         lambda o, u: project(synth_engine.evaluate(o, u)),
                                                         synth_naive)
    except (Mismatch, AssertionError) as err:
        print(f"\nFAILED: the engine and naive rule-engine differ on the synthetic policy.\n{err}", file=sys.stderr)
        return 1
    synth_rounds = compare({"engine": synth_engine.evaluate, "naive": synth_naive}, synth_pairs, chunk=1, passes=1,
                           limit=synthetic_n, pool=len(synth_pairs))
    synth_res = summarise(synth_rounds, "naive", "engine")
    results["synthetic"] = {
        "policy": {"facts": len(synth.facts), "fact_types": {t: sum(1 for f in synth.facts if f.type == t)
                                                             for t in ("enum", "bool", "number", "set")},
                   "conditions": synth.conditions, "actions": synth.actions, "guards": synth.guards,
                   "effects": synth.effects, "yaml_lines": len(synth.text.splitlines())},
        "load_subprocess": load_res, "load_median_ms": statistics.median(load_res["times_ms"]),
        "load_median_cpu_ms": statistics.median(load_res["cpu_ms"]),
        "load_in_process_ms": in_process_load_ms, "specialised": synth_engine.specialised,
        "evaluate": {**synth_res, "naive_orders": synthetic_n},
    }

    # -- 4. report ----------------------------------------------------------------------------------------------
    d, dc, at = results["default_dicts"], results["default_dataclasses"], results["default_attrs"]
    b, nf, nfb = results["batch"], results["nonfinite"], results["nonfinite_batch"]
    sp, sm = results["stores_no_override"], results["stores_mixed"]
    nd, nn, sy = results["naive_default"], results["naive_nonfinite"], results["synthetic"]

    print()
    header = (f"{'scenario (ratio = first / second)':<46}{'first':>13}{'second':>13}{'ratio':>9}"
              f"{'min..max per round':>20}{'best/best':>11}{'rounds':>8}")
    print(header)
    print("-" * len(header))

    def row(label: str, eng: float, base: float, res: dict[str, Any]) -> None:
        digits = 0 if res["ratio"] >= 100 else 2
        spread = f"{res['ratio_min']:.{digits}f}..{res['ratio_max']:.{digits}f}"
        print(f"{label:<46}{_us(eng):>13}{_us(base):>13}{_ratio(res['ratio']):>9}{spread:>20}"
              f"{_ratio(res['ratio_best']):>11}{res['rounds']:>8}")

    row("default, dicts vs hand-written", d["engine_ns"], d["handwritten_ns"], d)
    row("default, dataclasses vs hand-written", dc["engine_ns"], dc["handwritten_ns"], dc)
    row("default, attrs vs hand-written", at["engine_ns"], at["handwritten_ns"], at)
    print(f"{'  (harness loop, no-op call: in both)':<46}{_us(d['overhead_ns']):>13}")
    row(f"batch {batch_n}: evaluate_many vs evaluate loop", b["evaluate_many_ns"], b["evaluate_loop_ns"], b)
    row("  evaluate_many vs hand-written loop", b["evaluate_many_ns"], b["handwritten_loop_ns"],
        b["evaluate_many_vs_handwritten_loop"])
    row("  bulk('reset', orders, user) vs evaluate loop", b["bulk_reset_ns"], b["evaluate_loop_ns"],
        b["bulk_vs_evaluate_loop"])
    row("  floor: bare reads + lookup vs evaluate loop", b["floor_loop_ns"], b["evaluate_loop_ns"],
        b["floor_vs_evaluate_loop"])
    row("non-finite, dicts vs hand-written", nf["engine_ns"], nf["handwritten_ns"], nf)
    row(f"  evaluate_many (batches of {chunk}) vs loop", nfb["evaluate_many_ns"], nfb["evaluate_loop_ns"], nfb)
    bf = results["bad_facts"]
    for label, res, bad_key, good_key in (
            ("bad facts vs good, evaluate (default)", bf["evaluate"], "bad_ns", "good_ns"),
            ("  every order bad its own way (context)", bf["evaluate_unique"], "unique_ns", "good_ns"),
            ("bad facts vs good, evaluate (non-finite)", bf["nonfinite"], "nf_bad_ns", "nf_good_ns"),
            (f"bad facts vs good, evaluate_many {batch_n}", bf["evaluate_many"], "bad_ns", "good_ns"),
            (f"bad facts vs good, bulk('reset') {batch_n}", bf["bulk"], "bulk_bad_ns", "bulk_good_ns")):
        row(label, res[bad_key], res[good_key], res)
    row("policies/ dir, stores without override", sp["engine_ns"], sp["handwritten_ns"], sp)
    row("policies/ dir, all 4 stores (acme, globex)", sm["engine_ns"], sm["handwritten_ns"], sm)
    sb, bi, bs, imp = results["stores_batch"], results["bulk_int"], results["bulk_str"], results["import"]
    row(f"policies/ batch {batch_n}: evaluate_many vs loop", sb["evaluate_many_ns"], sb["evaluate_loop_ns"], sb)
    row("bulk('reset'), int ids vs hand-written bulk", bi["bulk_int_ns"], bi["hand_int_ns"], bi)
    row("bulk('reset'), str ids vs hand-written bulk", bs["bulk_str_ns"], bs["hand_str_ns"], bs)
    row("naive rule-engine vs engine, default policy", nd["naive_ns"], nd["engine_ns"], nd)
    row("naive rule-engine vs engine, non-finite", nn["naive_ns"], nn["engine_ns"], nn)
    se = sy["evaluate"]
    row("naive rule-engine vs engine, synthetic", se["naive_ns"], se["engine_ns"], se)
    print("-" * len(header))
    pol, lr = sy["policy"], sy["load_subprocess"]
    hwm = f"{lr['vm_hwm_mb']:.0f} MB" if lr.get("vm_hwm_mb") else "n/a"
    print(f"synthetic policy: {pol['facts']} facts {pol['fact_types']}, {pol['conditions']} conditions, "
          f"{pol['actions']} actions, {pol['guards']} guards ({pol['yaml_lines']} YAML lines); "
          f"specialised={sy['specialised']}; one evaluate {se['engine_ns'] / 1e6:.2f} ms")
    print(f"  load in a fresh process, {len(lr['times_ms'])} rounds: median {sy['load_median_cpu_ms']:.0f} ms CPU "
          f"{lr['cpu_ms']}, {sy['load_median_ms']:.0f} ms wall {lr['times_ms']}")
    print(f"  peak RSS of that process (ru_maxrss) {lr['peak_rss_mb']:.0f} MB, {lr['rss_after_import_mb']:.0f} MB after "
          f"imports, VmHWM {hwm}; load in this process {sy['load_in_process_ms']:.0f} ms wall")

    def spread(res: dict[str, Any], digits: int = 2) -> str:
        return (f"{res['ratio_min']:.{digits}f}..{res['ratio_max']:.{digits}f} over {res['rounds']} rounds; "
                f"best/best {res['ratio_best']:.{digits}f}x")

    lock_proofs = report_lock_proofs()
    targets = [
        Target("dicts", "evaluate, default policy, dict inputs <= 1.0x hand-written", d["ratio"], 1.0,
               detail=spread(d)),
        Target("dataclasses", "evaluate, dataclass inputs <= 1.2x hand-written", dc["ratio"], 1.2, detail=spread(dc)),
        Target("attrs", "evaluate, attrs inputs <= 1.2x hand-written", at["ratio"], 1.2, detail=spread(at)),
        Target("evaluate_many", f"evaluate_many per order <= 0.7x the evaluate loop ({batch_n:,} orders)", b["ratio"],
               0.7, detail=f"{spread(b)}; batch loop in {'C' if engine.batch_in_c else 'Python'}; the floor "
                           f"(reads + lookup, no checks, in Python) is {b['floor_vs_evaluate_loop']['ratio']:.2f}x"),
        Target("nonfinite", "non-finite facts (total, tags) <= 2x hand-written", nf["ratio"], 2.0, detail=spread(nf)),
        *(Target(f"bad_facts_{key}", f"bad facts within 5x good facts: {what}", bf[key]["ratio"], 5.0,
                 detail=spread(bf[key]))
          for key, what in (("evaluate", "evaluate"), ("nonfinite", "evaluate, non-finite policy"),
                            ("evaluate_many", "evaluate_many"), ("bulk", "bulk"))),
        Target("stores_batch", "evaluate_many with store overrides (policies/) <= 0.7x its evaluate loop", sb["ratio"],
               0.7, detail=f"{spread(sb)}; batch loop in {'C' if dir_engine.batch_in_c else 'Python'}"),
        Target("bulk_int", "bulk <= 1.1x the hand-written bulk, int ids", bi["ratio"], 1.1, detail=spread(bi)),
        Target("bulk_str", "bulk <= 1.1x the hand-written bulk, str ids", bs["ratio"], 1.1, detail=spread(bs)),
        Target("import", "import policyengine <= 60 ms over a bare interpreter start (wall, best rounds)", imp["over_bare_ms"], 60,
               unit="ms", detail=f"best rounds of {imp['rounds']}: {imp['import_ms']:.0f} vs {imp['bare_ms']:.0f} ms bare; "
                                 f"medians {imp['over_bare_median_ms']:.0f} ms over; CPU (median) "
                                 f"{imp['cpu_over_bare_ms']:.0f} ms over; -X importtime: policyengine "
                                 f"{imp['importtime_us'] or 0} us cumulative"),
        Target("naive_default", ">= 500x faster than naive Rule.matches (default policy)", nd["ratio"], 500,
               higher_is_better=True, detail=spread(nd, 0)),
        Target("synthetic_load", "load + compile of the synthetic policy < 2 s (median CPU time)",
               sy["load_median_cpu_ms"], 2000, unit="ms",
               detail=f"CPU {min(lr['cpu_ms']):.0f}..{max(lr['cpu_ms']):.0f} ms; wall median {sy['load_median_ms']:.0f} "
                      f"ms ({min(lr['times_ms']):.0f}..{max(lr['times_ms']):.0f})"),
        Target("synthetic_rss", "peak RSS of the process loading it < 200 MB", lr["peak_rss_mb"], 200, unit="MB",
               detail=f"{lr['rss_after_import_mb']:.0f} MB after imports"),
    ]
    print()
    print("| target | measured | status | detail |")
    print("|---|---:|---|---|")
    for t in targets:
        print(f"| {t.text} | {_fmt(t.measured, t.unit)} | {'PASS' if t.passed else 'MISS'} | {t.detail} |")
    total_s = time.perf_counter() - t_all
    print(f"\n{sum(t.passed for t in targets)}/{len(targets)} targets met (timing {timing_s:.1f} s, whole run "
          f"{total_s:.1f} s). Ratios are medians of per-round ratios, engine and baseline interleaved in the same run; "
          f"this is not a test.")
    results["analysis"] = analysis_bench.run(quick=q)  # issue 15: per-analysis times (bench/analysis_bench.py)

    if args.json:
        out = {
            "machine": info,
            "config": {"n": n, "chunk": chunk, "passes": passes, "batch": batch_n, "batch_rounds": batch_rounds,
                       "naive_n": naive_n, "naive_chunk": naive_chunk, "synthetic_rounds": synthetic_rounds,
                       "synthetic_n": synthetic_n, "seed": args.seed, "quick": q, "default_policy_load_ms": load_ms,
                       "batch_in_c": engine.batch_in_c},
            "verified": checked,
            "targets": [t.to_dict() for t in targets],
            "results": results,
            "lock_proofs_cpu_ms": lock_proofs,
            "run_seconds": total_s,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
