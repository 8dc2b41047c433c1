"""``policyengine plan [PATH] ACTION --user ... [--store ID] [--state S] [--format text|json|sql]``: which orders
an action applies to, as a condition over the order's facts, or as the SQL ``WHERE`` clause a database runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..loader import load
from ..runtime.plan import (
    PLAN_STATES,
    And,
    Arith,
    Compare,
    Fact,
    Fail,
    Guard,
    IfElse,
    In,
    IsTrue,
    Known,
    Length,
    Match,
    Neg,
    Node,
    Not,
    Or,
    PlanError,
    Succeeds,
    Valid,
    Value,
)
from .common import EXIT_FACTS, EXIT_OK, MAX_JSON_BYTES, STDIN, STDIN_NAME, UsageError, add_path, json_arg, parse_json, read_input

HELP = "which orders an action applies to: the policy as a condition over order facts, or a SQL WHERE clause"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("action", metavar="ACTION", help="the action id, e.g. reset")
    parser.add_argument("--user", required=True, help="the user as JSON text, a JSON file, or - (standard input)")
    parser.add_argument("--store", help="plan as this store (default: every store, each by its own policy)")
    parser.add_argument("--state", choices=PLAN_STATES, default="enabled", help="which orders (default: enabled)")
    parser.add_argument("--format", choices=("text", "json", "sql"), default="text")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"), default="sqlite", help="SQL dialect (--format sql)")
    parser.add_argument("--columns", help="JSON file (- for standard input) mapping facts to columns:"
                                          " {\"order.status\": \"orders.status\"}"
                                          " (default: table orders, order.status -> status, store.id -> store_id)")


def run(args: argparse.Namespace) -> int:
    user = json_arg(args.user, "user")
    engine = load(args.path)
    try:
        plan = engine.plan(args.action, user, store=args.store, state=args.state)
        if args.format == "json":
            print(json.dumps(plan.to_dict(), indent=2))
        elif args.format == "sql":
            if args.dialect == "postgresql":  # a backslash in a literal is then itself (PostgreSQL's default since 9.1)
                print("-- string literals assume standard_conforming_strings = on")
            print("WHERE " + _sql(plan, _columns(args.columns, plan.facts), args.dialect))
        else:
            scope = f"store {args.store}" if args.store else "every store"
            print(f"{plan.action} is {plan.state} for this user ({scope}): {plan.kind}")
            for policy in plan.policies:
                print(f"  policy {policy}")
            for refused in plan.refused:
                print(f"  fails closed (hidden): {refused}")
            if plan.kind == "conditional":
                print(f"  when {text(plan.condition)}")
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    except PlanError as err:
        print(f"cannot plan: {err}", file=sys.stderr)
        return EXIT_FACTS
    return EXIT_OK


def _columns(path: str | None, facts: tuple[str, ...]) -> dict[str, Any]:
    import sqlalchemy as sa

    if path is None:
        names = {f: f.removeprefix("order.").replace(".", "_") for f in facts}
        mapping = {f: f"orders.{name}" for f, name in names.items()}
    else:
        shown = STDIN_NAME if path == STDIN else path
        mapping = parse_json(read_input(path, "--columns", MAX_JSON_BYTES), f"--columns: {shown}")
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise UsageError("--columns: expected a JSON object mapping fact names to \"table.column\" strings")
    columns = {}
    for fact, where in mapping.items():
        table, _, column = where.rpartition(".")
        columns[fact] = sa.table(table, sa.column(column)).c[column] if table else sa.column(column)
    return columns


def _sql(plan: Any, columns: dict[str, Any], dialect_name: str) -> str:
    from sqlalchemy.dialects import postgresql, sqlite

    from ..sql import where

    try:
        expression = where(plan, columns)
    except KeyError as err:
        raise UsageError(f"--columns: {err.args[0]}") from None
    dialect: Any = postgresql.dialect() if dialect_name == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
    return str(expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def text(node: Node) -> str:
    """A plan condition as one readable line (``valid(order.status)`` is "holds a good value")."""
    if isinstance(node, Value):
        if node.type == "list":
            return "[" + ", ".join(text(Value(v, "")) for v in sorted(node.value, key=str)) + "]"  # type: ignore[arg-type]
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        return repr(node.value) if isinstance(node.value, str) else str(node.value)
    if isinstance(node, Fact):
        return node.name
    if isinstance(node, Valid):
        return f"valid({node.fact.name})"
    if isinstance(node, (And, Or)):
        word = " and " if isinstance(node, And) else " or "
        return word.join(_wrapped(a) for a in node.args)
    if isinstance(node, Not):
        return f"not {_wrapped(node.arg)}"
    if isinstance(node, (Compare, Arith)):
        return f"{_wrapped(node.left)} {node.op} {_wrapped(node.right)}"
    if isinstance(node, In):
        return f"{_wrapped(node.member)} in {_wrapped(node.container)}"
    if isinstance(node, Length):
        return f"{_wrapped(node.value)}.length"
    if isinstance(node, Neg):
        return f"-{_wrapped(node.value)}"
    if isinstance(node, Match):
        return f"{_wrapped(node.value)} {'=~~' if node.search else '=~'} {node.pattern!r}"
    if isinstance(node, Succeeds):  # the computations do not fail (a division by zero...)
        return f"succeeds({', '.join(text(v) for v in node.values)})"
    if isinstance(node, Fail):
        return f"fails({node.error})"
    if isinstance(node, Known):
        return f"known({text(node.arg)})"
    if isinstance(node, IsTrue):
        return f"is-true({text(node.arg)})"
    if isinstance(node, Guard):  # the atom's value where it can be decided, else unknown
        return f"{_wrapped(node.known)} ? {_wrapped(node.value)} : unknown"
    assert isinstance(node, IfElse)
    return f"{_wrapped(node.test)} ? {_wrapped(node.then)} : {_wrapped(node.otherwise)}"


def _wrapped(node: Node) -> str:
    simple = isinstance(node, (Value, Fact, Valid, Length, Succeeds, Fail))
    return text(node) if simple else f"({text(node)})"
