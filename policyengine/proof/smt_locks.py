"""Lock proofs the finite space cannot decide (a locked condition that reads a number, string or set fact, or too
many finite ones), decided by :mod:`.smt` with the same contract as the enumerating prover in
:mod:`policyengine.locks`: a counterexample (fact name -> value), ``None`` when the lock holds, or a message
saying why it could not be decided (the solver is missing, gave up, or cannot express a condition)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..pipeline.compiler import CompiledExpr, CompiledPolicy
from . import smt

__all__ = ["store_escalates", "store_widens"]

Found = dict[str, Any] | str | None
Confirm = Callable[[Mapping[str, Any]], bool]


def store_widens(base: CompiledPolicy, merged: CompiledPolicy, base_expr: CompiledExpr, store_expr: CompiledExpr,
                 *, guard: bool, confirm: Confirm, store: str | None = None, budget_ms: int = smt.BUDGET_MS) -> Found:
    """Where ``store_expr`` is true and ``base_expr`` is not (``guard``: where the base's guard fires and the
    store's does not), over every valid combination of facts; ``confirm`` re-checks a counterexample with the
    interpreter. ``store``: the override's store, whose orders alone the store's policy decides (``store.id`` is
    that). A lock whose proof would rely on arithmetic is not proved (the message says why)."""
    def widened(enc: smt.Encoder) -> Any:
        old, new = enc.policy(base).expr(base_expr), enc.policy(merged).expr(store_expr)
        caveats = old.caveats | new.caveats
        if guard:
            return smt.z3.And(old.true, smt.z3.Not(new.true)), caveats
        return smt.z3.And(new.true, smt.z3.Not(old.true)), caveats

    return _search(base, widened, confirm, budget_ms, store)


def store_escalates(base: CompiledPolicy, merged: CompiledPolicy, action_id: str, locked: Sequence[str], *,
                    confirm: Confirm, store: str | None = None, budget_ms: int = smt.BUDGET_MS) -> Found:
    """Where the store enables ``action_id`` and the base enables none of the ``locked`` actions."""
    def escalates(enc: smt.Encoder) -> Any:
        mine = enc.policy(merged).action(action_id)
        theirs = [enc.policy(base).action(a) for a in locked]
        caveats = mine.caveats.union(*[t.caveats for t in theirs])
        return smt.z3.And(mine.enabled, *[smt.z3.Not(t.enabled) for t in theirs]), caveats

    return _search(base, escalates, confirm, budget_ms, store)


def _search(base: CompiledPolicy, build: Callable[[smt.Encoder], Any], confirm: Confirm, budget_ms: int,
            store: str | None) -> Found:
    if not smt.available():
        return smt.INSTALL.removeprefix("could not decide: ")
    try:
        encoder = smt.Encoder()
        formula, found_caveats = build(encoder)
        caveats = sorted(found_caveats)
        names = list(encoder.facts)  # what the proof reads (the constraints may read more)
        if store is not None:
            from ..engine import STORE_FACT  # here: the engine imports the lock checks

            formula = smt.z3.And(formula, encoder.fix({STORE_FACT: store}))
        # Every combination counts, even one the base's constraints rule out; a possible one reads better.
        possible = encoder.policy(base).possible()
        options = {"facts": names, "budget_ms": budget_ms, "confirm": confirm}
        verdict = smt.satisfiable(encoder, smt.z3.And(formula, possible), **options)
        if verdict.fails:
            verdict = smt.satisfiable(encoder, formula, **options)
    except smt.Unsupported as err:
        return str(err)
    if verdict.holds:
        return dict(verdict.values or {})
    if verdict.fails:
        # A lock is a security proof: one that relies on exact arithmetic, which Decimal rounds past 28 digits,
        # is not a proof (a store could hide a widening in the rounding).
        return f"the proof assumes {caveats[0]}" if caveats else None
    return (verdict.reason or "the solver could not decide").removeprefix("could not decide: ")
