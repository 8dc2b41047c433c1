"""Does one policy widen another over the finite facts? The decision procedure behind every lock check.

A lock is a :class:`Claim`: wherever its premise holds (a condition of one policy is true, or an action of one
policy is enabled), one of its conclusions holds too. :func:`decide` searches the combinations of the facts the
claim reads (through named conditions and action references, and nothing else) for a counterexample.

It is fast because it never evaluates a whole policy. When every condition involved is plain boolean structure,
the claim is decided on decision diagrams (:mod:`.bdd`), with no combination tried one by one. Otherwise each named
condition and action is evaluated on demand and remembered by the values of the facts it reads (a :class:`Cone`),
so a condition shared by many combinations, or by many claims, is evaluated once per combination of *its own*
facts. Every diagram node, evaluation and combination is paid from a :class:`Budget`, so a hostile override is
refused in bounded time instead of running for minutes.

Facts without a finite set of values (string, number, set) are not enumerated: :func:`decide` answers
:class:`Unprovable` for them. A solver may serve such claims instead; it sees the same :class:`Claim` (the
conditions of each side, as compiled) and answers the same three ways.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import attrs

from ..errors import FactProblem
from ..ir.python import function
from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from ..runtime.interpret import Interpreter, Unknown, namespace_for
from .bdd import Diagrams, Symbolic
from .space import depends_on

__all__ = ["Budget", "Claim", "Cone", "OverBudget", "Term", "Unprovable", "decide", "MAX_CLAIM_SPACE",
           "MAX_PROOF_WORK"]

MAX_CLAIM_SPACE = 1 << 16
"""More combinations than this in one claim that must be enumerated (not decided on decision diagrams) and it is
refused as unprovable rather than searched."""

MAX_PROOF_WORK = 1 << 19
"""Evaluations and combinations one load may spend on proofs (all claims of an override or a version together)."""


class OverBudget(Exception):
    """The proofs would cost more than their :class:`Budget`."""


@attrs.define(slots=True)
class Budget:
    """Work for proofs: one unit per combination tried, condition or action evaluated, and diagram node built."""

    limit: int = MAX_PROOF_WORK
    spent: int = 0

    def spend(self, units: int) -> None:
        self.spent += units
        if self.spent > self.limit:
            raise OverBudget(f"more than {self.limit} evaluations")


@attrs.frozen(slots=True)
class Term:
    """A statement about one side: ``expr`` is true, or (``expr`` None) action ``action`` is enabled; ``negated``
    flips it (action not enabled)."""

    side: str  # "base" | "other"
    expr: CompiledExpr | None = None
    action: str | None = None
    negated: bool = False


@attrs.frozen(slots=True)
class Claim:
    """Wherever ``premise`` holds, one of ``conclusions`` holds (none: the premise never holds)."""

    premise: Term
    conclusions: tuple[Term, ...]


@attrs.frozen(slots=True)
class Unprovable:
    """The claim cannot be decided by enumeration; ``why`` says what stands in the way."""

    why: str


class _Env(dict[Any, Any]):
    """An interpreter environment for one combination: facts, named conditions and actions looked up on demand."""

    __slots__ = ("assigned", "cone")

    def __init__(self, cone: Cone, values: Mapping[str, Any]) -> None:
        super().__init__()
        self.cone, self.assigned = cone, values  # not `values`: that is dict's method

    def __missing__(self, key: Any) -> Any:
        fact = self.cone.fact_of.get(key)
        if fact is not None:
            value = self.assigned[fact] if fact in self.assigned else _NOT_ASSIGNED
        else:
            value = self.cone.node(key, self)
        self[key] = value
        return value


_NOT_ASSIGNED = Unknown((FactProblem("(a fact)", "not part of the combination"),))


@attrs.frozen(slots=True)
class _Fast:
    """A condition that reads only facts and named conditions, as a function of them (its Python translation)."""

    fn: Callable[..., Any]
    facts: tuple[str, ...]
    """The facts it reads by name, its first parameters."""
    conditions: tuple[str, ...]
    """The ``c_<name>`` of the named conditions it reads, its other parameters."""


class Cone:
    """Evaluates the conditions of one policy over partial combinations of facts, each named condition and action
    remembered by the values of the facts it reads."""

    def __init__(self, policy: CompiledPolicy, budget: Budget, diagrams: Diagrams) -> None:
        self.policy, self.budget = policy, budget
        self.symbolic = Symbolic(policy, diagrams)
        self.interpreter = Interpreter(policy)
        self.fact_of = {f"f{i}": name for name, i in self.interpreter.fact_index.items()}
        self.actions = {a.id: a for a in policy.actions}
        self._namespace = namespace_for(policy)
        self._fast: dict[int, _Fast | None] = {}
        self._key: dict[str, Callable[[Mapping[str, Any]], Any]] = {}
        self._memo: dict[str, dict[Any, Any]] = {}

    def reads(self, exprs: Sequence[CompiledExpr]) -> set[str]:
        return depends_on(self.policy, exprs)

    def _exprs(self, key: str) -> list[CompiledExpr]:
        kind, name = key[:2], key[2:]
        return [self.policy.conditions[name]] if kind == "c_" else list(self.actions[name].exprs())

    def node(self, key: str, env: _Env) -> Any:
        """The value of ``c_<name>`` (bool or Unknown) or ``a_<id>`` (a Decision) in ``env``'s combination."""
        project = self._key.get(key)
        if project is None:
            project = self._key[key] = _getter(sorted(self.reads(self._exprs(key))))
        memo = self._memo.setdefault(key, {})
        projection = project(env.assigned)
        if projection in memo:
            return memo[projection]
        self.budget.spend(1)
        name = key[2:]
        if key.startswith("c_"):
            value = self.value(self.policy.conditions[name], env)
        else:  # an action another condition reads: its whole decision, as evaluate builds it
            value = self.interpreter._action(self.interpreter.shapes[name], env)  # noqa: SLF001 - one action
        memo[projection] = value
        return value

    def value(self, expr: CompiledExpr, env: _Env) -> Any:
        """``expr``'s value in ``env``: True, False or Unknown, exactly as the interpreter has it. Conditions that
        read no action (nearly all) skip the interpreter's bookkeeping: the proofs only ask whether it is true."""
        if id(expr) not in self._fast:
            self._fast[id(expr)] = None if expr.actions else self._compile(expr)
        fast = self._fast[id(expr)]
        if fast is None:
            return self.interpreter.value(expr, env)
        values = env.assigned
        if not all(name in values for name in fast.facts):
            return _NOT_ASSIGNED
        named = [env[key] for key in fast.conditions]
        if any(isinstance(v, Unknown) for v in named):
            return _NOT_ASSIGNED
        try:
            return bool(fast.fn(*[values[name] for name in fast.facts], *named))
        except Exception:  # as the interpreter: a condition that raises is unknown, never true
            return _NOT_ASSIGNED

    def _compile(self, expr: CompiledExpr) -> _Fast:
        index = self.interpreter.fact_index
        facts, conditions = tuple(sorted(expr.facts)), tuple(f"c_{c}" for c in sorted(expr.conditions))
        fn = function((*(f"f{index[f]}" for f in facts), *conditions), expr.python, self._namespace)
        return _Fast(fn, facts, conditions)

    def env(self, values: Mapping[str, Any]) -> _Env:
        return _Env(self, values)

    def holds(self, term: Term, env: _Env) -> bool:
        if term.expr is not None:
            result = self.value(term.expr, env) is True
        else:  # enabled: shown, allowed, no guard fires and nothing it reads is unknown
            action = self.actions[term.action or ""]
            result = (self.value(action.visible, env) is True and self.value(action.allow, env) is True
                      and all(self.value(g.when, env) is False for g in action.guards)
                      and not any(isinstance(self.value(e.when, env), Unknown) for e in action.effects
                                  if e.when is not None))
        return result is not term.negated

    def diagram(self, term: Term) -> int | None:
        """The term as a decision diagram, or None when what it reads is not symbolic."""
        found = self.symbolic.expr(term.expr) if term.expr is not None else self.symbolic.enabled(term.action or "")
        return found if found is None or not term.negated else self.symbolic.d.negate(found)

    def term_reads(self, term: Term) -> set[str]:
        return self.reads([term.expr] if term.expr is not None else list(self.actions[term.action or ""].exprs()))


def facts_of(claim: Claim, cones: Mapping[str, Cone]) -> set[str]:
    """Every fact the claim reads, on either side."""
    return {f for t in (claim.premise, *claim.conclusions) for f in cones[t.side].term_reads(t)}


def _getter(keys: Sequence[Any]) -> Callable[[Any], Any]:
    """Picks ``keys`` out of a mapping or a sequence, as one hashable value."""
    return itemgetter(*keys) if keys else (lambda _: ())


class _Table:
    """One term's value by the values of the facts it reads: each distinct combination of them evaluated once."""

    __slots__ = ("cone", "term", "support", "key", "memo")

    def __init__(self, cone: Cone, term: Term, names: list[str]) -> None:
        self.cone, self.term = cone, term
        self.support = sorted(cone.term_reads(term))
        self.key = _getter([names.index(n) for n in self.support])
        self.memo: dict[Any, bool] = {}

    def holds(self, combo: tuple[Any, ...], names: list[str]) -> bool:
        key = self.key(combo)
        try:
            return self.memo[key]
        except KeyError:
            self.cone.budget.spend(1)
            values = dict(zip(self.support, (key,) if len(self.support) == 1 else key, strict=True))
            value = self.memo[key] = self.cone.holds(self.term, self.cone.env(values))
            return value


def decide(claim: Claim, cones: Mapping[str, Cone], facts: Mapping[str, FactSpec]) -> dict[str, Any] | Unprovable | None:
    """A combination of the facts ``claim`` reads where it fails, None when it holds everywhere, or
    :class:`Unprovable`. Every combination counts, even one the base's constraints rule out (a lock must hold when
    the host's data is inconsistent too); a possible counterexample is preferred, as it reads better.
    Raises :class:`OverBudget` when the cones' budget runs out (enumerated combinations are paid for before any is
    tried).

    This is the one function a solver would serve for claims over facts without a finite set of values."""
    names = sorted(facts_of(claim, cones))
    open_facts = [n for n in names if not facts[n].finite]
    if open_facts:
        return Unprovable(f"it reads {', '.join(open_facts)}, which has no finite set of values")
    symbolic = _symbolically(claim, cones, names)  # any number of facts: its cost is paid node by node
    if symbolic is not _ENUMERATE:
        return symbolic  # type: ignore[no-any-return]  # _symbolically returns Any: its _ENUMERATE sentinel
    chosen = [facts[n] for n in names]
    size = math.prod(len(f.domain) for f in chosen)
    if size > MAX_CLAIM_SPACE:
        return Unprovable(f"{size} fact combinations are too many to check")
    base = cones["base"]
    base.budget.spend(size)
    premise, *conclusions = (_Table(cones[t.side], t, names) for t in (claim.premise, *claim.conclusions))
    impossible = None
    for combo in itertools.product(*(f.domain for f in chosen)):
        if not premise.holds(combo, names) or any(c.holds(combo, names) for c in conclusions):
            continue
        values = dict(zip(names, combo, strict=True))
        if not _impossible(base, values):
            return values
        impossible = impossible or values
    return impossible


_ENUMERATE = object()


def _symbolically(claim: Claim, cones: Mapping[str, Cone], names: list[str]) -> Any:
    """:func:`decide` with decision diagrams when every term (and every constraint that could rule a
    counterexample out) is symbolic: the same answer, including the same first counterexample, without trying
    the combinations one by one. ``_ENUMERATE`` when something is not symbolic."""
    base = cones["base"]
    d = base.symbolic.d
    premise, *conclusions = (cones[t.side].diagram(t) for t in (claim.premise, *claim.conclusions))
    constraints = [base.symbolic.expr(c) for c in base.policy.constraints.values() if base.reads([c]) <= set(names)]
    if premise is None or None in conclusions or None in constraints:
        return _ENUMERATE
    violation = premise
    for conclusion in conclusions:
        violation = d.apply("and", violation, d.negate(conclusion))  # type: ignore[arg-type]
    possible = violation
    for constraint in constraints:
        possible = d.apply("and", possible, constraint)  # type: ignore[arg-type]
    return d.first(possible, names) or d.first(violation, names)


def _impossible(cone: Cone, values: Mapping[str, Any]) -> bool:
    """Whether ``values`` definitely breaks a constraint of ``cone``'s policy that reads only facts it assigns."""
    env = cone.env(values)
    return any(cone.interpreter.value(expr, env) is False for expr in cone.policy.constraints.values()
               if cone.reads([expr]) <= values.keys())
