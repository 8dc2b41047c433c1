"""The ``policyengine`` command line. Presentation only: it calls the public API and formats what comes back.

Exit codes (fixed by the design): 0 success, 1 a bad fact with ``--strict``, 2 bad usage (including unreadable
``--order``/``--user`` input), 3 the policies do not load, 4 policy tests failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .decision import Decision, Decisions
from .engine import load
from .errors import Diagnostic, FactError, PolicyError

__all__ = ["EXIT_FACTS", "EXIT_LOAD", "EXIT_OK", "EXIT_TESTS", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FACTS, EXIT_USAGE, EXIT_LOAD, EXIT_TESTS = 0, 1, 2, 3, 4
DEFAULT_PATH = "policies"


class UsageError(Exception):
    """Bad command-line input; exits 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policyengine", description="Load, check and evaluate action policies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check that the policies load; print every problem")
    validate.add_argument("path", nargs="?", default=DEFAULT_PATH, help="policy directory or file (default: policies)")
    validate.add_argument("--format", choices=("text", "json"), default="text")

    evaluate = sub.add_parser("evaluate", help="decide every action for one order and user")
    evaluate.add_argument("path", nargs="?", default=DEFAULT_PATH, help="policy directory or file (default: policies)")
    evaluate.add_argument("--order", required=True, help="the order as JSON text or a JSON file")
    evaluate.add_argument("--user", required=True, help="the user as JSON text or a JSON file")
    evaluate.add_argument("--store", help="decide as this store (default: the order's store.id)")
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.add_argument("--strict", action="store_true", help="exit 1 on a bad fact instead of failing closed")

    bulk = sub.add_parser("bulk", help="one action over many orders: which it applies to, and why not for the rest")
    bulk.add_argument("path", nargs="?", default=DEFAULT_PATH, help="policy directory or file (default: policies)")
    bulk.add_argument("--action", required=True, help="the action id, e.g. reset")
    bulk.add_argument("--orders", required=True, help="a JSON Lines file: one order per line")
    bulk.add_argument("--user", required=True, help="the user as JSON text or a JSON file")
    bulk.add_argument("--store", help="decide every order as this store (default: each order's store.id)")
    bulk.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _json_arg(value: str, name: str) -> Any:
    """``--order``/``--user`` take JSON text, or the path of a JSON file."""
    text = value
    if not value.lstrip().startswith(("{", "[")):
        try:
            text = Path(value).read_text("utf-8")
        except OSError as err:
            raise UsageError(f"--{name}: not JSON and not a readable file: {value} ({err.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--{name}: invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None


def _print_diagnostics(diagnostics: Sequence[Diagnostic], out: TextIO) -> None:
    for d in diagnostics:
        print(f"{d.file}:{d.line}:{d.column}: {d.message}", file=out)
        if d.path:
            print(f"    at {d.json_path}", file=out)
        if d.hint:
            print(f"    hint: {d.hint}", file=out)
    print(f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} found", file=out)


def _details(decision: Decision) -> str:
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
    rows += [(d.label, d.state, _details(d)) for d in decisions.values()]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    header = decisions.policy + (f" + store override {decisions.store_override}" if decisions.store_override else "")
    lines = [header]
    lines += [f"  {a:<{width[0]}}  {s:<{width[1]}}  {w}".rstrip() for a, s, w in rows]
    for problem in decisions.errors:
        lines.append(f"  ! {problem}")
    return "\n".join(lines)


def _cmd_validate(args: argparse.Namespace) -> int:
    engine = load(args.path)
    if args.format == "json":
        print(json.dumps({"ok": True, "policy": engine.name, "versions": list(engine.versions),
                          "stores": list(engine.stores), "revision": engine.revision, "diagnostics": []}))
    else:
        policy = engine.policy
        versions = ", ".join(str(v) for v in engine.versions)
        print(f"ok: {args.path}: {engine.name} (versions: {versions}; latest has {len(policy.actions)} actions, "
              f"{len(policy.facts)} facts, {len(policy.conditions)} conditions)")
        for store in engine.stores:
            override = engine.store_override(store)
            assert override is not None
            print(f"  store {store}: override {override.override.label} on {engine.name}@{override.base_version}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    order, user = _json_arg(args.order, "order"), _json_arg(args.user, "user")
    engine = load(args.path)
    try:
        decisions = engine.evaluate(order, user, strict=args.strict, store=args.store)
    except FactError as err:
        for problem in err.problems:
            print(f"bad fact {problem}", file=sys.stderr)
        return EXIT_FACTS
    if args.format == "json":
        print(json.dumps(decisions.to_dict(), indent=2))
    else:
        print(format_table(decisions))
    return EXIT_OK


def _read_jsonl(path: str) -> list[Any]:
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as err:
        raise UsageError(f"--orders: cannot read {path} ({err.strerror})") from None
    orders = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                orders.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UsageError(f"--orders: {path}:{number}: invalid JSON: {err.msg}") from None
    return orders


def _cmd_bulk(args: argparse.Namespace) -> int:
    orders, user = _read_jsonl(args.orders), _json_arg(args.user, "user")
    engine = load(args.path)
    try:
        result = engine.bulk(args.action, orders, user, store=args.store)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    print(result.summary)
    if result.applicable:
        print(f"  applies to ({len(result.applicable)}): {_orders(result.applicable, result.applicable_ids)}")
    for group in result.skipped:
        print(f"  skipped ({len(group.indexes)}): {group.reason}")
        print(f"    {_orders(group.indexes, group.order_ids)}")
    return EXIT_OK


def _orders(indexes: Sequence[int], ids: Sequence[str | None]) -> str:
    """Orders by id where known, else by line number in the input (1-based)."""
    return ", ".join(order_id if order_id is not None else f"line {i + 1}" for i, order_id in zip(indexes, ids, strict=True))


_COMMANDS = {"validate": _cmd_validate, "evaluate": _cmd_evaluate, "bulk": _cmd_bulk}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except UsageError as err:
        print(f"policyengine {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except PolicyError as err:
        if getattr(args, "format", None) == "json":
            print(json.dumps({"ok": False, "diagnostics": [d.to_dict() for d in err.diagnostics]}, indent=2))
        _print_diagnostics(err.diagnostics, sys.stderr)
        return EXIT_LOAD


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
