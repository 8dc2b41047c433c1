"""The finite fact space of a policy: what analysis (lock checks, matrices, verification) enumerates exactly.

Enum and bool facts have finite domains; a condition that reads only such facts can be checked over every
combination of their values, which is what Cedar needs an SMT solver for and we get exhaustively.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from .compiler import CompiledExpr, CompiledPolicy
from .model import FactSpec

__all__ = ["depends_on", "assignments", "describe"]


def depends_on(policy: CompiledPolicy, exprs: Iterable[CompiledExpr]) -> set[str]:
    """Every fact the conditions read, directly or through named conditions and referenced actions."""
    actions = {a.id: a for a in policy.actions}
    facts: set[str] = set()
    seen: set[int] = set()
    todo = list(exprs)
    while todo:
        expr = todo.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        facts |= expr.facts
        todo += [policy.conditions[c] for c in expr.conditions]
        for action_id in expr.actions:
            todo += list(actions[action_id].exprs())
    return facts


def assignments(facts: Iterable[FactSpec]) -> Iterator[dict[str, Any]]:
    """Every combination of values of finite ``facts`` (in declaration order, first fact slowest)."""
    ordered = list(facts)
    for values in itertools.product(*(f.domain for f in ordered)):
        yield dict(zip((f.name for f in ordered), values, strict=True))


def describe(assignment: dict[str, Any]) -> str:
    """A readable assignment: ``order.status='Open', user.role='member'``."""
    return ", ".join(f"{name}={value!r}" if not isinstance(value, bool) else f"{name}={str(value).lower()}"
                     for name, value in sorted(assignment.items())) or "any facts"
