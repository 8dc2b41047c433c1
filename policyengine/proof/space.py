"""The finite fact space of a policy: what analysis (lock checks, matrices, verification) enumerates exactly.

Enum and bool facts have finite domains; a condition that reads only such facts can be checked over every
combination of their values, which is what Cedar needs an SMT solver for and we get exhaustively. Whether a
question is enumerated or handed to the solver (or refused) is decided here, once: :func:`decide_by` (with the
limits :func:`enumerate_limit` and :data:`MAX_SPACE`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import attrs

from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from . import smt

__all__ = ["ENUMERATE_LIMIT", "MAX_SPACE", "Strategy", "assignments", "combinations", "decide_by", "depends_on",
           "describe", "enumerate_limit", "finite_needed", "possible_assignments", "reached"]

MAX_SPACE = 1 << 16
"""More fact combinations than this for one question and it is not enumerated (the SMT solver decides it, or it is
refused or skipped, saying why)."""

ENUMERATE_LIMIT = 1 << 12
"""Enumeration evaluates every condition and action of the policy for each combination; while combinations times
the policy's conditions and actions stay under this, enumeration is faster than the solver. Past it, with the
solver installed, the solver decides (see :func:`enumerate_limit`)."""


def enumerate_limit(policy: CompiledPolicy) -> int:
    """How many combinations of ``policy``'s facts to enumerate before asking the solver instead (when installed)."""
    if not smt.available():
        return MAX_SPACE
    return ENUMERATE_LIMIT // max(16, len(policy.order))


def combinations(domains: Iterable[Sized]) -> int:
    """How many combinations of values ``domains`` have (1 for none)."""
    return math.prod(len(d) for d in domains)


@attrs.frozen(slots=True)
class Strategy:
    """How one question over some facts is decided: every combination of their values enumerated, or not (then
    the solver decides, or the caller refuses), and why."""

    open: tuple[FactSpec, ...]
    """The facts with no finite set of values: never enumerated."""
    size: int
    """How many combinations of the finite facts there are."""
    limit: int

    @property
    def too_many(self) -> bool:
        """Every fact is finite, but there are more combinations than the limit."""
        return not self.open and self.size > self.limit


def decide_by(facts: Iterable[FactSpec], limit: int = MAX_SPACE) -> Strategy:
    """Whether a question reading ``facts`` is enumerated (at most ``limit`` combinations of finite facts)."""
    chosen = list(facts)
    return Strategy(tuple(f for f in chosen if not f.finite), combinations(f.domain for f in chosen if f.finite), limit)


def reached(policy: CompiledPolicy, exprs: Iterable[CompiledExpr]) -> set[tuple[str, str]]:
    """The named conditions and actions ``exprs`` read, directly or through each other, as ``("condition", name)``
    and ``("action", id)``."""
    actions = {a.id: a for a in policy.actions}
    out: set[tuple[str, str]] = set()
    todo = list(exprs)
    while todo:
        expr = todo.pop()
        for name in expr.conditions:
            if ("condition", name) not in out:
                out.add(("condition", name))
                todo.append(policy.conditions[name])
        for action in expr.actions:
            if ("action", action) not in out:
                out.add(("action", action))
                todo += list(actions[action].exprs())
    return out


def depends_on(policy: CompiledPolicy, exprs: Iterable[CompiledExpr]) -> set[str]:
    """Every fact the conditions read, directly or through named conditions and referenced actions."""
    exprs = list(exprs)
    actions = {a.id: a for a in policy.actions}
    facts: set[str] = set().union(*(e.facts for e in exprs))
    for kind, name in reached(policy, exprs):
        for expr in [policy.conditions[name]] if kind == "condition" else actions[name].exprs():
            facts |= expr.facts
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
