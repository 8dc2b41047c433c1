"""``policyengine explain [PATH] --order ... --user ... [--store ID] [--action ID]...``: for each action, the trace
that decided it: every fact read, every condition and guard with its value and source line, and (marked ``*``) the
ones that determined the state."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..analysis.explain import ActionExplanation, Explanation, FactValue, Trace, explain
from ..loader import load
from ..runtime.decision import Decision
from .common import EXIT_OK, UsageError, add_order_and_user, add_path, order_and_user, warn_store_mismatch

HELP = "show why each action is enabled, disabled or hidden for one order and user"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path(parser)
    add_order_and_user(parser)
    parser.add_argument("--action", action="append", metavar="ID", help="explain only this action; repeatable")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return "[" + ", ".join(repr(v) for v in sorted(value)) + "]"
    return repr(value)


def _fact(fact: FactValue) -> str:
    if fact.problem:
        return f"{fact.name}: {fact.problem}"
    return f"{fact.name} = {show(fact.value)}{' (default)' if fact.defaulted else ''}"


def _value(trace: Trace) -> str:
    if trace.value is None:
        return f"could not be decided ({'; '.join(trace.problems)})"
    return show(trace.value)


def _trace(trace: Trace, indent: int) -> list[str]:
    mark = "* " if trace.decisive else "  "
    pad = " " * indent
    if trace.kind == "visible" and trace.text.strip() == "true":
        return [f"{pad}{mark}visible: always (no visibility condition)"]
    head = {"visible": "visible", "allow": "allow", "guard": f"deny {trace.id}", "effect": f"effect {trace.id} when",
            "condition": f"{trace.id}"}[trace.kind]
    lines = [f"{pad}{mark}{head}: `{trace.text}` = {_value(trace)}  ({trace.where})"]
    inner = " " * (indent + 6)
    for fact in trace.facts:
        if trace.text.strip() != fact.name or fact.problem:
            lines.append(f"{inner}{_fact(fact)}")
    for read in trace.actions:
        lines.append(f"{inner}actions.{read.action}.{read.state} = {show(read.value)} ({read.action} is {read.decided})")
    for condition in trace.conditions:
        lines += _trace(condition, indent + 4)
    return lines


def _effects(decision: Decision) -> str:
    parts = []
    for effect in decision.effects:
        parts += [f"{fact} := {value}" for fact, value in effect.set.items()]
        if effect.operation:
            parts.append(f"{effect.operation}()")
    return ", ".join(parts)


def format_action(action: ActionExplanation) -> list[str]:
    decision = action.decision
    lines = [f"{action.label} ({action.action}): {decision.state}"]
    for trace in action.traces():
        lines += _trace(trace, 2)
    if action.allow is None:
        lines.append("    (allow and deny guards are not evaluated for a hidden action)")
    for reason in decision.reasons:
        lines.append(f"  reason: {reason}")
    if decision.state != "hidden" and decision.effects:
        lines.append(f"  effects: {_effects(decision)}")
    if action.note:
        lines.append(f"  note: {action.note}")
    return lines


def format_text(explanation: Explanation) -> str:
    header = explanation.policy
    if explanation.store_override:
        header += f" + store override {explanation.store_override}"
    elif explanation.store is not None:
        header += f" (store {explanation.store} has no override)"
    lines = [header, "facts:"]
    lines += [f"  {_fact(f)}" for f in explanation.facts]
    lines += [f"  ! {problem}" for problem in explanation.problems]
    lines.append("(* marks the conditions that determined the state)")
    for action in explanation.actions:
        lines.append("")
        lines += format_action(action)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    order, user = order_and_user(args)
    engine = load(args.path)
    warn_store_mismatch("explain", engine, args.store, [order], user)
    try:
        explanation = explain(engine, order, user, store=args.store, actions=args.action)
    except KeyError as err:
        known = ", ".join(a.id for a in engine.store_policy(args.store).actions)
        raise UsageError(f"--action: unknown action {err.args[0]!r} (actions: {known})") from None
    if args.format == "json":
        print(json.dumps(explanation.to_dict(), indent=2))
    else:
        print(format_text(explanation))
    return EXIT_OK
