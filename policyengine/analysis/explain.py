"""Why each action got its state, for one order and user (``policyengine explain``).

The trace is read from the :class:`~policyengine.runtime.interpret.Interpreter`'s environment (the evaluator the fast path
falls back to, checked by the test suite to agree with it), not recomputed: for each action, the visibility, allow
condition, deny guards and conditional effects, each with its text, its ``file:line:col``, its value and the facts,
named conditions (recursively) and other actions' states it read; the conditions that determined the state are the
decision's own provenance (:attr:`Decision.source`). The engine's own decision is attached, so an explanation can
never disagree silently with what ``evaluate`` answers (it can only differ when the store itself could not be read,
which the explanation then says).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..engine import Engine, store_mismatch
from ..errors import FactProblem
from ..locks import STORE_FACT
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..proof.space import depends_on
from ..runtime.adapters import Adapter, read_failure
from ..runtime.decision import Decision
from ..runtime.interpret import MISSING, Interpreter, Unknown

__all__ = ["ActionExplanation", "ActionRead", "Explanation", "FactValue", "Trace", "explain"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    return value


@attrs.frozen(slots=True)
class FactValue:
    """A fact as the engine read it: its value, or what was wrong with it."""

    name: str
    value: Any
    problem: str | None = None
    defaulted: bool = False
    """The host did not send the fact: ``value`` is its declared ``default:``."""

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.name, "value": None if self.problem else _jsonable(self.value), "problem": self.problem,
                "defaulted": self.defaulted}


@attrs.frozen(slots=True)
class ActionRead:
    """``actions.<action>.<state>`` read by a condition: its value, and that action's decided state."""

    action: str
    state: str
    value: bool | None
    decided: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state, "value": self.value, "decided": self.decided}


@attrs.frozen(slots=True)
class Trace:
    """One condition as evaluated: ``kind`` is visible, allow, guard, effect or condition (a named condition)."""

    kind: str
    id: str | None
    """The guard id, the named condition's name, or the effect's 1-based position."""
    text: str
    where: str
    value: bool | None
    """None when it could not be decided (a bad fact); it then never enables anything."""
    problems: tuple[str, ...] = ()
    facts: tuple[FactValue, ...] = ()
    """Facts it reads directly."""
    conditions: tuple[Trace, ...] = ()
    """Named conditions it reads, each with its own trace."""
    actions: tuple[ActionRead, ...] = ()
    decisive: bool = False
    """Whether it determined the action's state."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "condition": self.text, "where": self.where, "value": self.value,
                "problems": list(self.problems), "decisive": self.decisive,
                "facts": [f.to_dict() for f in self.facts], "conditions": [c.to_dict() for c in self.conditions],
                "actions": [a.to_dict() for a in self.actions]}


@attrs.frozen(slots=True)
class ActionExplanation:
    action: str
    label: str
    decision: Decision
    """The engine's own decision (``engine.evaluate``)."""
    visible: Trace
    allow: Trace | None
    """None when the action is hidden (allow, guards and effects are then not evaluated)."""
    guards: tuple[Trace, ...]
    effects: tuple[Trace, ...]
    """The conditional effects, with their ``when``."""
    facts: tuple[str, ...]
    """Every fact the decision depends on (directly, through named conditions and other actions)."""
    note: str | None = None
    """Set when the engine's decision differs from the trace (the store could not be determined)."""

    @property
    def state(self) -> str:
        return self.decision.state

    def traces(self) -> Iterable[Trace]:
        yield self.visible
        if self.allow is not None:
            yield self.allow
        yield from self.guards
        yield from self.effects

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "label": self.label, "state": self.state,
                "reasons": list(self.decision.reasons), "visible": self.visible.to_dict(),
                "allow": self.allow.to_dict() if self.allow else None, "guards": [g.to_dict() for g in self.guards],
                "effects": [e.to_dict() for e in self.effects], "facts": list(self.facts), "note": self.note,
                "decision": self.decision.to_dict()}


@attrs.frozen(slots=True)
class Explanation:
    policy: str
    """The base policy that decided, ``name@version``."""
    store: str | None
    """The store the order was decided as (given, or read from ``store.id``)."""
    store_override: str | None
    """The store override applied, ``store@version``, or None."""
    facts: tuple[FactValue, ...]
    """Every fact the policy reads, as read for this order and user."""
    actions: tuple[ActionExplanation, ...]
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "store": self.store, "store_override": self.store_override,
                "facts": [f.to_dict() for f in self.facts], "actions": [a.to_dict() for a in self.actions],
                "problems": list(self.problems)}


class _Tracer:
    def __init__(self, policy: CompiledPolicy, interpreter: Interpreter, env: dict[Any, Any],
                 defaulted: frozenset[str] = frozenset()) -> None:
        self.policy = policy
        self.defaulted = defaulted
        self.interpreter = interpreter
        self.env = env
        self.index = {f.name: i for i, f in enumerate(policy.facts)}
        self.actions = {a.id: a for a in policy.actions}

    def fact(self, name: str) -> FactValue:
        value = self.env.get(f"f{self.index[name]}", MISSING)
        if isinstance(value, Unknown):
            return FactValue(name, None, "; ".join(p.message for p in value.problems))
        return FactValue(name, value, defaulted=name in self.defaulted)

    def value(self, expr: CompiledExpr) -> Any:
        if id(expr) not in self.env:
            self.interpreter.value(expr, self.env)
        return self.env[id(expr)]

    def trace(self, kind: str, ident: str | None, expr: CompiledExpr, decisive: bool = False) -> Trace:
        raw = self.value(expr)
        problems = tuple(str(p) for p in raw.problems) if isinstance(raw, Unknown) else ()
        reads = []
        for action, state in sorted(expr.action_states):
            decision: Decision = self.env[f"a_{action}"]
            # the state as the condition's own atom reads it (the IR's one meaning of an action state)
            reads.append(ActionRead(action, state, self.interpreter.action_state(action, state, decision),
                                    decision.state))
        return Trace(kind, ident, expr.text, expr.where, None if isinstance(raw, Unknown) else bool(raw), problems,
                     tuple(self.fact(f) for f in sorted(expr.facts, key=self.index.__getitem__)),
                     tuple(self.trace("condition", name, self.policy.conditions[name])
                           for name in sorted(expr.conditions)),
                     tuple(reads), decisive)

    def action(self, action: CompiledAction, decision: Decision, traced: Decision, facts: tuple[str, ...],
               note: str | None) -> ActionExplanation:
        decided = {(s.kind, s.id) for s in traced.source}
        visible = self.trace("visible", None, action.visible, ("visible", None) in decided)
        if traced.state == "hidden":
            return ActionExplanation(action.id, action.spec.label, decision, visible, None, (), (), facts, note)
        allow = self.trace("allow", None, action.allow, ("allow", None) in decided)
        guards = tuple(self.trace("guard", g.spec.id, g.when, ("guard", g.spec.id) in decided) for g in action.guards)
        effects = tuple(self.trace("effect", str(i + 1), e.when) for i, e in enumerate(action.effects)
                        if e.when is not None)
        return ActionExplanation(action.id, action.spec.label, decision, visible, allow, guards, effects, facts, note)


def _depends(policy: CompiledPolicy, action: CompiledAction) -> tuple[str, ...]:
    names = depends_on(policy, action.exprs())
    return tuple(f.name for f in policy.facts if f.name in names)


def explain(engine: Engine, order: Any, user: Any, *, store: str | None = None,
            actions: Iterable[str] | None = None, adapter: Adapter | None = None) -> Explanation:
    """Explain every action's decision (or only ``actions``) for ``order`` and ``user``.

    The store is read from the order (``store.id``) unless ``store`` names it, as :meth:`Engine.evaluate` does.
    ``adapter`` reads the facts (default: the engine's own).
    Raises ``KeyError`` for an action id that the store's policy does not have.
    """
    adapter = adapter or engine.adapter
    store_id = store
    if store_id is None and engine.stores:
        fact = next((f for f in engine.policy.facts if f.name == STORE_FACT), None)
        if fact is not None:
            try:
                read = adapter.getter(fact)(order, user)
            except Exception:  # noqa: BLE001 - the engine reports it (and fails closed); see `problems`
                read = None
            store_id = read if isinstance(read, str) else None
    store_fact = next((f for f in engine.policy.facts if f.name == STORE_FACT), None)
    if store is not None and engine.stores and store_fact is not None and \
            store_mismatch(adapter.getter(store_fact), store_fact, order, user, store) is not None:
        store_id = None  # not the order's store: the engine fails closed on the base policy (store-mismatch)
    policy = engine.store_policy(store_id)
    override = engine.store_override(store_id) if store_id is not None else None
    values: dict[str, Any] = {}
    failures: dict[str, FactProblem] = {}
    for i in policy.needed:
        fact = policy.facts[i]
        try:
            values[fact.name] = adapter.getter(fact)(order, user)
        except Exception as exc:  # noqa: BLE001 - reported as the engine reports it
            if read_failure(exc) != "missing":  # a missing fact: resolve says so
                failures[fact.name] = FactProblem(fact.name, read_failure(exc))
    interpreter = Interpreter(policy)
    env, _ = interpreter.resolve(values)
    index = {f.name: i for i, f in enumerate(policy.facts)}
    for name, problem in failures.items():
        env[f"f{index[name]}"] = Unknown((problem,))
    traced = interpreter.run(env)
    decisions = engine.evaluate(order, user, store=store)
    defaulted = frozenset(policy.facts[i].name for i in policy.needed if policy.facts[i].has_default
                          and policy.facts[i].name not in values and policy.facts[i].name not in failures)
    tracer = _Tracer(policy, interpreter, env, defaulted)
    wanted = list(actions) if actions is not None else [a.id for a in policy.actions]
    by_id = {a.id: a for a in policy.actions}
    out = []
    for action_id in wanted:
        if action_id not in by_id:
            raise KeyError(action_id)
        decision, mine = decisions[action_id], traced[action_id]
        note = None
        if (decision.state, decision.reasons) != (mine.state, mine.reasons):
            note = (f"the order's store could not be determined, so the engine fails closed: {decision.state}"
                    + (f" (this trace, of {policy.spec.label}, alone gives {mine.state})"
                       if decision.state != mine.state else ""))
        out.append(tracer.action(by_id[action_id], decision, mine, _depends(policy, by_id[action_id]), note))
    facts = tuple(tracer.fact(policy.facts[i].name) for i in policy.needed)
    return Explanation(policy.spec.label, store_id, override.override.label if override else None, facts,
                       tuple(out), tuple(str(p) for p in decisions.errors))
