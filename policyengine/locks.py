"""Part of stage 3, compile: prove that a store override keeps every lock of its base policy.

A lock says what a store may not *widen*: a locked visibility or allow condition may only become stricter (the
store's condition implies the base's), and a locked guard may only fire more often (the base's condition implies
the store's). We decide that on meaning, exhaustively over every combination of the finite facts the conditions
read, so no rewording, renamed condition or redefined named condition can slip a widening through; a violation is
reported with a counterexample, at the override's line, naming the lock's line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from .pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .errors import Diagnostic
from .runtime.interpret import Interpreter, Unknown
from .pipeline.model import OverrideSpec
from .proof.smt_locks import store_escalates, store_widens
from .proof.space import assignments, depends_on, describe

__all__ = ["check_locks", "MAX_LOCK_SPACE"]

MAX_LOCK_SPACE = 1 << 16
"""More combinations than this and the check refuses rather than run for long (declare fewer facts per lock)."""


@attrs.frozen(slots=True)
class _Obligation:
    action: CompiledAction
    what: str  # "visible" | "allow" | "guard"
    guard_id: str | None
    base: CompiledExpr
    store: CompiledExpr
    lock_where: str


def _obligations(base: CompiledPolicy, merged: CompiledPolicy) -> Iterator[_Obligation]:
    merged_actions = {a.id: a for a in merged.actions}
    for action in base.actions:
        mine = merged_actions[action.id]
        spec = action.spec
        lock_where = spec.doc.where((*spec.path, "locked"), key=True)
        if "visible" in spec.locked:
            yield _Obligation(mine, "visible", None, action.visible, mine.visible, lock_where)
        if "allow" in spec.locked:
            yield _Obligation(mine, "allow", None, action.allow, mine.allow, lock_where)
        store_guards = {g.spec.id: g for g in mine.guards}
        for guard in action.guards:
            if guard.spec.locked and guard.spec.id in store_guards:  # dropping one is refused by merge
                where = guard.spec.doc.where((*guard.spec.path, "locked"), key=True)
                yield _Obligation(mine, "guard", guard.spec.id, guard.when, store_guards[guard.spec.id].when, where)


def _signature(policy: CompiledPolicy, expr: CompiledExpr) -> tuple[Any, ...]:
    """What an expression means, syntactically: its translation and that of everything it reads, through named
    conditions and referenced actions (whose every condition, guard and effect counts)."""
    actions = {a.id: a for a in policy.actions}
    seen: dict[str, str] = {}
    todo: list[tuple[str, CompiledExpr]] = [("", expr)]
    while todo:
        label, current = todo.pop()
        if label in seen:
            continue
        seen[label] = current.python
        todo += [(f"condition {c}", policy.conditions[c]) for c in current.conditions]
        for action_id in current.actions:
            action = actions[action_id]
            todo += [(f"action {action_id} {i}", e) for i, e in enumerate(action.exprs())]
            seen[f"action {action_id} guards"] = repr([g.spec.id for g in action.guards])
    return tuple(sorted(seen.items()))


def _closure_conditions(policy: CompiledPolicy, expr: CompiledExpr) -> set[str]:
    out: set[str] = set()
    todo = list(expr.conditions)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo += list(policy.conditions[name].conditions)
    return out


def _culprit(ob: _Obligation, override: OverrideSpec, merged: CompiledPolicy) -> tuple[tuple[str | int, ...], str]:
    """Where in the override the widening comes from: the replaced condition, else a redefined named condition."""
    patch = next((p for p in override.actions if p.id == ob.action.id), None)
    if patch is not None:
        if ob.what in ("visible", "allow") and getattr(patch, ob.what) is not None:
            return getattr(patch, ob.what).path, "value"
        for change in patch.replace_deny:
            if change.id == ob.guard_id and change.when is not None:
                return change.when.path, "value"
    redefined = {c.name for c in override.conditions}
    for name in sorted(_closure_conditions(merged, ob.store) & redefined):
        return ("conditions", name), "key"
    return (("actions", ob.action.id) if patch is not None else ("store",)), "key"


def _operations(action: CompiledAction) -> set[str]:
    return {e.spec.operation for e in action.effects if e.spec.operation}


def _is_locked(action: CompiledAction) -> bool:
    return bool(action.spec.locked) or any(g.spec.locked for g in action.guards)


class _Prover:
    """Searches the finite fact space for a counterexample.

    Every combination counts, even one the base's constraints rule out: a lock must hold when the host's data is
    inconsistent too. The counterexample shown is a possible one when there is one, as it reads better."""

    def __init__(self, base: CompiledPolicy, merged: CompiledPolicy) -> None:
        self.base, self.merged = base, merged
        self.facts = {f.name: f for f in (*base.facts, *merged.facts)}
        self.base_run, self.store_run = Interpreter(base), Interpreter(merged)

    def envs(self, values: dict[str, Any]) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """The base's and the store's environments for ``values`` (to re-check a solver's counterexample)."""
        return self.base_run.evaluate(values)[1], self.store_run.evaluate(values)[1]

    def search(self, names: set[str], violated: Any) -> dict[str, Any] | str | None:
        """An assignment of ``names`` where ``violated(base_env, store_env)``; None if there is none; a message
        when the space cannot be searched."""
        open_facts = sorted(n for n in names if not self.facts[n].finite)
        if open_facts:
            return f"it reads {', '.join(open_facts)}, which has no finite set of values"
        space = [self.facts[n] for n in sorted(names)]
        size = 1
        for fact in space:
            size *= len(fact.domain)
        if size > MAX_LOCK_SPACE:
            return f"{size} fact combinations are too many to check"
        impossible = None
        for values in assignments(space):
            _, base_env = self.base_run.evaluate(values)
            _, store_env = self.store_run.evaluate(values)
            if violated(base_env, store_env):
                if not self.base_run.broken_constraints(base_env):
                    return values
                impossible = impossible or values
        return impossible


def check_locks(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec) -> list[Diagnostic]:
    """Every way ``merged`` (base + ``override``) widens a lock of ``base``; empty when all locks hold."""
    # Only what the override changed needs proof; an untouched condition trivially keeps its lock.
    obligations = [ob for ob in _obligations(base, merged) if _signature(base, ob.base) != _signature(merged, ob.store)]
    prover = _Prover(base, merged)
    out = []
    for ob in obligations:
        path, place = _culprit(ob, override, merged)
        names = depends_on(base, [ob.base]) | depends_on(merged, [ob.store])

        def widened(base_env: dict[Any, Any], store_env: dict[Any, Any], ob: _Obligation = ob) -> bool:
            base_value = _known(prover.base_run.value(ob.base, base_env))
            store_value = _known(prover.store_run.value(ob.store, store_env))
            if ob.what == "guard":
                return base_value is True and store_value is not True
            return store_value is True and base_value is not True

        found = prover.search(names, widened)
        if isinstance(found, str):  # no finite space to enumerate: the SMT solver decides (issue 15)
            found = store_widens(base, merged, ob.base, ob.store, guard=ob.what == "guard", store=override.store,
                                 confirm=lambda values, w=widened: w(*prover.envs(values)))
        if isinstance(found, str):
            out.append(override.doc.diagnostic(path, f"cannot prove this keeps the lock on {_what(ob)}: {found}",
                                               key=place == "key",
                                               hint=f"locked at {ob.lock_where}; add a deny guard instead, which can "
                                                    "only narrow"))
        elif found is not None:
            out.append(override.doc.diagnostic(path, _message(ob, found, base.spec.label), key=place == "key",
                                               hint=f"the base policy locks it at {ob.lock_where}"))
    out += _check_operations(base, merged, override, prover)
    return out


def _check_operations(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec,
                      prover: _Prover) -> list[Diagnostic]:
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
            names = depends_on(merged, action.exprs()) | depends_on(base, [e for c in locked for e in c.exprs()])

            def escalates(base_env: dict[Any, Any], store_env: dict[Any, Any], action: CompiledAction = action,
                          locked: list[CompiledAction] = locked) -> bool:
                return bool(store_env[f"a_{action.id}"].enabled) and not any(
                    base_env[f"a_{c.id}"].enabled for c in locked)

            found = prover.search(names, escalates)
            if isinstance(found, str):  # no finite space to enumerate: the SMT solver decides (issue 15)
                found = store_escalates(base, merged, action.id, [c.id for c in locked], store=override.store,
                                        confirm=lambda values, e=escalates: e(*prover.envs(values)))
            if found is None:
                continue
            ids = ", ".join(repr(c.id) for c in locked)
            path = (*action.spec.path, "effects") if action.spec.doc is override.doc else ("actions", action.id)
            where = "; ".join(f"{c.id} at {c.spec.doc.where(c.spec.path, key=True)}" for c in locked)
            if isinstance(found, str):
                message = (f"cannot prove that action {action.id!r}, which performs {operation!r}, is enabled only "
                           f"where the base's locked {ids} is: {found}")
            else:
                message = (f"action {action.id!r} performs {operation!r}, which the base policy only performs through "
                           f"locked {ids}: with {describe(found)} the store would enable {action.id!r} where "
                           f"{base.spec.label} enables none of them")
            out.append(override.doc.diagnostic(path, message, key=True,
                                               hint=f"give it the locked action's conditions ({where})"))
    return out


def _known(value: Any) -> Any:
    return None if isinstance(value, Unknown) else value


def _what(ob: _Obligation) -> str:
    if ob.what == "guard":
        return f"guard {ob.guard_id!r} of action {ob.action.id!r}"
    return f"the {'visibility' if ob.what == 'visible' else 'allow condition'} of action {ob.action.id!r}"


def _message(ob: _Obligation, values: dict[str, Any], base_label: str) -> str:
    when = describe(values)
    if ob.what == "visible":
        return (f"store override widens the locked visibility of action {ob.action.id!r}: with {when} the store "
                f"would show it, where {base_label} hides it")
    if ob.what == "allow":
        return (f"store override widens the locked allow condition of action {ob.action.id!r}: with {when} the "
                f"store would allow it, where {base_label} does not")
    return (f"store override weakens the locked guard {ob.guard_id!r} of action {ob.action.id!r}: with {when} "
            f"{base_label}'s guard fires and the store's does not")
