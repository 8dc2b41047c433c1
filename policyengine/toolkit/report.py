"""How a failed policy test case reads: expected vs actual per action, as ``policyengine test`` prints it and
:func:`policyengine.testing.check_suites` raises it (one wording for both)."""

from __future__ import annotations

import json
from typing import Any

from ..runtime.decision import Effect
from .suites import STATE_GROUPS, CaseResult, Mismatch

__all__ = ["failure_text", "mismatch_lines", "show_effect", "show_state", "show_value"]


def show_state(state: str) -> str:
    group = STATE_GROUPS.get(state)
    return f"{state} ({' or '.join(sorted(group))})" if group is not None and len(group) > 1 else state


def show_effect(effect: Effect) -> str:
    parts = [f"{fact} := {value}" for fact, value in effect.set.items()]
    if effect.operation:
        parts.append(effect.operation)
    return " + ".join(parts)


def show_value(check: str, value: Any, result: CaseResult | None = None, action: str = "") -> str:
    if check == "state":
        if result is not None:  # the actual state: say why it is not enabled
            reasons = result.decisions[action].reasons
            return str(value) + (f" ({'; '.join(reasons)})" if reasons else "")
        return show_state(value)
    if check == "effects":
        return "[" + ", ".join(show_effect(e) for e in value) + "]"
    if check in ("reasons", "guards"):
        return json.dumps(list(value), ensure_ascii=False)
    if check == "confirm":
        if value is True:
            return "asks to confirm"
        if value is False or value is None:
            return "no confirmation"
    return json.dumps(value, ensure_ascii=False)


def mismatch_lines(result: CaseResult, mismatch: Mismatch) -> list[str]:
    rule = " (by the default rule)" if mismatch.implicit else ""
    return [
        f"  {mismatch.action}: {mismatch.check}{rule}  [{mismatch.where}]",
        f"    expected: {show_value(mismatch.check, mismatch.expected)}",
        f"    actual:   {show_value(mismatch.check, mismatch.actual, result, mismatch.action)}",
    ]


def failure_text(result: CaseResult) -> str:
    """Everything wrong with a failed case, expected vs actual per action."""
    lines = [f"  decided by {result.policy}"]
    for mismatch in result.mismatches:
        lines += mismatch_lines(result, mismatch)
    lines += [f"  could not be decided: {problem}" for problem in result.errors]
    return "\n".join(lines)
