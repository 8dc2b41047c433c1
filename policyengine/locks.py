"""Locks: what no store override, and no newer version without saying so, may weaken.

A base policy locks an action's ``visible`` and/or ``allow`` condition (``locked: [visible, allow]``) or a guard
(``locked: true``). Another policy keeps a lock when, over every combination of the finite facts either side reads:

* a locked visibility or allow condition is true only where the base's is (it implies the base's);
* a locked guard fires wherever the base's fires (the base's implies it), or, if it has no such guard, the action
  is not enabled there;
* no action performs an operation the base only performs through locked actions (``delete_order``) where none
  of those is enabled.

Each is a :class:`~policyengine.proof.implication.Claim`, decided on meaning by
:func:`~policyengine.proof.implication.decide` (never skipped because the text looks the same: literals are
compiled to positional names, so equal text can mean different lists, patterns or numbers), so no rewording,
renamed or redefined named condition, action reference or alias slips a widening through. A violation is reported
at the override's (or newer version's) line that causes it, with a counterexample, naming the lock's line.

Three checks use these claims: :func:`check_locks` (a store override on the base it runs on),
:func:`check_pinned` (a store pinned to an older version keeps the latest version's locks too) and
:func:`check_version` (a newer version keeps an older one's locks unless an ``unlocks:`` entry says why not).
Effects are checked too (:func:`check_settable` for a version, and with every store override): a ``set`` effect
changes facts once the host applies it, so a store may only set what the base declares settable, and never add,
change or apply more often a ``set`` of a fact that a locked condition reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from .errors import Diagnostic
from .pipeline.compiler import CompiledAction, CompiledExpr, CompiledGuard, CompiledPolicy
from .pipeline.model import STORE_FACT, EffectSpec, OverrideSpec, PolicySpec
from .pipeline.yamlsource import Document
from .proof import smt
from .proof.bdd import Diagrams
from .proof.implication import MAX_CLAIM_SPACE, MAX_PROOF_WORK, Budget, Claim, Cone, OverBudget, Term, Unprovable, decide
from .proof.smt_locks import solve_claim
from .proof.space import depends_on, describe

__all__ = ["check_locks", "check_pinned", "check_store", "check_version", "check_settable", "MAX_LOCK_SPACE",
           "MAX_PROOF_WORK", "StoreProofs", "STORE_FACT"]

MAX_LOCK_SPACE = MAX_CLAIM_SPACE
"""More combinations than this in one lock and the check refuses rather than run for long (read fewer facts)."""

SOLVER_BUDGET_MS = 2000
"""Solver time all lock proofs of one override (or version) may spend together; past it the rest are refused. A
backstop: :data:`SOLVER_RLIMIT` (deterministic) bounds the work first, about a quarter of a second of CPU."""

SOLVER_RLIMIT = 300_000
"""The solver's work budget for all lock proofs of one override (or version) together, in z3 resource units
(its ``rlimit``): unlike time, the same files on the same z3 spend the same units, so a proof is accepted or
refused alike on every load, warm or cold, busy machine or idle. On the reference machine (docs/stores.md) it is
about 0.25 s of CPU; past it the remaining proofs are refused ("cannot prove ...: the solver's work budget ...")."""


@attrs.frozen(slots=True)
class _Lock:
    """One lock of a base policy: an action's ``visible`` or ``allow`` condition, or one of its guards."""

    action: CompiledAction
    part: str  # "visible" | "allow" | "guard"
    guard: CompiledGuard | None
    where: str
    """``file:line:col`` of its ``locked`` key."""

    @property
    def expr(self) -> CompiledExpr:
        return self.guard.when if self.guard is not None else getattr(self.action, self.part)

    @property
    def what(self) -> str:
        if self.guard is not None:
            return f"guard {self.guard.spec.id!r} of action {self.action.id!r}"
        return f"the {'visibility' if self.part == 'visible' else 'allow condition'} of action {self.action.id!r}"


def _locks(policy: CompiledPolicy) -> Iterator[_Lock]:
    for action in policy.actions:
        spec = action.spec
        for part in ("visible", "allow"):
            if part in spec.locked:
                yield _Lock(action, part, None, spec.doc.where((*spec.path, "locked"), key=True))
        for guard in action.guards:
            if guard.spec.locked:
                yield _Lock(action, "guard", guard, guard.spec.doc.where((*guard.spec.path, "locked"), key=True))


@attrs.frozen(slots=True)
class _Kept:
    """How ``other`` must keep one lock: the claim, and the other policy's counterpart (None: the guard is gone)."""

    lock: _Lock
    claim: Claim
    mine: CompiledAction
    counterpart: CompiledExpr | None


def _kept(lock: _Lock, other: CompiledPolicy) -> _Kept | None:
    mine = next((a for a in other.actions if a.id == lock.action.id), None)
    if mine is None:
        return None  # the action is not offered at all: nothing to widen
    if lock.guard is None:
        own = getattr(mine, lock.part)
        return _Kept(lock, Claim(Term("other", own), (Term("base", lock.expr),)), mine, own)
    guard = next((g for g in mine.guards if g.spec.id == lock.guard.spec.id), None)
    if guard is None:  # (merge refuses dropping a locked guard; another version may lack it)
        return _Kept(lock, Claim(Term("base", lock.expr), (Term("other", action=mine.id, negated=True),)), mine, None)
    return _Kept(lock, Claim(Term("base", lock.expr), (Term("other", guard.when),)), mine, guard.when)


class _Prover:
    """Decides claims about ``base`` and ``other`` under one work budget."""

    def __init__(self, base: CompiledPolicy, other: CompiledPolicy, store: str | None = None) -> None:
        budget = Budget()
        self.facts = {f.name: f for f in (*base.facts, *other.facts)}
        diagrams = Diagrams([f for f in self.facts.values() if f.finite], budget.spend)
        self.cones = {"base": Cone(base, budget, diagrams), "other": Cone(other, budget, diagrams)}
        self.policies = {"base": base, "other": other}
        self.store = store  # a store override's store: the only orders its policy decides
        self.started, self.solver_ms = time.monotonic(), SOLVER_BUDGET_MS
        self.work_left = SOLVER_RLIMIT
        self.solved = False  # whether a claim went to the solver (whose answers depend on the store and on time)

    def decide(self, claim: Claim) -> dict[str, Any] | Unprovable | None:
        found = decide(claim, self.cones, self.facts)
        if not isinstance(found, Unprovable):
            return found
        # Facts without a finite set of values, or too many combinations: the SMT solver decides (refusing what it
        # cannot), and every counterexample it finds is re-checked by the interpreter.
        left = self.solver_ms - int((time.monotonic() - self.started) * 1000)
        if left <= 0:  # one override's proofs share one time budget, so a hostile file is refused in bounded time
            return Unprovable(f"the solver's time budget for these proofs ({self.solver_ms} ms) is spent")
        if self.work_left <= 0:  # ... and one work budget, which decides alike on every load
            return Unprovable(f"the solver's work budget for these proofs ({SOLVER_RLIMIT} units) is spent")

        def spent(units: int) -> None:
            self.work_left -= units

        self.solved = True

        solved = solve_claim(claim, self.policies, confirm=lambda values: self._fails(claim, values), store=self.store,
                             budget_ms=min(left, smt.BUDGET_MS), rlimit=self.work_left, spent=spent)
        return Unprovable(solved) if isinstance(solved, str) else solved

    def _fails(self, claim: Claim, values: Mapping[str, Any]) -> bool:
        def holds(term: Term) -> bool:
            cone = self.cones[term.side]
            return cone.holds(term, cone.env(values))

        return holds(claim.premise) and not any(holds(t) for t in claim.conclusions)


@attrs.frozen(slots=True)
class _Voice:
    """Who is being checked, as messages name it."""

    who: str  # "store override" | "order-actions@2"
    them: str  # "the store" | "order-actions@2"
    doc: Document
    hint: Callable[[_Lock], str]


def _claims(base: CompiledPolicy, other: CompiledPolicy, locks: list[_Lock], voice: _Voice,
            place: Callable[[_Kept], tuple[tuple[str | int, ...], bool]], prover: _Prover) -> list[Diagnostic]:
    out = []
    for lock in locks:
        kept = _kept(lock, other)
        if kept is None:
            continue
        found = prover.decide(kept.claim)
        if found is None:
            continue
        path, key = place(kept)
        if isinstance(found, Unprovable):
            out.append(voice.doc.diagnostic(path, f"cannot prove this keeps the lock on {lock.what}: {found.why}",
                                            key=key, hint=f"locked at {lock.where}; add a deny guard instead, which "
                                                          "can only narrow"))
        else:
            out.append(voice.doc.diagnostic(path, _message(kept, found, base.spec.label, voice), key=key,
                                            hint=voice.hint(lock)))
    return out


def _message(kept: _Kept, values: dict[str, Any], base_label: str, voice: _Voice) -> str:
    lock, when = kept.lock, describe(values)
    action = lock.action.id
    if lock.part == "visible":
        return (f"{voice.who} widens the locked visibility of action {action!r}: with {when} {voice.them} would show "
                f"it, where {base_label} hides it")
    if lock.part == "allow":
        return (f"{voice.who} widens the locked allow condition of action {action!r}: with {when} {voice.them} would "
                f"allow it, where {base_label} does not")
    guard = lock.guard.spec.id if lock.guard is not None else ""
    if kept.counterpart is None:
        return (f"{voice.who} drops the locked guard {guard!r} of action {action!r}: with {when} {base_label}'s guard "
                f"fires and {voice.them} enables the action")
    return (f"{voice.who} weakens the locked guard {guard!r} of action {action!r}: with {when} {base_label}'s guard "
            f"fires and {voice.them}'s does not")


def _over_budget(doc: Document, path: tuple[str | int, ...], what: str) -> Diagnostic:
    return doc.diagnostic(path, f"proving that {what} keeps the locks needs more than {MAX_PROOF_WORK} evaluations",
                          key=True, hint="locks are proved over every combination of the facts they read: read fewer "
                                         "facts in the conditions locks depend on")


# -- a store override on the base it runs on ---------------------------------------------------------------------

def check_locks(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec) -> list[Diagnostic]:
    """Every way ``merged`` (base + ``override``) weakens a lock of ``base`` or sets a fact it may not; empty when
    all locks hold."""
    return _store_locks(base, merged, override, _Prover(base, merged, override.store))


def _store_locks(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec,
                 prover: _Prover) -> list[Diagnostic]:
    voice = _Voice("store override", "the store", override.doc, lambda lock: f"the base policy locks it at {lock.where}")
    try:
        out = _claims(base, merged, list(_locks(base)), voice, lambda kept: _culprit(kept, override, merged), prover)
        out += _check_operations(base, merged, override, prover)
        out += _check_effects(base, merged, override, prover)
    except OverBudget:
        return [_over_budget(override.doc, ("store",), "this override")]
    return out


def check_pinned(latest: CompiledPolicy, pinned: CompiledPolicy, merged: CompiledPolicy,
                 override: OverrideSpec) -> list[Diagnostic]:
    """A store pinned to an older version (``pinned``; ``merged`` is it with ``override``) must still keep every lock
    of the ``latest`` version, its effects included."""
    return _pinned_locks(latest, pinned, merged, override, _Prover(latest, merged, override.store))


def _pinned_locks(latest: CompiledPolicy, pinned: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec,
                  prover: _Prover) -> list[Diagnostic]:
    voice = _Voice("store override", "the store", override.doc,
                   lambda lock: f"{latest.spec.label} locks it at {lock.where}: a store keeps the latest version's "
                                "locks, whatever version it pins")
    try:
        out = _claims(latest, merged, list(_locks(latest)), voice, lambda kept: (("base", "pin"), False), prover)
        out += _check_operations(latest, merged, override, prover, at=("base", "pin"))
    except OverBudget:
        return [_over_budget(override.doc, ("base", "pin"), "this pinned override")]
    return out + _pinned_effects(latest, pinned, merged, override)


class StoreProofs:
    """One load's memo of the store overrides that keep every lock, by what decides that: the base (and latest)
    version they run on and the override's content without its store id and its words (labels, reasons,
    descriptions, confirmation texts, its own version), which no proof reads. Thousands of stores repeat a few
    shapes; each shape is proved once. Only a clean result is remembered, and only when every claim was decided
    over the finite facts: the solver's answers depend on the store (its orders are the only ones its policy
    decides) and on a time budget, and a refused override is checked again so that its diagnostics name its own
    file and lines."""

    def __init__(self) -> None:
        self._kept: set[tuple[int, int, str]] = set()

    def check(self, base: CompiledPolicy, latest: CompiledPolicy, merged: CompiledPolicy,
              override: OverrideSpec) -> list[Diagnostic]:
        """:func:`check_store`, each shape proved once."""
        key = _proof_key(base, latest, override)
        if key is not None and key in self._kept:
            return []
        provers = [_Prover(base, merged, override.store)]
        out = _store_locks(base, merged, override, provers[0])
        if latest is not base:
            provers.append(_Prover(latest, merged, override.store))
            out += _pinned_locks(latest, base, merged, override, provers[1])
        if key is not None and not out and not any(p.solved for p in provers):
            self._kept.add(key)
        return out


def check_store(base: CompiledPolicy, latest: CompiledPolicy, merged: CompiledPolicy,
                override: OverrideSpec) -> list[Diagnostic]:
    """Every lock ``merged`` (``base`` + ``override``) weakens: ``base``'s (:func:`check_locks`) and, for a store
    pinned to an older version, the ``latest`` version's (:func:`check_pinned`)."""
    return StoreProofs().check(base, latest, merged, override)


_WORDS = ("label", "description", "confirm")
"""An action patch's words: shown to people, read by no condition or proof."""


def _proof_key(base: CompiledPolicy, latest: CompiledPolicy, override: OverrideSpec) -> tuple[int, int, str] | None:
    """What decides whether ``override`` keeps the locks (see :class:`StoreProofs`); None: not comparable."""
    data = override.doc.data
    shape = {k: v for k, v in data.items() if k not in ("store", "version", "description")}
    if isinstance(shape.get("actions"), dict):
        shape["actions"] = {i: _patch_shape(p) for i, p in shape["actions"].items()}
    for section in ("facts", "conditions"):
        if isinstance(shape.get(section), dict):
            shape[section] = {n: _without(v, ("description",)) for n, v in shape[section].items()}
    try:
        text = json.dumps(shape, ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    return id(base), id(latest), text


def _without(value: Any, words: tuple[str, ...]) -> Any:
    return {k: v for k, v in value.items() if k not in words} if isinstance(value, dict) else value


def _patch_shape(patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    shape = _without(patch, _WORDS)
    for gate in ("visible", "allow"):
        if gate in shape:
            shape[gate] = _without(shape[gate], ("reason",))
    if isinstance(shape.get("deny"), list):
        shape["deny"] = [_without(g, ("reason",)) for g in shape["deny"]]
    if isinstance(shape.get("replace_deny"), dict):
        shape["replace_deny"] = {i: _without(g, ("reason",)) for i, g in shape["replace_deny"].items()}
    return shape


def _pinned_effects(latest: CompiledPolicy, pinned: CompiledPolicy, merged: CompiledPolicy,
                    override: OverrideSpec) -> list[Diagnostic]:
    """The store's own effects (not the pinned version's) add or change no ``set`` of a fact a lock of ``latest``
    reads: a pin to a version without that lock must not let the next decision escape it."""
    guarded: dict[str, _Lock] = {}
    for each in _locks(latest):
        for name in sorted(depends_on(latest, [each.expr])):
            guarded.setdefault(name, each)
    pinned_actions, latest_actions = ({a.id: a for a in p.actions} for p in (pinned, latest))
    out = []
    for action in merged.actions:
        before = pinned_actions.get(action.id)
        if before is not None and action.spec.effects is before.spec.effects:
            continue  # the pinned version's own effects, untouched by the store
        now = latest_actions.get(action.id)
        for effect in action.spec.effects:
            for name, _ in effect.set:
                lock = guarded.get(name)
                if lock is None or _restated(effect, now.spec.effects if now is not None else ()):
                    continue
                out.append(override.doc.diagnostic(
                    (*effect.path, "set", name), f"a store may not add or change an effect that sets {name}: locked "
                    f"conditions of {latest.spec.label} read it (the lock on {lock.what}), so applying it would let a "
                    "later decision escape the lock", key=True,
                    hint=f"{latest.spec.label} locks it at {lock.where}: a store keeps the latest version's locks, "
                         "whatever version it pins"))
    return out


def _culprit(kept: _Kept, override: OverrideSpec, merged: CompiledPolicy) -> tuple[tuple[str | int, ...], bool]:
    """Where in the override the widening comes from: the replaced condition, else a redefined named condition."""
    lock = kept.lock
    patch = next((p for p in override.actions if p.id == lock.action.id), None)
    if patch is not None:
        if lock.guard is None and getattr(patch, lock.part) is not None:
            return getattr(patch, lock.part).path, False
        for change in patch.replace_deny:
            if lock.guard is not None and change.id == lock.guard.spec.id and change.when is not None:
                return change.when.path, False
    redefined = {c.name for c in override.conditions}
    exprs = [kept.counterpart] if kept.counterpart is not None else list(kept.mine.exprs())
    for name in sorted(_closure_conditions(merged, exprs) & redefined):
        return ("conditions", name), True
    return (("actions", lock.action.id) if patch is not None else ("store",)), True


def _closure_conditions(policy: CompiledPolicy, exprs: list[CompiledExpr]) -> set[str]:
    out: set[str] = set()
    todo = [c for e in exprs for c in e.conditions]
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo += list(policy.conditions[name].conditions)
    return out


def _operations(action: CompiledAction) -> set[str]:
    return {e.spec.operation for e in action.effects if e.spec.operation}


def _is_locked(action: CompiledAction) -> bool:
    return bool(action.spec.locked) or any(g.spec.locked for g in action.guards)


def _check_operations(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec, prover: _Prover,
                      at: tuple[str, ...] | None = None) -> list[Diagnostic]:
    """No store action may perform what a locked base action does (``delete_order``, say) where none of those
    locked actions is enabled: a new "delete for everyone" action is as much a widening as an unlocked one."""
    owners: dict[str, list[CompiledAction]] = {}
    for action in base.actions:
        if _is_locked(action):
            for operation in _operations(action):
                owners.setdefault(operation, []).append(action)
    base_actions = {a.id: a for a in base.actions}
    out = []
    for action in merged.actions:
        before = base_actions.get(action.id)
        for operation in sorted(_operations(action) - (_operations(before) if before else set())):
            locked = owners.get(operation)
            if not locked:
                continue
            claim = Claim(Term("other", action=action.id), tuple(Term("base", action=c.id) for c in locked))
            found = prover.decide(claim)
            if found is None:
                continue
            ids = ", ".join(repr(c.id) for c in locked)
            path: tuple[str | int, ...] = at or ((*action.spec.path, "effects") if action.spec.doc is override.doc
                                                 else ("actions", action.id))
            where = "; ".join(f"{c.id} at {c.spec.doc.where(c.spec.path, key=True)}" for c in locked)
            if isinstance(found, Unprovable):
                message = (f"cannot prove that action {action.id!r}, which performs {operation!r}, is enabled only "
                           f"where the base's locked {ids} is: {found.why}")
            else:
                message = (f"action {action.id!r} performs {operation!r}, which the base policy only performs through "
                           f"locked {ids}: with {describe(found)} the store would enable {action.id!r} where "
                           f"{base.spec.label} enables none of them")
            out.append(override.doc.diagnostic(path, message, key=at is None,
                                               hint=f"give it the locked action's conditions ({where})"))
    return out


# -- a newer version on an older one ---------------------------------------------------------------------------

def check_version(older: CompiledPolicy, newer: CompiledPolicy) -> list[Diagnostic]:
    """Every lock of ``older`` that ``newer`` drops or weakens without an ``unlocks:`` entry saying so, and every
    ``unlocks:`` entry that names no lock of ``older``."""
    spec, label = newer.spec, newer.spec.label
    doc = spec.doc
    locks = list(_locks(older))
    unlocked: set[tuple[str, str | None]] = set()
    out = []
    for entry in spec.unlocks:
        key = (entry.action, entry.part or f"guard {entry.guard}")
        if not any((lock.action.id, _lock_key(lock)) == key for lock in locks):
            out.append(doc.diagnostic(entry.path, f"nothing to unlock: {older.spec.label} does not lock {entry.what}",
                                      key=False, hint="an unlocks entry names a lock of the previous version"))
        unlocked.add(key)
    kept_locks = []
    for lock in locks:
        if (lock.action.id, _lock_key(lock)) in unlocked:
            continue
        mine = next((a for a in newer.actions if a.id == lock.action.id), None)
        if mine is None:
            continue
        still = (lock.part in mine.spec.locked if lock.guard is None else
                 any(g.spec.id == lock.guard.spec.id and g.spec.locked for g in mine.guards))
        if not still:
            out.append(doc.diagnostic(mine.spec.path, f"{label} no longer locks {lock.what}, which "
                                                      f"{older.spec.label} locks at {lock.where}", key=True,
                                      hint=f"keep it locked, or add an unlocks entry with the reason: unlocks: "
                                           f"[{{action: {lock.action.id}, "
                                           f"{'part: ' + lock.part if lock.guard is None else 'guard: ' + lock.guard.spec.id}"
                                           f", reason: ...}}]"))
        else:
            kept_locks.append(lock)
    voice = _Voice(label, label, doc, lambda lock: f"{older.spec.label} locks it at {lock.where}; if this is "
                                                   "intended, say so in an unlocks entry with the reason")

    def place(kept: _Kept) -> tuple[tuple[str | int, ...], bool]:
        if kept.counterpart is None:
            return kept.mine.spec.path, True
        own = kept.mine.spec
        spot = next((g for g in own.deny if kept.lock.guard is not None and g.id == kept.lock.guard.spec.id), None)
        return (spot.when.path if spot is not None else getattr(own, kept.lock.part).path), False

    try:
        out += _claims(older, newer, kept_locks, voice, place, _Prover(older, newer))
    except OverBudget:
        out.append(_over_budget(doc, ("version",), label))
    return out


def _lock_key(lock: _Lock) -> str:
    return lock.part if lock.guard is None else f"guard {lock.guard.spec.id}"


# -- effects ---------------------------------------------------------------------------------------------------

def _never_settable(policy: PolicySpec, name: str) -> bool:
    """User facts describe who acts, and store.id picks the policy that decides: no effect may set them."""
    fact = next((f for f in policy.facts if f.name == name), None)
    return name == STORE_FACT or name.startswith("user.") or (fact is not None and fact.source[0] == "user")


def check_settable(policy: CompiledPolicy) -> list[Diagnostic]:
    """A base policy's ``settable`` list names declared facts other than user facts and store.id, and its own
    effects set only those."""
    spec = policy.spec
    declared = {f.name for f in spec.facts}
    out = []
    for i, name in enumerate(spec.settable or ()):
        if name not in declared:
            out.append(spec.doc.diagnostic(("settable", i), f"settable fact {name!r} is not declared"))
        elif _never_settable(spec, name):
            out.append(spec.doc.diagnostic(("settable", i), f"{name} can never be settable: user facts and "
                                                            f"{STORE_FACT} are not for effects to change"))
    for action in spec.actions:
        for effect in action.effects:
            for name, _ in effect.set:
                refused = _unsettable(spec, name, spec.may_set, spec.label)
                if refused is not None:
                    out.append(action.doc.diagnostic((*effect.path, "set", name), refused[0], key=True,
                                                     hint=refused[1]))
    return out


def _unsettable(base: PolicySpec, name: str, allowed: frozenset[str], label: str) -> tuple[str, str] | None:
    """Why an effect may not set fact ``name`` (message, hint), or None when it may."""
    if _never_settable(base, name):
        return (f"no effect may set {name}: user facts and {STORE_FACT} are never settable",
                "an effect the host applies would change who acts or which store's policy decides")
    if name not in allowed:
        return (f"effect sets {name}, which {label} does not declare settable",
                f"{label} lets effects set: {', '.join(sorted(allowed)) or 'nothing'}")
    return None


def _check_effects(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec,
                  prover: _Prover) -> list[Diagnostic]:
    """A store's effects set only facts the base declares settable, and add or change no ``set`` of a fact a
    locked condition or guard reads (nor make it apply more often: the action must not be enabled where the base's
    is not, nor its condition read a redefined named condition): once the host applies it, the next decision would
    escape the lock."""
    label = base.spec.label
    guarded: dict[str, _Lock] = {}
    for each in _locks(base):
        for name in sorted(depends_on(base, [each.expr])):
            guarded.setdefault(name, each)
    base_actions = {a.id: a for a in base.actions}
    redefined = {c.name for c in override.conditions}
    out = []
    for action in merged.actions:
        before = base_actions.get(action.id)
        own = before is not None and action.spec.effects is before.spec.effects  # the base's, untouched
        sets_guarded: _Lock | None = None
        for effect, compiled in zip(action.spec.effects, action.effects, strict=True):
            for name, _ in effect.set:
                refused = None if own else _unsettable(base.spec, name, base.spec.may_set, label)
                if refused is not None:
                    out.append(override.doc.diagnostic((*effect.path, "set", name), refused[0], key=True,
                                                       hint=refused[1]))
                    continue
                lock = guarded.get(name)
                if lock is None:
                    continue
                sets_guarded = sets_guarded or lock
                changed = sorted(_closure_conditions(merged, [compiled.when]) & redefined if compiled.when else ())
                if not changed and (own or _restated(effect, before.spec.effects if before else ())):
                    continue
                path = ("conditions", changed[0]) if own else (*effect.path, "set", name)
                out.append(override.doc.diagnostic(
                    path, f"a store may not add or change an effect that sets {name}: locked conditions read it (the "
                          f"lock on {lock.what}), so applying it would let a later decision escape the lock", key=True,
                    hint=f"{label} locks it at {lock.where}"))
        if sets_guarded is not None and before is not None:
            found = prover.decide(Claim(Term("other", action=action.id), (Term("base", action=action.id),)))
            if found is not None and not isinstance(found, Unprovable):
                out.append(override.doc.diagnostic(
                    ("actions", action.id) if any(p.id == action.id for p in override.actions) else ("store",),
                    f"store override enables action {action.id!r}, whose effects set facts locked conditions read "
                    f"(the lock on {sets_guarded.what}), where {label} does not: with {describe(found)}", key=True,
                    hint=f"an action whose effects a lock depends on keeps the base's conditions (locked at "
                         f"{sets_guarded.where})"))
            elif isinstance(found, Unprovable):
                out.append(override.doc.diagnostic(
                    ("actions", action.id) if any(p.id == action.id for p in override.actions) else ("store",),
                    f"cannot prove that action {action.id!r}, whose effects set facts locked conditions read, is "
                    f"enabled only where {label} enables it: {found.why}", key=True))
    return out


def _restated(effect: EffectSpec, base: tuple[EffectSpec, ...]) -> bool:
    """Whether ``effect`` is one of the base action's effects, restated word for word."""
    text = effect.when.text if effect.when else None
    return any((e.when.text if e.when else None, e.set, e.operation) == (text, effect.set, effect.operation)
               for e in base)
