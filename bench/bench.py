"""Benchmark: ``engine.evaluate`` against a hand-written Python function producing the same decisions.

What is measured (all in one run, on the same inputs):

1. **dict inputs**: ``engine.evaluate(order, user)`` vs :func:`handwritten_menu`, a plain-Python function a
   competent developer would write for ``policies/order-actions.yaml`` without the engine. It reads the same facts
   from the same dicts (``order["status"]``, ``order["has_shipment"]``, ``order["sent_to_warehouse"]``,
   ``order["store"]["manual_fulfillment"]``, ``user["role"]``) and returns, for each of the 8 actions in menu
   order, ``(action, label, state, reasons, confirm, effects)`` with effects as ``((sorted set items),
   operation)`` pairs, using module-level constants for the fixed texts. It does not type-check its inputs (the
   engine does, and fails closed on bad facts); that check is part of what the engine costs.
2. **object inputs**: the same with frozen dataclass and attrs objects, against :func:`handwritten_menu_obj`
   (attribute access).
3. **naive rule-engine**: the way one would use rule-engine directly: each condition parsed once into a
   ``rule_engine.Rule`` (the compiled policy's own ``CompiledExpr.rule`` objects) and matched with
   ``rule.matches(...)`` per condition per call, on nested dicts ``{"order", "store", "user", <condition>:
   bool}``. Run on fewer orders (it is about three orders of magnitude slower).

Before anything is timed, the engine's decisions, projected to the hand-written function's shape, are checked to
be exactly equal to the hand-written function's for every random order (dict and object inputs) and over the
whole finite fact space (13 statuses x has_shipment x sent_to_warehouse x manual_fulfillment x 3 roles); the
naive baseline is checked the same way. Any difference exits with status 1 and prints the input and both outputs.

Timing: ``time.perf_counter_ns`` around a loop over all N orders, garbage collection disabled during a round,
the implementations interleaved within each round (their order alternating). Reported: the median per-call time
in microseconds over the rounds, and the engine/hand-written ratio as the median of the per-round ratios. The
"loop overhead" row times a do-nothing function through the same loop, for context (it is not subtracted).
This is not a test and asserts nothing about timing.

Reproduce::

    make bench                                   # = .venv/bin/python bench/bench.py
    .venv/bin/python bench/bench.py --quick      # N=2000, 3 rounds
    .venv/bin/python bench/bench.py --n 20000 --rounds 11 --json bench-results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policyengine  # noqa: E402

POLICIES = ROOT / "policies"

STATUSES = ("New", "Pending", "Queued", "Bundled", "Routed", "Open", "Partially Shipped", "Shipped", "Error",
            "Skipped", "Closed", "Abandoned", "Archived")
ROLES = ("admin", "member", "viewer")
STORES = ("acme", "globex", "initech", "umbrella")

# ---------------------------------------------------------------------------------------------------------------
# The hand-written baseline: what a developer would write for policies/order-actions.yaml without the engine.
# ---------------------------------------------------------------------------------------------------------------

READ_ONLY = ("Read-only users can't change orders.",)
HAS_SHIPMENT = ("The order already has a shipment; resetting would re-process an order the warehouse has already "
                "worked.",)
SENT_TO_WAREHOUSE = ("The order was already sent to the warehouse; archive it first.",)

RESET_CONFIRM = "Reset is destructive. All processing, rule actions and manual edits on this order are lost."
DELETE_CONFIRM = "Delete this order permanently? It is not deleted from the sales channel and may be imported again."
FORCE_DELETE_CONFIRM = "Force-delete this order? This bypasses the sent-to-warehouse check; use sparingly."

# effects: ((sorted (fact, value) pairs), operation)
REPROCESS_ABANDONED = (((("order.status", "Open"),), None), ((), "retry_last_step"))
REPROCESS_ARCHIVED = (((), "resume_processing"),)
REPROCESS_OTHER = (((), "retry_last_step"),)
EDIT_EFFECTS = (((), "open_edit_form"),)
RESET_EFFECTS = (((("order.status", "New"),), "restart_processing"),)
ARCHIVE_EFFECTS = (((("order.status", "Archived"),), "stop_processing"),)
DELETE_EFFECTS = (((), "delete_order"),)
SCHEDULE_EFFECTS = (((), "schedule_processing"),)
REVALIDATE_EFFECTS = (((), "revalidate"),)

ARCHIVE_HIDDEN = ("archive", "Archive", "hidden", ("The order is already archived.",), None, ())
FORCE_DELETE_ENABLED = ("force_delete", "Force Delete", "enabled", (), FORCE_DELETE_CONFIRM, DELETE_EFFECTS)
FORCE_DELETE_HIDDEN = ("force_delete", "Force Delete", "hidden", ("Only account admins can force-delete orders.",),
                       FORCE_DELETE_CONFIRM, ())
SCHEDULE_HIDDEN = ("schedule_process", "Schedule Process", "hidden",
                   ("Only for Pending orders of stores with manual order fulfillment.",), None, ())
REVALIDATE_HIDDEN = ("revalidate", "Revalidate", "hidden",
                     ("Only for orders in Error of stores with manual order fulfillment.",), None, ())

Row = tuple[str, str, str, tuple[str, ...], "str | None", tuple[Any, ...]]


def handwritten_menu(order: dict, user: dict) -> tuple[Row, ...]:
    """The order's Actions menu, hand-written: one (action, label, state, reasons, confirm, effects) per action."""
    status = order["status"]
    has_shipment = order["has_shipment"]
    sent_to_warehouse = order["sent_to_warehouse"]
    manual = order["store"]["manual_fulfillment"]
    role = user["role"]

    is_admin = role == "admin"
    if is_admin or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if status == "Abandoned":
        reprocess_effects = REPROCESS_ABANDONED
    elif status == "Archived":
        reprocess_effects = REPROCESS_ARCHIVED
    else:
        reprocess_effects = REPROCESS_OTHER

    if has_shipment:
        reset = ("reset", "Reset", "disabled", reasons + HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    if sent_to_warehouse:
        delete = ("delete", "Delete", "disabled", reasons + SENT_TO_WAREHOUSE, DELETE_CONFIRM, DELETE_EFFECTS)
    else:
        delete = ("delete", "Delete", state, reasons, DELETE_CONFIRM, DELETE_EFFECTS)

    return (
        ("reprocess", "Reprocess", state, reasons, None, reprocess_effects),
        ("edit", "Edit", state, reasons, None, EDIT_EFFECTS),
        reset,
        ARCHIVE_HIDDEN if status == "Archived" else ("archive", "Archive", state, reasons, None, ARCHIVE_EFFECTS),
        delete,
        FORCE_DELETE_ENABLED if is_admin else FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
    )


def handwritten_menu_obj(order: Any, user: Any) -> tuple[Row, ...]:
    """:func:`handwritten_menu` for order/user objects (attribute access); the body is the same."""
    status = order.status
    has_shipment = order.has_shipment
    sent_to_warehouse = order.sent_to_warehouse
    manual = order.store.manual_fulfillment
    role = user.role

    is_admin = role == "admin"
    if is_admin or role == "member":
        state, reasons = "enabled", ()
    else:
        state, reasons = "disabled", READ_ONLY

    if status == "Abandoned":
        reprocess_effects = REPROCESS_ABANDONED
    elif status == "Archived":
        reprocess_effects = REPROCESS_ARCHIVED
    else:
        reprocess_effects = REPROCESS_OTHER

    if has_shipment:
        reset = ("reset", "Reset", "disabled", reasons + HAS_SHIPMENT, RESET_CONFIRM, RESET_EFFECTS)
    else:
        reset = ("reset", "Reset", state, reasons, RESET_CONFIRM, RESET_EFFECTS)
    if sent_to_warehouse:
        delete = ("delete", "Delete", "disabled", reasons + SENT_TO_WAREHOUSE, DELETE_CONFIRM, DELETE_EFFECTS)
    else:
        delete = ("delete", "Delete", state, reasons, DELETE_CONFIRM, DELETE_EFFECTS)

    return (
        ("reprocess", "Reprocess", state, reasons, None, reprocess_effects),
        ("edit", "Edit", state, reasons, None, EDIT_EFFECTS),
        reset,
        ARCHIVE_HIDDEN if status == "Archived" else ("archive", "Archive", state, reasons, None, ARCHIVE_EFFECTS),
        delete,
        FORCE_DELETE_ENABLED if is_admin else FORCE_DELETE_HIDDEN,
        ("schedule_process", "Schedule Process", state, reasons, None, SCHEDULE_EFFECTS)
        if manual and status == "Pending" else SCHEDULE_HIDDEN,
        ("revalidate", "Revalidate", state, reasons, None, REVALIDATE_EFFECTS)
        if manual and status == "Error" else REVALIDATE_HIDDEN,
    )


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StoreDC:
    id: str
    manual_fulfillment: bool


@dataclasses.dataclass(frozen=True, slots=True)
class OrderDC:
    id: int
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: StoreDC


@dataclasses.dataclass(frozen=True, slots=True)
class UserDC:
    role: str


@attrs.frozen(slots=True)
class StoreAttrs:
    id: str
    manual_fulfillment: bool


@attrs.frozen(slots=True)
class OrderAttrs:
    id: int
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: StoreAttrs


@attrs.frozen(slots=True)
class UserAttrs:
    role: str


Pair = tuple[Any, Any]


def make_order(i: int, status: str, has_shipment: bool, sent: bool, store: str, manual: bool) -> dict:
    return {"id": i, "status": status, "has_shipment": has_shipment, "sent_to_warehouse": sent,
            "store": {"id": store, "manual_fulfillment": manual}}


def random_pairs(n: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    return [(make_order(i, rng.choice(STATUSES), rng.random() < 0.5, rng.random() < 0.5, rng.choice(STORES),
                        rng.random() < 0.5), {"role": rng.choice(ROLES)}) for i in range(n)]


def all_pairs() -> list[Pair]:
    """The whole finite fact space: 13 x 2 x 2 x 2 x 3 = 312 (order, user) pairs."""
    return [(make_order(i, status, ship, sent, "acme", manual), {"role": role})
            for i, (status, ship, sent, manual, role) in enumerate(
                (s, a, b, m, r) for s in STATUSES for a in (False, True) for b in (False, True)
                for m in (False, True) for r in ROLES)]


def to_objects(pairs: Sequence[Pair], order_cls: type, store_cls: type, user_cls: type) -> list[Pair]:
    return [(order_cls(o["id"], o["status"], o["has_shipment"], o["sent_to_warehouse"],
                       store_cls(o["store"]["id"], o["store"]["manual_fulfillment"])), user_cls(u["role"]))
            for o, u in pairs]


# ---------------------------------------------------------------------------------------------------------------
# The engine's answer in the hand-written shape, and the naive rule-engine baseline
# ---------------------------------------------------------------------------------------------------------------


def project(decisions: Any) -> tuple[Row, ...]:
    if decisions.errors:
        raise AssertionError(f"the engine reported fact errors: {decisions.errors}")
    return tuple((d.action, d.label, d.state, d.reasons, d.confirm,
                  tuple((tuple(sorted(e.set.items())), e.operation) for e in d.effects))
                 for d in decisions.values())


def naive_menu_factory(engine: policyengine.Engine) -> Callable[[dict, dict], tuple[Row, ...]]:
    """rule-engine used directly: every condition a parsed ``Rule``, matched with ``rule.matches`` per call."""
    policy = engine.policy
    conditions = [(name, expr.rule) for name, expr in policy.conditions.items()]  # in dependency order here
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

    def naive_menu(order: dict, user: dict) -> tuple[Row, ...]:
        thing = {"order": order, "store": order["store"], "user": user}
        for name, rule in conditions:
            thing[name] = rule.matches(thing)
        rows = []
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


# ---------------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------------


class Mismatch(Exception):
    pass


def _describe(x: Any) -> str:
    if dataclasses.is_dataclass(x) or attrs.has(type(x)):
        return repr(x)
    return json.dumps(x)


def verify(name: str, pairs: Sequence[Pair], got: Callable[[Any, Any], Any],
           expected: Callable[[Any, Any], Any]) -> int:
    for order, user in pairs:
        a, b = got(order, user), expected(order, user)
        if a != b:
            lines = [f"MISMATCH ({name}) on input:", f"  order = {_describe(order)}", f"  user  = {_describe(user)}"]
            for ra, rb in zip(a, b):
                if ra != rb:
                    lines += [f"  action {rb[0]!r}:", f"    engine/candidate: {ra!r}", f"    hand-written:     {rb!r}"]
            if len(a) != len(b):
                lines.append(f"  {len(a)} rows vs {len(b)} rows")
            raise Mismatch("\n".join(lines))
    return len(pairs)


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


def _noop(order: Any, user: Any) -> None:
    return None


def time_round(fn: Callable[[Any, Any], Any], pairs: Sequence[Pair]) -> float:
    """Nanoseconds per call for one pass over ``pairs`` with gc disabled."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for order, user in pairs:
            fn(order, user)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / len(pairs)


def compare(contenders: dict[str, Callable[[Any, Any], Any]], pairs: Sequence[Pair], rounds: int,
            warmup: bool = True) -> dict[str, list[float]]:
    """Per-call ns of each contender per round; contenders interleaved, their order alternating per round."""
    names = list(contenders)
    if warmup:
        for name in names:
            time_round(contenders[name], pairs[: min(len(pairs), 500)])
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(time_round(contenders[name], pairs))
    return out


def summarise(per_round: dict[str, list[float]], num: str, den: str) -> dict[str, Any]:
    ratios = [a / b for a, b in zip(per_round[num], per_round[den])]
    return {
        **{f"{name}_us": statistics.median(v) / 1000 for name, v in per_round.items()},
        **{f"{name}_rounds_us": [round(x / 1000, 4) for x in v] for name, v in per_round.items()},
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="random orders per round (default 10000; quick 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7; quick 3)")
    parser.add_argument("--naive-n", type=int, default=None,
                        help="orders for the naive rule-engine baseline (default 1000; quick 200)")
    parser.add_argument("--naive-rounds", type=int, default=3, help="rounds for the naive baseline (default 3)")
    parser.add_argument("--seed", type=int, default=20240601, help="RNG seed for the random orders")
    parser.add_argument("--quick", action="store_true", help="a short run: N=2000, 3 rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    n = args.n if args.n is not None else (2000 if args.quick else 10_000)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    naive_n = args.naive_n if args.naive_n is not None else (200 if args.quick else 1000)
    if n < 1 or rounds < 1 or naive_n < 1 or args.naive_rounds < 1:
        parser.error("--n, --rounds, --naive-n and --naive-rounds must be positive")

    info = machine()
    print(f"policyengine benchmark: {info['implementation']} {info['python']}, nproc={info['nproc']}, "
          f"{info['platform']}")
    t0 = time.perf_counter()
    engine = policyengine.load(POLICIES)
    load_ms = (time.perf_counter() - t0) * 1000
    evaluate = engine.evaluate
    print(f"policy {engine.name}@{engine.version} ({len(engine.actions)} actions) loaded in {load_ms:.1f} ms; "
          f"N={n}, rounds={rounds}, naive N={naive_n} x {args.naive_rounds} rounds, seed={args.seed}")

    pairs = random_pairs(n, args.seed)
    space = all_pairs()
    dc_pairs, attrs_pairs = (to_objects(pairs, OrderDC, StoreDC, UserDC),
                             to_objects(pairs, OrderAttrs, StoreAttrs, UserAttrs))
    naive_menu = naive_menu_factory(engine)
    naive_pairs = pairs[:naive_n]

    def engine_projected(o: Any, u: Any) -> tuple[Row, ...]:
        return project(evaluate(o, u))

    # -- 1. equivalence, before any timing ------------------------------------------------------------------
    checked: dict[str, int] = {}
    try:
        if tuple(engine.actions) != tuple(row[0] for row in handwritten_menu(*pairs[0])):
            raise Mismatch(f"action order differs: engine {engine.actions}")
        checked["fact space, dicts"] = verify("fact space, dict inputs", space, engine_projected, handwritten_menu)
        checked["fact space, dataclasses"] = verify(
            "fact space, dataclass inputs", to_objects(space, OrderDC, StoreDC, UserDC), engine_projected,
            handwritten_menu_obj)
        checked["fact space, attrs"] = verify(
            "fact space, attrs inputs", to_objects(space, OrderAttrs, StoreAttrs, UserAttrs), engine_projected,
            handwritten_menu_obj)
        checked["fact space, naive rule-engine"] = verify("fact space, naive rule-engine", space, naive_menu,
                                                          handwritten_menu)
        checked["random, dicts"] = verify("random dict inputs", pairs, engine_projected, handwritten_menu)
        checked["random, dataclasses"] = verify("random dataclass inputs", dc_pairs, engine_projected,
                                                handwritten_menu_obj)
        checked["random, attrs"] = verify("random attrs inputs", attrs_pairs, engine_projected,
                                          handwritten_menu_obj)
    except (Mismatch, AssertionError) as err:
        print(f"\nFAILED: the decisions differ from the hand-written function's (nothing was timed).\n{err}",
              file=sys.stderr)
        return 1
    print("verified identical decisions: " + ", ".join(f"{k} ({v})" for k, v in checked.items()))

    # -- 2. timing ----------------------------------------------------------------------------------------------
    t_start = time.perf_counter()
    dict_rounds = compare({"engine": evaluate, "handwritten": handwritten_menu, "overhead": _noop}, pairs, rounds)
    dc_rounds = compare({"engine": evaluate, "handwritten": handwritten_menu_obj}, dc_pairs, rounds)
    attrs_rounds = compare({"engine": evaluate, "handwritten": handwritten_menu_obj}, attrs_pairs, rounds)
    naive_rounds = compare({"naive": naive_menu, "engine": evaluate}, naive_pairs, args.naive_rounds)
    timing_s = time.perf_counter() - t_start

    dict_res = summarise(dict_rounds, "engine", "handwritten")
    dc_res = summarise(dc_rounds, "engine", "handwritten")
    attrs_res = summarise(attrs_rounds, "engine", "handwritten")
    naive_res = summarise(naive_rounds, "naive", "engine")

    # -- 3. report ----------------------------------------------------------------------------------------------
    print()
    header = f"{'inputs':<22}{'engine µs':>11}{'hand-written µs':>17}{'engine/hand':>13}{'  (min..max per round)':>24}"
    print(header)
    print("-" * len(header))
    for label, res in (("dicts", dict_res), ("dataclass objects", dc_res), ("attrs objects", attrs_res)):
        print(f"{label:<22}{res['engine_us']:>11.3f}{res['handwritten_us']:>17.3f}{res['ratio']:>12.2f}x"
              f"{'':>6}{res['ratio_min']:.2f}..{res['ratio_max']:.2f}")
    print(f"{'loop overhead (no-op)':<22}{dict_res['overhead_us']:>11.3f}{'':>17}{'':>13}   (included in both)")
    print()
    print(f"naive rule-engine (rule.matches per condition, {naive_n} dict orders): "
          f"{naive_res['naive_us']:.1f} µs/call vs engine {naive_res['engine_us']:.3f} µs/call "
          f"-> engine is {naive_res['ratio']:.0f}x faster")
    print(f"(timing took {timing_s:.1f} s; medians over rounds; ratio = median of per-round ratios)")

    if args.json:
        result = {
            "machine": info,
            "config": {"n": n, "rounds": rounds, "naive_n": naive_n, "naive_rounds": args.naive_rounds,
                       "seed": args.seed, "policy": f"{engine.name}@{engine.version}", "load_ms": load_ms},
            "verified": checked,
            "dicts": dict_res,
            "dataclasses": dc_res,
            "attrs": attrs_res,
            "naive_rule_engine": {**naive_res, "engine_speedup": naive_res["ratio"]},
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
