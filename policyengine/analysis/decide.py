"""Questions over every possible combination of facts ("is this guard ever true where the action is visible?"),
answered by enumeration where the facts are finite and few, and by the SMT solver (:mod:`policyengine.proof.smt`)
otherwise; both answer the same :class:`Pred`, so an analysis is written once and the two agree by construction.

A :class:`Pred` is built from atoms (:func:`true`, :func:`false`, :func:`enabled`) with ``&``, ``|`` and ``~``.
:meth:`Query.exists` and :meth:`Query.forall` range over the *possible* combinations (those the policy's
constraints allow); a solver's example is re-checked by evaluating the same predicate on the interpreter's row
for it, so a solver never reports what evaluation does not show. :class:`Undecided` says why a question could
not be answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from ..pipeline.compiler import CompiledExpr
from ..proof import smt
from ..proof.space import depends_on, enumerate_limit

__all__ = ["Pred", "Query", "Undecided", "enabled", "false", "query", "true"]

class Undecided(Exception):
    """A question that could not be answered exactly; the message says why."""


@attrs.frozen(slots=True)
class Pred:
    op: str  # true | false | enabled | and | or | not | const
    args: tuple[Any, ...]

    def __and__(self, other: Pred) -> Pred:
        return Pred("and", (self, other))

    def __or__(self, other: Pred) -> Pred:
        return Pred("or", (self, other))

    def __invert__(self) -> Pred:
        return Pred("not", (self,))


def true(expr: CompiledExpr) -> Pred:
    """``expr`` is known to be true."""
    return Pred("true", (expr,))


def false(expr: CompiledExpr) -> Pred:
    """``expr`` is known to be false."""
    return Pred("false", (expr,))


def enabled(action: str) -> Pred:
    return Pred("enabled", (action,))


ANY = Pred("const", (True,))


class Query:
    """Answers questions about one policy over the possible combinations of the facts some conditions read."""

    def __init__(self, analysis: Any, rows: Sequence[Any] | None, reason: str | None) -> None:
        self.analysis = analysis
        self.rows = rows
        self.reason = reason  # why enumeration was not possible (when rows is None)

    @property
    def method(self) -> str:
        return "enumerated" if self.rows is not None else "solver"

    # -- enumeration -----------------------------------------------------------------------------------------------
    def holds_in(self, pred: Pred, row: Any) -> bool:
        op, args = pred.op, pred.args
        if op == "const":
            return bool(args[0])
        if op == "true":
            return self.analysis.value(args[0], row) is True
        if op == "false":
            return self.analysis.value(args[0], row) is False
        if op == "enabled":
            return bool(self.analysis.decision(args[0], row).enabled)
        if op == "and":
            return all(self.holds_in(a, row) for a in args)
        if op == "or":
            return any(self.holds_in(a, row) for a in args)
        return not self.holds_in(args[0], row)

    # -- the solver --------------------------------------------------------------------------------------------------
    def _terms(self) -> tuple[smt.Encoder, smt.PolicyTerms, Any]:
        if not smt.available():
            raise Undecided(f"{self.reason}; {smt.INSTALL}")
        try:
            solver: tuple[smt.Encoder, smt.PolicyTerms, Any] = self.analysis.solver()
        except smt.Unsupported as err:
            raise Undecided(f"{self.reason}; could not decide: {err}") from err
        return solver

    def formula(self, pred: Pred) -> Any:
        z3 = smt.z3
        _, terms, _ = self._terms()
        op, args = pred.op, pred.args
        try:
            if op == "const":
                return z3.BoolVal(bool(args[0]))
            if op == "true":
                return terms.expr(args[0]).true
            if op == "false":
                return terms.expr(args[0]).false
            if op == "enabled":
                return terms.action(args[0]).enabled
        except smt.Unsupported as err:
            raise Undecided(f"{self.reason}; could not decide: {err}") from err
        if op == "and":
            return z3.And(*[self.formula(a) for a in args])
        if op == "or":
            return z3.Or(*[self.formula(a) for a in args])
        return z3.Not(self.formula(args[0]))

    # -- questions ---------------------------------------------------------------------------------------------------
    def example(self, pred: Pred) -> dict[str, Any] | None:
        """A possible combination where ``pred`` holds, or None; raises :class:`Undecided`."""
        if self.rows is not None:
            return next((dict(r.values) for r in self.rows if self.holds_in(pred, r)), None)
        encoder, terms, possible = self._terms()
        formula = self.formula(pred)

        exprs, actions = list(self._exprs(pred)), list(self._actions(pred))

        def confirm(values: Any) -> bool:
            return self.holds_in(pred, self.analysis.solver_row(values, exprs, actions))

        reads = depends_on(self.analysis.policy, [*exprs, *(e for a in actions for e in self.analysis.actions[a].exprs())])
        verdict = smt.satisfiable(encoder, smt.z3.And(possible, formula), confirm=confirm, facts=sorted(reads))
        if verdict.undecided:
            raise Undecided(f"{self.reason}; {verdict.reason}")
        return dict(verdict.values or {}) if verdict.holds else None

    def _exprs(self, pred: Pred) -> Iterable[CompiledExpr]:
        """The conditions ``pred`` reads."""
        if pred.op in ("true", "false"):
            yield pred.args[0]
        elif pred.op in ("and", "or", "not"):
            for arg in pred.args:
                yield from self._exprs(arg)

    def _actions(self, pred: Pred) -> Iterable[str]:
        """The actions whose state ``pred`` reads."""
        if pred.op == "enabled":
            yield pred.args[0]
        elif pred.op in ("and", "or", "not"):
            for arg in pred.args:
                yield from self._actions(arg)

    def exists(self, pred: Pred = ANY) -> bool:
        return self.example(pred) is not None

    def forall(self, pred: Pred) -> bool:
        """``pred`` holds in every possible combination (vacuously true when there is none)."""
        return not self.exists(~pred)


def query(analysis: Any, exprs: Iterable[CompiledExpr], facts: Iterable[str] = ()) -> Query:
    """A :class:`Query` over the facts ``exprs`` depend on: enumerated when that is cheap, else by the solver."""
    space = analysis.space(list(exprs), facts, limit=enumerate_limit(analysis.policy))
    if space.skipped:
        return Query(analysis, None, space.skipped)
    return Query(analysis, space.rows, None)
