"""``policyengine evaluate [PATH] --order ... --user ...``: the Actions menu for one order and user."""

from __future__ import annotations

import argparse
import json
import sys

from ..engine import Engine
from ..errors import FactError, did_you_mean
from ..loader import load
from ..runtime.decision import Decision, Decisions
from .common import EXIT_FACTS, EXIT_OK, add_order_and_user, add_path, order_and_user, warn_store_mismatch

HELP = "decide every action for one order and user"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    add_order_and_user(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a bad fact instead of failing closed")
    parser.add_argument("--no-provenance", dest="provenance", action="store_false",
                        help="JSON without the revision and the file:line:col of each source (stable for snapshots)")


def details(decision: Decision) -> str:
    """Why an action is not enabled, or what it does when it is."""
    if decision.state != "enabled":
        return "; ".join(decision.reasons)
    parts = []
    for effect in decision.effects:
        parts += [f"{fact} := {value}" for fact, value in effect.set.items()]
        if effect.operation:
            parts.append(f"{effect.operation}()")
    if decision.confirm:
        parts.append("asks to confirm")
    return ", ".join(parts)


def format_table(decisions: Decisions) -> str:
    """The Actions menu as a plain-text table."""
    rows = [("ACTION", "STATE", "WHY / WHAT IT DOES")]
    rows += [(d.label, d.state, details(d)) for d in decisions.values()]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    header = decisions.policy + (f" + store override {decisions.store_override}" if decisions.store_override else "")
    lines = [header]
    lines += [f"  {a:<{width[0]}}  {s:<{width[1]}}  {w}".rstrip() for a, s, w in rows]
    lines += [f"  ! {problem}" for problem in decisions.errors]
    return "\n".join(lines)


def warn_unknown_store(engine: Engine, store: str | None, order: object, user: object) -> None:
    """A store id that matches no store override (a typo, a wrong case) gets the base policy: say so on standard
    error, with the stores that have one (the exit code stays: a store without an override is allowed)."""
    if not engine.stores:
        return
    if store is None:
        from ..runtime.adapters import DefaultAdapter  # the CLI reads orders with the default adapter

        fact = next((f for f in engine.policy.facts if f.name == "store.id"), None)
        try:
            store = DefaultAdapter().getter(fact)(order, user) if fact is not None else None
        except Exception:  # no store id: the decision itself reports a bad one
            return
    if not isinstance(store, str) or store in engine.stores:
        return
    close = did_you_mean(store, engine.stores) or did_you_mean(store.lower(), engine.stores)
    print(f"policyengine evaluate: warning: store {store!r} has no store override, so the base policy decided "
          f"(stores with one: {', '.join(engine.stores)})" + (f"; {close}" if close else ""), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    order, user = order_and_user(args)
    engine = load(args.path)
    warn_store_mismatch("evaluate", engine, args.store, [order], user)
    warn_unknown_store(engine, args.store, order, user)
    try:
        decisions = engine.evaluate(order, user, strict=args.strict, store=args.store)
    except FactError as err:
        for problem in err.problems:
            print(f"cannot decide: {problem}", file=sys.stderr)
        return EXIT_FACTS
    if args.format == "json":
        print(json.dumps(decisions.to_dict(provenance=args.provenance), indent=2))
    else:
        print(format_table(decisions))
    return EXIT_OK
