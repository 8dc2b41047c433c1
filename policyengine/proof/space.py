"""The finite fact space of a policy: what analysis (lock checks, matrices, verification) enumerates exactly.

Enum and bool facts have finite domains; a condition that reads only such facts can be checked over every
combination of their values, which is what Cedar needs an SMT solver for and we get exhaustively.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec

__all__ = ["depends_on", "assignments", "possible_assignments", "finite_needed", "describe"]


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


def finite_needed(policy: CompiledPolicy) -> list[FactSpec]:
    """The finite facts the policy reads, in declaration order: the axes of its decision matrix."""
    return [policy.facts[i] for i in policy.needed if policy.facts[i].finite]


def possible_assignments(policy: CompiledPolicy, facts: Iterable[FactSpec] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`assignments` of ``facts`` (default: :func:`finite_needed`) that break none of the policy's
    declared constraints (a constraint that reads a fact not assigned is not applied)."""
    from ..runtime.interpret import Interpreter  # here, not at the top: interpret imports nothing from analysis

    chosen = list(finite_needed(policy) if facts is None else facts)
    names = {f.name for f in chosen}
    applicable = [expr for expr in policy.constraints.values() if depends_on(policy, [expr]) <= names]
    if not applicable:
        yield from assignments(chosen)
        return
    interpreter = Interpreter(policy)
    for values in assignments(chosen):
        env, _ = interpreter.resolve(values, defaults=False)
        interpreter.run(env)  # constraints may read named conditions
        if all(interpreter.value(expr, env) is not False for expr in applicable):
            yield values


def describe(assignment: dict[str, Any]) -> str:
    """A readable assignment: ``order.status='Open', user.role='member'``."""
    return ", ".join(f"{name}={value!r}" if not isinstance(value, bool) else f"{name}={str(value).lower()}"
                     for name, value in sorted(assignment.items())) or "any facts"
