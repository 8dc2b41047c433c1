"""Invariants (``policyengine verify``): properties every decision must have, proved over every possible order.

A ``PolicyInvariants`` file (schema ``invariants.schema.json``; it can live in the policy directory, which the
engine's loader validates and otherwise ignores) lists invariants a product person can write::

    - id: delete-never-after-warehouse
      description: Delete is never enabled once the order was sent to the warehouse.
      when: order.sent_to_warehouse
      expect: {delete: not-enabled}

``when`` / ``unless`` are conditions in the policy language, compiled by the policy compiler against each checked
policy's typed context (so an unknown fact, a type mismatch or an enum value a fact does not declare is a load
error, with the same message and column as in a policy), and evaluated through the interpreter's environment, so
they may read facts, named conditions and ``actions.<id>.<state>``. ``expect`` is a clause (or a list of clauses
that must all hold): ``{<action>: <state>, ...}``, or a quantifier ``every`` / ``any`` / ``none`` over a list of
actions, ``all`` or ``destructive``, with ``is: <state>``.

Each invariant is checked for the base policy and every store override (``for_stores`` narrows it), exactly:
every combination of the finite facts it depends on that the policy's declared constraints allow, enumerated while
they are few, and by the SMT solver otherwise (number, string and set facts, large spaces: verify does not
enumerate a whole space per invariant). A violation comes with a counterexample, generalised greedily to the
fewest facts that force it. An invariant that could not be decided is *skipped* with the reason (never guessed),
one whose ``when`` never matches is *vacuous*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..engine import Engine
from ..errors import Diagnostic, PolicyError, did_you_mean
from ..loader import policy_files
from ..pipeline.compiler import CompiledExpr, CompiledPolicy, compile_conditions
from ..pipeline.model import Expr
from ..pipeline.validate import valid_document
from ..pipeline.yamlsource import Document, read_document
from ..proof import smt
from ..proof.space import enumerate_limit
from ..runtime.decision import Decision
from .machinery import Analysis, Row, Space

__all__ = ["KIND", "STATES", "ActionState", "Check", "Clause", "Counterexample", "Invariant", "InvariantResult",
           "Invariants", "VerifyReport", "find_invariant_files", "load_invariants", "verify"]

KIND = "PolicyInvariants"

STATES: Mapping[str, frozenset[str]] = {
    "enabled": frozenset({"enabled"}),
    "disabled": frozenset({"disabled"}),
    "hidden": frozenset({"hidden"}),
    "visible": frozenset({"enabled", "disabled"}),
    "not-enabled": frozenset({"disabled", "hidden"}),
    "not-disabled": frozenset({"enabled", "hidden"}),
}
"""What each ``is`` / ``<action>: <state>`` value accepts."""

_KEYWORDS = ("all", "destructive")
PathT = tuple[str | int, ...]


# -- the invariant language --------------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Clause:
    """``quantifier`` (every, any, none) of ``actions`` (ids, or the keyword ``all`` / ``destructive``) is ``state``."""

    quantifier: str
    actions: tuple[str, ...]
    keyword: str | None
    state: str
    path: PathT
    """Where the action ids are written (a shorthand clause's key, or the quantifier's value)."""
    shorthand: bool = False
    listed: bool = False
    """The actions are written as a list (each one's position is ``(*path, i)``)."""

    def describe(self) -> str:
        """The clause in words: ``no destructive action is enabled``."""
        state = self.state.replace("-", " ")
        if self.keyword is not None:
            group = "destructive action" if self.keyword == "destructive" else "action"
            return {"every": f"every {group} is {state}", "any": f"some {group} is {state}",
                    "none": f"no {group} is {state}"}[self.quantifier]
        names = ", ".join(self.actions)
        if len(self.actions) == 1:
            return {"every": f"{names} is {state}", "any": f"{names} is {state}",
                    "none": f"{names} is not {state}"}[self.quantifier]
        return {"every": f"each of {names} is {state}", "any": f"at least one of {names} is {state}",
                "none": f"none of {names} is {state}"}[self.quantifier]


@attrs.frozen(slots=True)
class Invariant:
    id: str
    description: str | None
    when: Expr | None
    unless: Expr | None
    for_stores: str | tuple[str, ...]
    """``all``, ``base``, or store ids (``base`` among them meaning the base policy)."""
    clauses: tuple[Clause, ...]
    path: PathT
    doc: Document = attrs.field(eq=False, repr=False)

    @property
    def where(self) -> str:
        return self.doc.where((*self.path, "id"))

    def expectation(self) -> str:
        return "; ".join(c.describe() for c in self.clauses)


@attrs.frozen(slots=True)
class _Target:
    label: str
    store: str | None
    policy: CompiledPolicy


@attrs.frozen(slots=True)
class _Compiled:
    when: CompiledExpr | None
    unless: CompiledExpr | None
    constants: Mapping[str, Any] = attrs.field(eq=False, repr=False)


@attrs.frozen(slots=True)
class Invariants:
    """Loaded invariants, each compiled against every policy it is checked on."""

    invariants: tuple[Invariant, ...]
    files: tuple[str, ...]
    targets: tuple[_Target, ...] = attrs.field(repr=False)
    compiled: Mapping[tuple[str, str], _Compiled] = attrs.field(repr=False)
    """(invariant id, target label) -> its compiled conditions."""
    applies: Mapping[str, tuple[str, ...]] = attrs.field(repr=False)
    """invariant id -> the labels of the targets it is checked on."""


# -- results -----------------------------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class ActionState:
    action: str
    state: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state, "reasons": list(self.reasons)}


@attrs.frozen(slots=True)
class Counterexample:
    facts: tuple[tuple[str, Any], ...]
    """The fewest facts that force the violation: every possible order and user with these values violates it."""
    witness: tuple[tuple[str, Any], ...]
    """One complete combination of the facts the check depends on."""
    failed: tuple[tuple[str, tuple[ActionState, ...]], ...]
    """For each clause that does not hold in the witness: its description, and the states that break it."""

    def to_dict(self) -> dict[str, Any]:
        return {"facts": dict(self.facts), "witness": dict(self.witness),
                "failed": [{"expected": text, "got": [s.to_dict() for s in states]} for text, states in self.failed]}


@attrs.frozen(slots=True)
class Check:
    """One invariant on one policy."""

    target: str
    store: str | None
    status: str
    """``holds``, ``violated``, ``vacuous`` (no possible order matches ``when``/``unless``) or ``skipped``."""
    combinations: int = 0
    """How many possible combinations of the facts it depends on were checked."""
    matching: int = 0
    """How many of those match ``when`` / ``unless``."""
    counterexample: Counterexample | None = None
    reason: str | None = None
    """Why it was skipped (could not be decided)."""
    method: str = "enumerated"
    """``enumerated`` (every combination of finite facts) or ``solver`` (decided by the SMT solver)."""
    caveats: tuple[str, ...] = ()
    """What a solver's verdict assumes (exact arithmetic, see :mod:`policyengine.proof.smt`)."""

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.target, "store": self.store, "status": self.status, "combinations": self.combinations,
                "matching": self.matching,
                "counterexample": self.counterexample.to_dict() if self.counterexample else None,
                "reason": self.reason, "method": self.method, "caveats": list(self.caveats)}


@attrs.frozen(slots=True)
class InvariantResult:
    invariant: Invariant
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        statuses = {c.status for c in self.checks}
        for status in ("violated", "skipped"):
            if status in statuses:
                return status
        return "vacuous" if statuses == {"vacuous"} else "holds"

    def to_dict(self) -> dict[str, Any]:
        inv = self.invariant
        return {"id": inv.id, "description": inv.description, "where": inv.where, "expect": inv.expectation(),
                "status": self.status, "checks": [c.to_dict() for c in self.checks]}


@attrs.frozen(slots=True)
class VerifyReport:
    results: tuple[InvariantResult, ...]
    files: tuple[str, ...]
    policies: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No invariant is violated (vacuous and skipped ones are warnings)."""
        return all(r.status != "violated" for r in self.results)

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("holds", "violated", "vacuous", "skipped")}
        for result in self.results:
            out[result.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": list(self.files), "policies": list(self.policies), "counts": self.counts,
                "invariants": [r.to_dict() for r in self.results]}


# -- loading -----------------------------------------------------------------------------------------------------



def find_invariant_files(path: str | Path) -> list[Path]:
    """The ``PolicyInvariants`` files under ``path`` (a directory, recursively, or one file)."""
    out = []
    for file in policy_files(Path(path)):
        try:
            doc = read_document(file, str(file))
        except PolicyError:
            continue  # not ours to report: `load` (or --invariants) reports broken files
        if isinstance(doc.data, dict) and doc.data.get("kind") == KIND:
            out.append(file)
    return out




def _selector(value: Any) -> tuple[tuple[str, ...], str | None]:
    if isinstance(value, str):
        return ((), value) if value in _KEYWORDS else ((value,), None)
    return tuple(value), None


def _clauses(raw: Any, base: PathT) -> tuple[Clause, ...]:
    items = [(raw, base)] if isinstance(raw, dict) else [(c, (*base, i)) for i, c in enumerate(raw)]
    out = []
    for clause, path in items:
        quantifier = next((q for q in ("every", "any", "none") if q in clause), None)
        if quantifier is not None:
            actions, keyword = _selector(clause[quantifier])
            out.append(Clause(quantifier, actions, keyword, clause["is"], (*path, quantifier),
                              listed=isinstance(clause[quantifier], list)))
        else:
            out += [Clause("every", (action,), None, state, (*path, action), True) for action, state in clause.items()]
    return tuple(out)


def _parse(doc: Document) -> list[Invariant]:
    out = []
    for i, item in enumerate(doc.data["invariants"]):
        path: PathT = ("invariants", i)

        def expr(key: str, item: dict[str, Any] = item, path: PathT = path) -> Expr | None:
            if key not in item:
                return None
            value = item[key]
            return Expr(("true" if value else "false") if isinstance(value, bool) else str(value), doc, (*path, key))

        stores = item.get("for_stores", "all")
        out.append(Invariant(item["id"], item.get("description"), expr("when"), expr("unless"),
                             stores if isinstance(stores, str) else tuple(stores),
                             _clauses(item["expect"], (*path, "expect")), path, doc))
    return out


class _Loader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.diagnostics: list[Diagnostic] = []
        base = _Target(engine.policy.spec.label, None, engine.policy)
        self.base = base
        self.stores: dict[str, _Target] = {}
        for store in engine.stores:
            sp = engine.store_override(store)
            assert sp is not None
            self.stores[store] = _Target(f"store {store} ({sp.override.label})", store, sp.policy)

    def documents(self, files: Sequence[Path]) -> list[Document]:
        docs = []
        for file in files:
            doc = valid_document(file, self.diagnostics)
            if doc is None:
                continue
            if doc.data["kind"] != KIND:
                self.diagnostics.append(doc.diagnostic(("kind",), f"expected a {KIND} file, got {doc.data['kind']}"))
                continue
            docs.append(doc)
        return docs

    def targets(self, inv: Invariant) -> list[_Target]:
        if inv.for_stores == "all":
            return [self.base, *self.stores.values()]
        if inv.for_stores == "base":
            return [self.base]
        out = []
        for i, store in enumerate(inv.for_stores):
            if store == "base":
                out.append(self.base)
            elif store in self.stores:
                out.append(self.stores[store])
            else:
                loaded = ", ".join(self.stores) or "none"
                self.diagnostics.append(inv.doc.diagnostic(
                    (*inv.path, "for_stores", i), f"no store override for {store!r} is loaded (loaded: {loaded})",
                    hint=did_you_mean(store, self.stores)
                    or "orders of stores without an override are decided by the base policy: write base"))
        return out

    def check_actions(self, inv: Invariant, targets: Sequence[_Target]) -> None:
        if not targets:
            return  # its for_stores names no loaded policy (reported)
        known = {a.id for t in targets for a in t.policy.actions}
        labels = ", ".join(t.label for t in targets)
        for clause in inv.clauses:
            for j, action in enumerate(clause.actions):
                if action not in known:
                    path = (*clause.path, j) if clause.listed else clause.path
                    self.diagnostics.append(inv.doc.diagnostic(
                        path, f"unknown action {action!r} (not in {labels})", key=clause.shorthand,
                        hint=did_you_mean(action, sorted(known))))

    def compile(self, inv: Invariant, targets: Sequence[_Target]) -> dict[str, _Compiled]:
        """``inv``'s conditions compiled against each target's policy (by label); every problem is reported once,
        saying which policies it is in when not in all of them."""
        out: dict[str, _Compiled] = {}
        seen: dict[Diagnostic, list[str]] = {}
        for target in targets:
            policy = target.policy
            conditions = compile_conditions(policy, [inv.when, inv.unless])
            for d in conditions.diagnostics:
                seen.setdefault(d, []).append(target.label)
            if not conditions.diagnostics:
                when, unless = conditions.exprs
                out[target.label] = _Compiled(when, unless, conditions.constants)
        for d, labels in seen.items():
            if len(labels) < len(targets):
                fine = ", ".join(t.label for t in targets if t.label not in labels)
                extra = (f"it is fine in {fine} but not in {', '.join(labels)}: use for_stores to check it only "
                         "where it applies")
                d = attrs.evolve(d, hint=f"{d.hint}; {extra}" if d.hint else extra)
            self.diagnostics.append(d)
        return out

    def load(self, files: Sequence[Path]) -> Invariants:
        docs = self.documents(files)
        invariants: list[Invariant] = []
        first: dict[str, Invariant] = {}
        for doc in docs:
            for inv in _parse(doc):
                if inv.id in first:
                    self.diagnostics.append(doc.diagnostic((*inv.path, "id"), f"duplicate invariant id {inv.id!r} "
                                                                              f"(first defined at {first[inv.id].where})"))
                    continue
                first[inv.id] = inv
                invariants.append(inv)
        compiled: dict[tuple[str, str], _Compiled] = {}
        applies: dict[str, tuple[str, ...]] = {}
        for inv in invariants:
            targets = self.targets(inv)
            self.check_actions(inv, targets)
            applies[inv.id] = tuple(t.label for t in targets)
            for label, result in self.compile(inv, targets).items():
                compiled[inv.id, label] = result
        if self.diagnostics:
            raise PolicyError(self.diagnostics)
        return Invariants(tuple(invariants), tuple(d.file for d in docs), (self.base, *self.stores.values()),
                          compiled, applies)


def load_invariants(engine: Engine, files: Sequence[str | Path]) -> Invariants:
    """Read, validate and compile the invariants in ``files`` against ``engine``'s base policy and store overrides.
    Raises :class:`PolicyError` with every problem (a bad file, an unknown fact or action, an unknown store...)."""
    return _Loader(engine).load([Path(f) for f in files])


# -- checking ------------------------------------------------------------------------------------------------------

def _states(policy: CompiledPolicy, clause: Clause) -> list[str]:
    if clause.keyword == "all":
        return [a.id for a in policy.actions]
    if clause.keyword == "destructive":
        return [a.id for a in policy.actions if a.spec.destructive]
    return list(clause.actions)


def _action_state(analysis: Analysis, action: str, row: Row) -> ActionState:
    if action not in analysis.actions:
        return ActionState(action, "hidden", ("not offered by this policy",))
    decision: Decision = analysis.decision(action, row)
    return ActionState(action, decision.state, decision.reasons)


def _broken(analysis: Analysis, clause: Clause, row: Row) -> tuple[ActionState, ...] | None:
    """None when ``clause`` holds in ``row``; else the action states that break it."""
    states = [_action_state(analysis, a, row) for a in _states(analysis.policy, clause)]
    ok = [s.state in STATES[clause.state] for s in states]
    if clause.quantifier == "every":
        bad = tuple(s for s, good in zip(states, ok, strict=True) if not good)
        return bad or None
    if clause.quantifier == "any":
        return None if any(ok) else tuple(states)
    bad = tuple(s for s, good in zip(states, ok, strict=True) if good)
    return bad or None


def _check(inv: Invariant, target: _Target, compiled: _Compiled, analysis: Analysis) -> Check:
    policy = target.policy
    actions = {a for c in inv.clauses for a in _states(policy, c) if a in analysis.actions}
    exprs: list[CompiledExpr] = [e for a in policy.actions if a.id in actions for e in a.exprs()]
    exprs += [e for e in (compiled.when, compiled.unless) if e is not None]
    # Enumerate while that is cheap (space.enumerate_limit); past it, or with no finite space, the solver decides.
    space = analysis.space(exprs, limit=enumerate_limit(policy))
    if space.skipped:
        return _solve(inv, target, compiled, analysis, space)
    matches = _matcher(analysis, compiled)
    table: dict[tuple[Any, ...], bool] = {}
    matching: set[tuple[Any, ...]] = set()
    first: tuple[tuple[Any, ...], Row] | None = None
    for row in space.rows:
        key = space.project(row)
        if key in table:
            continue
        matched = matches(row)
        bad = matched and any(_broken(analysis, c, row) is not None for c in inv.clauses)
        table[key] = bad
        if matched:
            matching.add(key)
        if bad and first is None:
            first = (key, row)
    if first is None:
        return Check(target.label, target.store, "holds" if matching else "vacuous", len(table), len(matching))
    key, row = first
    kept = list(range(len(space.facts)))
    for i in range(len(space.facts)):
        trial = [k for k in kept if k != i]
        if all(bad for other, bad in table.items() if all(other[k] == key[k] for k in trial)):
            kept = trial
    failed = []
    for clause in inv.clauses:
        broken = _broken(analysis, clause, row)
        if broken is not None:
            failed.append((clause.describe(), broken))
    example = Counterexample(tuple((space.facts[k], key[k]) for k in kept),
                             tuple(zip(space.facts, key, strict=True)), tuple(failed))
    return Check(target.label, target.store, "violated", len(table), len(matching), example)


def _clause_formula(terms: smt.PolicyTerms, clause: Clause) -> Any:
    z3 = smt.z3
    accepted = STATES[clause.state]
    ok = []
    for action in _states(terms.policy, clause):
        if action in terms.actions:
            ok.append(z3.Or(*[terms.action(action).state(s) for s in sorted(accepted)]))
        else:  # an action this policy does not offer is hidden
            ok.append(z3.BoolVal("hidden" in accepted))
    if clause.quantifier == "every":
        return z3.And(z3.BoolVal(True), *ok)
    if clause.quantifier == "any":
        return z3.Or(z3.BoolVal(False), *ok)
    return z3.Not(z3.Or(z3.BoolVal(False), *ok))


def _solve(inv: Invariant, target: _Target, compiled: _Compiled, analysis: Analysis, space: Space) -> Check:
    """The check decided by the SMT solver: a violation, confirmed by the interpreter, with the fewest facts
    that force it; or holds / vacuous; or skipped with the reason the solver could not decide."""
    def skipped(reason: str) -> Check:
        return Check(target.label, target.store, "skipped", reason=f"{space.skipped}; {reason}", method="solver")

    if not smt.available():
        return skipped(smt.INSTALL)
    z3 = smt.z3
    try:
        encoder, terms, possible = analysis.solver()
        matched = z3.And(z3.BoolVal(True), *([terms.expr(compiled.when).true] if compiled.when else []),
                         *([terms.expr(compiled.unless).false] if compiled.unless else []))
        holds = z3.And(*[_clause_formula(terms, c) for c in inv.clauses])
        read = [terms.expr(e) for e in (compiled.when, compiled.unless) if e is not None]
        acted = [terms.action(a) for c in inv.clauses for a in _states(target.policy, c) if a in terms.actions]
        parts: list[Any] = [*read, *acted]  # Cond and ActionTerms: both carry their caveats
        caveats: frozenset[str] = frozenset().union(*[x.caveats for x in parts])
    except smt.Unsupported as err:
        return skipped(str(err))
    facts = list(space.facts)
    row_of = analysis.solver_row
    matches = _matcher(analysis, compiled)

    def violates(values: Mapping[str, Any]) -> bool:
        row = row_of(values)
        return matches(row) and any(_broken(analysis, c, row) is not None for c in inv.clauses)

    found = smt.satisfiable(encoder, z3.And(possible, matched, z3.Not(holds)), confirm=violates, facts=facts, caveats=caveats)
    if found.undecided:
        return skipped(found.reason or "the solver could not decide")
    if found.fails:
        some = smt.satisfiable(encoder, z3.And(possible, matched), facts=facts, caveats=caveats)
        if some.undecided:
            return skipped(some.reason or "the solver could not decide")
        status = "holds" if some.holds else "vacuous"
        return Check(target.label, target.store, status, method="solver", caveats=found.caveats)
    witness = dict(found.values or {})
    kept = [f for f in facts if f in witness]
    bad = z3.And(matched, z3.Not(holds))
    for name in list(kept):  # greedily drop the facts that do not matter: every completion still violates it
        trial = [k for k in kept if k != name]
        forced = smt.implies(encoder, z3.And(possible, encoder.fix({k: witness[k] for k in trial})), bad, facts=facts, caveats=caveats)
        if forced.holds:
            kept = trial
    row = row_of(witness)
    failed = [(c.describe(), broken) for c in inv.clauses if (broken := _broken(analysis, c, row)) is not None]
    example = Counterexample(tuple((k, witness[k]) for k in kept), tuple((f, witness[f]) for f in facts if f in witness),
                             tuple(failed))
    return Check(target.label, target.store, "violated", counterexample=example, method="solver",
                 caveats=found.caveats)


def _matcher(analysis: Analysis, compiled: _Compiled) -> Callable[[Row], bool]:
    """Whether a row matches the invariant's ``when`` (true) and ``unless`` (false); unknown never matches."""
    when = analysis.bind(compiled.when, compiled.constants) if compiled.when is not None else None
    unless = analysis.bind(compiled.unless, compiled.constants) if compiled.unless is not None else None
    return lambda row: (when is None or when(row) is True) and (unless is None or unless(row) is False)


def verify(engine: Engine, invariants: Invariants) -> VerifyReport:
    """Check every invariant on every policy it applies to."""
    analyses = {t.label: Analysis(t.policy) for t in invariants.targets}
    targets = {t.label: t for t in invariants.targets}
    results = []
    for inv in invariants.invariants:
        checks = tuple(_check(inv, targets[label], invariants.compiled[inv.id, label], analyses[label])
                       for label in invariants.applies[inv.id])
        results.append(InvariantResult(inv, checks))
    used = [t.label for t in invariants.targets if any(t.label in labels for labels in invariants.applies.values())]
    return VerifyReport(tuple(results), invariants.files, tuple(used))
