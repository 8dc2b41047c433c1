"""The exact-enumeration core every analysis builds on (``lint``, ``verify``): one compiled policy evaluated over
every possible combination of the finite facts some conditions read.

:class:`Analysis` enumerates a :class:`Space` of :class:`Row` values (each a combination the policy's declared
constraints allow, with the interpreter's environment for it) when :func:`~policyengine.proof.space.decide_by` says
it is small enough; otherwise the space says why not, and the caller asks the solver, through the same policy
translated once (:meth:`Analysis.solver`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..ir.python import function, namespace_for
from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from ..proof import smt
from ..proof.space import MAX_SPACE, assignments, decide_by, depends_on, reached
from ..runtime.decision import Decision
from ..runtime.interpret import Interpreter, Unknown

__all__ = ["MAX_SPACE", "Analysis", "Row", "Space"]


@attrs.frozen(slots=True)
class Row:
    """One possible combination of facts, and the environment the interpreter computed for it."""

    values: Mapping[str, Any]
    env: dict[Any, Any] = attrs.field(eq=False, repr=False)


@attrs.frozen(slots=True)
class Space:
    """The possible combinations of the facts some conditions depend on, or why they cannot be enumerated."""

    facts: tuple[str, ...]
    """The facts the conditions depend on (directly, through named conditions and action references), in
    declaration order. Rows may assign more: the facts the declared constraints tie to these."""
    rows: tuple[Row, ...]
    skipped: str | None = None

    def project(self, row: Row) -> tuple[Any, ...]:
        return tuple(row.values[name] for name in self.facts)


class Analysis:
    """Evaluates one compiled policy over every possible combination of the finite facts some conditions read.

    A space covers the facts the conditions depend on plus the facts the declared constraints tie to them
    (transitively), so the constraints are applied exactly; rows are computed once per such set of facts.
    """

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.interpreter = Interpreter(policy)
        self.facts = {f.name: f for f in policy.facts}
        self.actions = {a.id: a for a in policy.actions}
        self.index = {f.name: i for i, f in enumerate(policy.facts)}
        self._constraints = [frozenset(depends_on(policy, [e])) for e in policy.constraints.values()]
        self._rows: dict[frozenset[str], tuple[Row, ...]] = {}
        self._envs: dict[tuple[tuple[str, Any], ...], dict[Any, Any]] = {}
        self._solver: tuple[smt.Encoder, smt.PolicyTerms, Any] | None = None

    def solver(self) -> tuple[smt.Encoder, smt.PolicyTerms, Any]:
        """The policy in z3, shared by every question asked of this analysis: ``(encoder, terms, possible)``, where
        ``possible`` is its constraints. Raises :class:`~policyengine.proof.smt.Unsupported` (z3 missing too)."""
        if self._solver is None:
            encoder = smt.Encoder()
            terms = encoder.policy(self.policy)
            self._solver = (encoder, terms, terms.possible())
        return self._solver

    def space(self, exprs: Iterable[CompiledExpr], facts: Iterable[str] = (), limit: int = MAX_SPACE) -> Space:
        names = depends_on(self.policy, exprs) | set(facts)
        relevant = tuple(f.name for f in self.policy.facts if f.name in names)
        closure = self._closure(set(relevant))  # the constraints tie finite facts only: open ones are the same
        strategy = decide_by((f for f in self.policy.facts if f.name in closure), limit)
        if strategy.open:
            listed = ", ".join(f"{f.name} ({f.type})" for f in strategy.open)
            return Space(relevant, (), f"reads {listed}, which {'has' if len(strategy.open) == 1 else 'have'} "
                                       "no finite set of values")
        if strategy.too_many:
            return Space(relevant, (), f"{strategy.size} combinations of {len(closure)} facts (the limit is {limit})")
        key = frozenset(closure)
        rows = self._rows.get(key)
        if rows is None:
            rows = self._rows[key] = tuple(self._possible(key))
        return Space(relevant, rows)

    def _possible(self, names: frozenset[str]) -> Iterator[Row]:
        """Every combination of ``names`` that breaks no declared constraint reading only them (as
        :func:`~policyengine.proof.space.possible_assignments`, which fails on a constraint reading a fact that no
        condition reads: the interpreter does not resolve such a fact, so it is bound here)."""
        chosen = [f for f in self.policy.facts if f.name in names]
        applicable = [e for e, facts in zip(self.policy.constraints.values(), self._constraints, strict=True)
                      if facts <= names]
        needed = {self.policy.facts[i].name for i in self.policy.needed}
        for values in assignments(chosen):
            env = self.env(values)
            for name in names - needed:
                env[f"f{self.index[name]}"] = values[name]
            if all(self.interpreter.value(e, env) is not False for e in applicable):
                yield Row(values, env)

    def _closure(self, names: set[str]) -> set[str]:
        out = set(names)
        changed = True
        while changed:
            changed = False
            for facts in self._constraints:
                if facts & out and not facts <= out and all(self.facts[n].finite for n in facts):
                    out |= facts
                    changed = True
        return out

    def env(self, values: Mapping[str, Any]) -> dict[Any, Any]:
        """The interpreter's environment for ``values`` (facts it does not assign are missing)."""
        key = tuple(sorted(values.items()))
        env = self._envs.get(key)
        if env is None:
            env, _ = self.interpreter.resolve(values, defaults=False)
            self.interpreter.run(env)
            self._envs[key] = env
        return env

    def solver_row(self, values: Mapping[str, Any], exprs: Iterable[CompiledExpr] | None = None,
                   actions: Iterable[str] = ()) -> Row:
        """The row of any valid values (a solver's counterexample: numbers, strings and sets too), facts that no
        decision reads included, so that it can be re-checked by the interpreter. With ``exprs`` (and
        ``actions``), only what they depend on is evaluated (a large policy is not run whole to re-check one
        condition)."""
        if exprs is None:
            env = dict(self.env(values))
        else:
            env, _ = self.interpreter.resolve(values, defaults=False)
            decided = [self.actions[a] for a in actions]
            nodes = reached(self.policy, [*exprs, *(e for a in decided for e in a.exprs())])
            nodes |= {("action", a) for a in actions}
            for kind, name in self.policy.order:
                if (kind, name) not in nodes:
                    continue
                if kind == "condition":
                    env[f"c_{name}"] = self.interpreter.value(self.policy.conditions[name], env)
                else:  # as Interpreter.run decides an action
                    env[f"a_{name}"] = self.interpreter._action(self.interpreter.shapes[name], env)
        needed = set(self.policy.needed)
        for name, value in values.items():
            if self.index[name] not in needed:
                env[f"f{self.index[name]}"] = value
        return Row(values, env)

    def value(self, expr: CompiledExpr, row: Row) -> bool | None:
        """``expr``'s value in ``row`` (None if it could not be decided), evaluating it if the run did not (the
        allow condition of a hidden action, say)."""
        env = row.env
        result = env[id(expr)] if id(expr) in env else self.interpreter.value(expr, env)
        return None if isinstance(result, Unknown) else bool(result)

    def decision(self, action: str, row: Row) -> Decision:
        decision: Decision = row.env[f"a_{action}"]
        return decision

    def bind(self, expr: CompiledExpr, constants: Mapping[str, Any]) -> Callable[[Row], bool | None]:
        """An evaluator for a condition compiled against this policy's context but not part of it (an
        invariant's ``when``): its value in a row, None if it could not be decided."""
        index = {f.name: i for i, f in enumerate(self.policy.facts)}
        params = tuple(sorted({f"f{index[f]}" for f in expr.facts} | {f"c_{c}" for c in expr.conditions}
                              | {f"a_{a}" for a in expr.actions}))
        fn = function(params, expr.python, namespace_for({**self.policy.constants, **constants}))

        def evaluate(row: Row) -> bool | None:
            args = [row.env[p] for p in params]
            if any(isinstance(a, Unknown) for a in args):
                return None
            try:
                return bool(fn(*args))
            except Exception:  # noqa: BLE001 - as the interpreter: an error is "could not be decided"
                return None

        return evaluate

    def rerun(self, row: Row) -> Row:
        """``row``'s combination of facts, evaluated by this policy (a store's base, to compare decisions)."""
        return Row(row.values, self.env(row.values))
