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

from .compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .errors import Diagnostic
from .interpret import Interpreter, Unknown
from .model import OverrideSpec
from .space import assignments, depends_on, describe

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
    """What an expression means, syntactically: its translation and that of everything it reads."""
    conditions = sorted(_closure_conditions(policy, expr))
    return (expr.python, tuple((c, policy.conditions[c].python) for c in conditions), tuple(sorted(expr.actions)))


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


def check_locks(base: CompiledPolicy, merged: CompiledPolicy, override: OverrideSpec) -> list[Diagnostic]:
    """Every way ``merged`` (base + ``override``) widens a lock of ``base``; empty when all locks hold."""
    # Only what the override changed needs proof; an untouched condition trivially keeps its lock.
    obligations = [ob for ob in _obligations(base, merged) if _signature(base, ob.base) != _signature(merged, ob.store)]
    if not obligations:
        return []
    facts = {f.name: f for f in (*base.facts, *merged.facts)}
    base_run, store_run = Interpreter(base), Interpreter(merged)
    out = []
    for ob in obligations:
        path, place = _culprit(ob, override, merged)
        names = depends_on(base, [ob.base]) | depends_on(merged, [ob.store])
        open_facts = sorted(n for n in names if not facts[n].finite)
        if open_facts:
            out.append(override.doc.diagnostic(
                path, f"cannot prove this keeps the lock on {_what(ob)}: it reads {', '.join(open_facts)}, which "
                      "has no finite set of values", key=place == "key",
                hint=f"locked at {ob.lock_where}; add a deny guard instead, which can only narrow"))
            continue
        space = [facts[n] for n in sorted(names)]
        size = 1
        for fact in space:
            size *= len(fact.domain)
        if size > MAX_LOCK_SPACE:
            out.append(override.doc.diagnostic(path, f"cannot check the lock on {_what(ob)}: {size} fact combinations",
                                               key=place == "key", hint=f"locked at {ob.lock_where}"))
            continue
        for values in assignments(space):
            base_value = _value(base_run, ob.base, values)
            store_value = _value(store_run, ob.store, values)
            widened = (store_value is True and base_value is not True) if ob.what != "guard" \
                else (base_value is True and store_value is not True)
            if widened:
                out.append(override.doc.diagnostic(path, _message(ob, values, base.spec.label), key=place == "key",
                                                   hint=f"the base policy locks it at {ob.lock_where}"))
                break
    return out


def _value(interpreter: Interpreter, expr: CompiledExpr, values: dict[str, Any]) -> Any:
    _, env = interpreter.evaluate(values)
    result = interpreter.value(expr, env)
    return None if isinstance(result, Unknown) else result


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
