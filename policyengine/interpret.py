"""Part of stage 4, evaluate: the unspecialised evaluator, one condition at a time.

It is what the generated fast path falls back to when a fact is bad (it knows which conditions a bad fact makes
unknown and fails closed), and what analysis (lock checks on store overrides, ``explain``) uses to see the value
of every condition. The fast path and this interpreter share the Python translation of each condition and the
decision builder, so they cannot drift apart; the test suite checks that they agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .decision import Decision, Decisions, Effect, State
from .errors import FactProblem
from .model import FactSpec

__all__ = ["MISSING", "Unknown", "ActionShape", "Interpreter", "check_value", "namespace_for"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""The value of a fact the adapter could not find."""

SAFE_BUILTINS = {"len": len, "str": str, "int": int, "float": float, "frozenset": frozenset, "Exception": Exception}


def namespace_for(policy: CompiledPolicy) -> dict[str, Any]:
    """Globals for generated code: the policy's constants and the few builtins translations use, nothing else."""
    namespace: dict[str, Any] = dict(policy.constants)
    namespace["__builtins__"] = dict(SAFE_BUILTINS)
    return namespace


def check_value(fact: FactSpec, value: Any) -> tuple[Any, str | None]:
    """Normalise ``value`` for ``fact`` or say what is wrong with it (the complete, slow check)."""
    kind = fact.type
    if value is MISSING:
        return value, "missing"
    if value is None:
        return value, "missing (null)"
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
    elif kind in ("enum", "string"):
        if isinstance(value, str):
            plain = str.__str__(value)  # a StrEnum member counts as its value
            if kind == "enum" and plain not in fact.values:
                return value, f"{plain!r} is not a declared value (expected one of: {', '.join(fact.values)})"
            return plain, None
    elif kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                return value, f"{value!r} is not a finite number"
            return value, None
    elif kind == "set" and isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return frozenset(str.__str__(v) for v in value), None
    return value, f"expected {_TYPE_WORDS[kind]}, got {type(value).__name__} {value!r:.60}"


_TYPE_WORDS = {"bool": "true/false", "enum": "a string", "string": "a string", "number": "a number",
               "set": "a list of strings"}


@attrs.frozen(slots=True)
class ActionShape:
    """Builds one action's decisions from what varies: allow, which guards fired, which conditional effects apply."""

    action: CompiledAction
    hidden: Decision

    @classmethod
    def of(cls, action: CompiledAction) -> ActionShape:
        return cls(action, hidden_decision(action))

    @property
    def bits(self) -> int:
        """allow + one per guard + one per conditional effect: the width of this action's decision-table key."""
        return 1 + len(self.action.guards) + sum(1 for e in self.action.effects if e.when is not None)

    def allow_reason(self) -> str:
        spec = self.action.spec
        return spec.allow_reason or f"not allowed: `{spec.allow.text}` is false"

    def build(self, allow: bool, fired: tuple[bool, ...], effects_on: tuple[bool, ...],
              unknown: tuple[str, ...] = (), errors: tuple[FactProblem, ...] = ()) -> Decision:
        spec = self.action.spec
        reasons = [] if allow else [self.allow_reason()]
        reasons += [g.spec.reason for g, on in zip(self.action.guards, fired, strict=True) if on]
        reasons += [f"could not be decided: {text}" for text in unknown]
        effects = []
        conditional = iter(effects_on)
        for effect in self.action.effects:
            if effect.when is None or next(conditional):
                effects.append(Effect(effect.spec.set, effect.spec.operation))
        state: State = "enabled" if allow and not any(fired) and not unknown else "disabled"
        return Decision(spec.id, spec.label, state, tuple(reasons) if state != "enabled" else (), spec.confirm,
                        tuple(effects), errors)

    def from_key(self, key: int) -> Decision:
        """The decision for a table key: bit 0 allow, then one bit per guard, then per conditional effect."""
        guards = len(self.action.guards)
        effects = self.bits - 1 - guards
        return self.build(bool(key & 1), tuple(bool(key >> (1 + i) & 1) for i in range(guards)),
                          tuple(bool(key >> (1 + guards + i) & 1) for i in range(effects)))


def hidden_decision(action: CompiledAction, reason: str | None = None,
                    errors: tuple[FactProblem, ...] = ()) -> Decision:
    spec = action.spec
    text = reason or spec.hidden_reason or f"not shown: `{spec.visible.text}` is false"
    return Decision(spec.id, spec.label, "hidden", (text,), spec.confirm, (), errors)


class Unknown:
    """The value of a condition that could not be evaluated, with the problems that prevented it."""

    __slots__ = ("problems",)

    def __init__(self, problems: tuple[FactProblem, ...]) -> None:
        self.problems = problems

    def __repr__(self) -> str:
        return f"Unknown({'; '.join(map(str, self.problems))})"


@attrs.frozen(slots=True)
class _Step:
    """One condition: a Python function of exactly the names it reads."""

    expr: CompiledExpr
    fn: Callable[..., bool]
    params: tuple[str, ...]


def _problems(*values: Any) -> tuple[FactProblem, ...]:
    return tuple(dict.fromkeys(p for v in values if isinstance(v, Unknown) for p in v.problems))


class Interpreter:
    """Evaluates a compiled policy condition by condition over already-resolved fact values.

    The environment maps ``f<i>`` (fact values, or :class:`Unknown` for bad facts), ``c_<name>`` (named
    conditions), ``a_<id>`` (decisions) and ``id(expr)`` (every condition's value, for tracing).
    """

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.fact_index = {f.name: i for i, f in enumerate(policy.facts)}
        self.shapes = {a.id: ActionShape.of(a) for a in policy.actions}
        self.index = {a.id: i for i, a in enumerate(policy.actions)}
        namespace = namespace_for(policy)
        self._steps = {id(e): self._step(e, namespace) for e in self._exprs()}

    def _exprs(self) -> list[CompiledExpr]:
        return [*self.policy.conditions.values(), *(e for a in self.policy.actions for e in a.exprs())]

    def _step(self, expr: CompiledExpr, namespace: dict[str, Any]) -> _Step:
        params = tuple(sorted({f"f{self.fact_index[f]}" for f in expr.facts} | {f"c_{c}" for c in expr.conditions}
                              | {f"a_{a}" for a in expr.actions}))
        fn = eval(f"lambda {', '.join(params)}: {expr.python}", namespace)  # noqa: S307 - our own translation
        return _Step(expr, fn, params)

    def resolve(self, values: Mapping[str, Any]) -> tuple[dict[Any, Any], tuple[FactProblem, ...]]:
        """An environment from fact name -> raw value (absent = missing), checking every needed fact."""
        env: dict[Any, Any] = {}
        problems: list[FactProblem] = []
        for i in self.policy.needed:
            fact = self.policy.facts[i]
            value, message = check_value(fact, values.get(fact.name, MISSING))
            if message:
                problem = FactProblem(fact.name, message)
                problems.append(problem)
                env[f"f{i}"] = Unknown((problem,))
            else:
                env[f"f{i}"] = value
        return env, tuple(problems)

    def run(self, env: dict[Any, Any]) -> Decisions:
        """Evaluate every condition and action in dependency order into ``env``; return the decisions."""
        policy = self.policy
        for kind, name in policy.order:
            if kind == "condition":
                env[f"c_{name}"] = self.value(policy.conditions[name], env)
            else:
                env[f"a_{name}"] = self._action(self.shapes[name], env)
        return Decisions(tuple(env[f"a_{a.id}"] for a in policy.actions), self.index)

    def value(self, expr: CompiledExpr, env: dict[Any, Any]) -> Any:
        """``expr``'s value (bool, or :class:`Unknown`), recorded in ``env`` under ``id(expr)``."""
        step = self._steps[id(expr)]
        problems: list[FactProblem] = []
        args = []
        for name in step.params:
            arg = env[name]
            if isinstance(arg, Unknown):
                problems += arg.problems
            elif isinstance(arg, Decision) and arg.errors:
                problems += arg.errors  # an action decided under errors is never trusted by another
            args.append(arg)
        result: Any
        if problems:
            result = Unknown(tuple(dict.fromkeys(problems)))
        else:
            try:
                result = bool(step.fn(*args))
            except Exception as exc:  # e.g. a division by zero in a numeric condition: unknown, fail closed
                facts = ", ".join(sorted(expr.facts)) or "(condition)"
                result = Unknown((FactProblem(facts, f"`{expr.text}` ({expr.where}) failed: {exc!r}"),))
        env[id(expr)] = result
        return result

    def _action(self, shape: ActionShape, env: dict[Any, Any]) -> Decision:
        action = shape.action
        visible = self.value(action.visible, env)
        if isinstance(visible, Unknown):
            reason = "could not be decided: " + "; ".join(map(str, visible.problems))
            return hidden_decision(action, reason, visible.problems)
        if not visible:
            return shape.hidden
        allow = self.value(action.allow, env)
        fired = [self.value(g.when, env) for g in action.guards]
        effects_on = [self.value(e.when, env) for e in action.effects if e.when is not None]
        errors = _problems(allow, *fired, *effects_on)
        if not errors:
            return shape.build(allow, tuple(fired), tuple(effects_on))
        # Fail closed: an unknown allow counts as false and an unknown guard as fired; an effect is listed only
        # when it is known to apply (the action is disabled anyway, so the list is informative only).
        return shape.build(allow is True, tuple(f is True for f in fired), tuple(e is True for e in effects_on),
                           tuple(str(p) for p in errors), errors)

    def evaluate(self, values: Mapping[str, Any]) -> tuple[Decisions, dict[Any, Any]]:
        """Decide from fact name -> value (a flat mapping, no adapter); also return the full environment."""
        env, _ = self.resolve(values)
        return self.run(env), env
