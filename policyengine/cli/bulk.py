"""``policyengine bulk [PATH] --action ID --orders FILE.jsonl --user ...``: one action over many orders."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ..loader import load
from .common import EXIT_OK, UsageError, add_path, json_arg, read_jsonl, warn_store_mismatch
from .evaluate import details

HELP = "one action over many orders: which it applies to, and why not for the rest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    parser.add_argument("--action", required=True, help="the action id, e.g. reset")
    parser.add_argument("--orders", required=True, help="a JSON Lines file: one order per line (- for standard input)")
    parser.add_argument("--user", required=True, help="the user as JSON text, a JSON file, or - (standard input)")
    parser.add_argument("--store", help="decide every order as this store (default: each order's store.id)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--decisions", action="store_true",
                        help="also show each order's decision: the effects of the orders it applies to")


def _orders(indexes: Sequence[int], ids: Sequence[str | None], lines: Sequence[int]) -> str:
    """Orders by id where known, else by their line in the input file."""
    return ", ".join(order_id if order_id is not None else f"line {lines[i]}"
                     for i, order_id in zip(indexes, ids, strict=True))


def run(args: argparse.Namespace) -> int:
    rows, user = read_jsonl(args.orders), json_arg(args.user, "user")
    lines = [number for number, _ in rows]
    orders = [order for _, order in rows]
    engine = load(args.path)
    names = [o["id"] if isinstance(o, dict) and isinstance(o.get("id"), str) else f"line {n}" for n, o in rows]
    warn_store_mismatch("bulk", engine, args.store, orders, user, names)
    try:
        result = engine.bulk(args.action, orders, user, store=args.store, decisions=args.decisions)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    print(result.summary)
    if result.applicable:
        print(f"  applies to ({len(result.applicable)}): {_orders(result.applicable, result.applicable_ids, lines)}")
    for group in result.skipped:
        print(f"  skipped ({len(group.indexes)}): {group.reason}")
        print(f"    {_orders(group.indexes, group.order_ids, lines)}")
    if result.decisions is not None:
        print("  decisions:")
        ids: list[str | None] = [None] * result.total
        for group_ids, indexes in ((result.applicable_ids, result.applicable),
                                   *((g.order_ids, g.indexes) for g in result.skipped)):
            for i, order_id in zip(indexes, group_ids, strict=True):
                ids[i] = order_id
        for i, decision in enumerate(result.decisions):
            name = ids[i] if ids[i] is not None else f"line {lines[i]}"
            print(f"    {name}: {decision.state}" + (f"  {details(decision)}" if details(decision) else ""))
    return EXIT_OK
