"""Lock proofs the finite space cannot decide (a locked condition that reads a number, string or set fact, or too
many finite ones), decided by :mod:`.smt` with the same contract as the enumerating prover in
:mod:`policyengine.locks`: a counterexample (fact name -> value), ``None`` when the lock holds, or a message
saying why it could not be decided (the solver is missing, gave up, or cannot express a condition)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..pipeline.compiler import CompiledPolicy
from ..pipeline.model import STORE_FACT
from . import smt
from .implication import Claim, Term

__all__ = ["solve_claim"]

Found = dict[str, Any] | str | None
Confirm = Callable[[Mapping[str, Any]], bool]


def solve_claim(claim: Claim, policies: Mapping[str, CompiledPolicy], *, confirm: Confirm, store: str | None = None,
                budget_ms: int = smt.BUDGET_MS, rlimit: int | None = None,
                spent: Callable[[int], None] | None = None) -> Found:
    """Where ``claim`` fails (its premise holds and none of its conclusions does), over every valid combination of
    facts: the claims are those :func:`policyengine.proof.implication.decide` enumerates, ``policies`` maps each side
    (``"base"``, ``"other"``) to its policy. ``confirm`` re-checks a counterexample with the interpreter. ``store``:
    the override's store, whose orders alone the store's policy decides (``store.id`` is that). A lock whose proof
    would rely on arithmetic is not proved (the message says why). ``rlimit``: the solver's work budget in z3
    resource units (deterministic, unlike time); ``spent`` is told how many the query used."""
    def term(enc: smt.Encoder, t: Term) -> tuple[Any, frozenset[str]]:
        side = enc.policy(policies[t.side])
        if t.expr is not None:
            cond = side.expr(t.expr)
            value, caveats = cond.true, cond.caveats
        else:
            action = side.action(t.action or "")
            value, caveats = action.enabled, action.caveats
        return (smt.z3.Not(value) if t.negated else value), frozenset(caveats)

    def fails(enc: smt.Encoder) -> Any:
        (premise, caveats), *conclusions = (term(enc, t) for t in (claim.premise, *claim.conclusions))
        return (smt.z3.And(premise, *[smt.z3.Not(c) for c, _ in conclusions]),
                caveats.union(*[c for _, c in conclusions]))

    return _search(policies["base"], fails, confirm, budget_ms, store, rlimit, spent)


def _search(base: CompiledPolicy, build: Callable[[smt.Encoder], Any], confirm: Confirm, budget_ms: int,
            store: str | None, rlimit: int | None, spent: Callable[[int], None] | None) -> Found:
    if not smt.available():
        return smt.INSTALL.removeprefix("could not decide: ")
    encoder: smt.Encoder | None = None
    try:
        encoder = smt.Encoder()
        return _solve(base, build, confirm, budget_ms, store, rlimit, encoder)
    except smt.Unsupported as err:
        return str(err)
    finally:
        if spent is not None and encoder is not None:
            spent(encoder.work)


def _solve(base: CompiledPolicy, build: Callable[[smt.Encoder], Any], confirm: Confirm, budget_ms: int,
           store: str | None, rlimit: int | None, encoder: smt.Encoder) -> Found:
    formula, found_caveats = build(encoder)
    caveats = sorted(found_caveats)
    names = list(encoder.facts)  # what the proof reads (the constraints may read more)
    if store is not None:
        formula = smt.z3.And(formula, encoder.fix({STORE_FACT: store}))  # the store's own orders only
    # Every combination counts, even one the base's constraints rule out; a possible one reads better.
    possible = encoder.policy(base).possible()
    verdict = smt.satisfiable(encoder, smt.z3.And(formula, possible), facts=names, budget_ms=budget_ms,
                              confirm=confirm, rlimit=rlimit)
    if verdict.fails:
        verdict = smt.satisfiable(encoder, formula, facts=names, budget_ms=budget_ms, confirm=confirm, rlimit=rlimit)
    if verdict.holds:
        return dict(verdict.values or {})
    if verdict.fails:
        # A lock is a security proof: one that relies on exact arithmetic, which Decimal rounds past 28 digits,
        # is not a proof (a store could hide a widening in the rounding).
        return f"the proof assumes {caveats[0]}" if caveats else None
    return (verdict.reason or "the solver could not decide").removeprefix("could not decide: ")
