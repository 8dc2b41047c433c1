"""Part of stage 3, compile: generate the plain-Python evaluator of a compiled policy.

Two evaluators come out of one compiled policy, built once per engine:

* the **fast path**, one generated Python function that reads every needed fact through the adapter's getters,
  checks each value's type inline, computes every named condition once and picks each action's Decision from a
  table precomputed here (decisions for identical outcomes are shared immutable objects);
* the **fail-closed path**, taken only when some fact is bad: it evaluates each condition separately, treats a
  condition that reads a bad fact as unknown, and never lets an unknown condition enable or show an action.

Both use the same Python translation of each condition and the same decision builder, and the test suite checks
them against each other and against rule-engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .adapters import Adapter
from .compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .decision import Decision, Decisions, Effect, State
from .errors import FactProblem
from .model import FactSpec

__all__ = ["MAX_TABLE_BITS", "Evaluator", "build_evaluator"]

MAX_TABLE_BITS = 10
"""An action with more than this many allow/guard/effect bits builds its Decision per call instead of from a table."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


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
    elif kind == "set":
        if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
            return frozenset(str.__str__(v) for v in value), None
    return value, f"expected {_type_word(kind)}, got {type(value).__name__} {value!r:.60}"


def _type_word(kind: str) -> str:
    return {"bool": "true/false", "enum": "a string", "string": "a string", "number": "a number",
            "set": "a list of strings"}[kind]


def _fast_check(fact: FactSpec, var: str, i: int) -> str:
    """A Python test that ``var`` is valid as-is (strict: anything unusual takes the complete slow check)."""
    if fact.type == "bool":
        return f"({var} is True or {var} is False)"
    if fact.type == "enum":
        return f"({var}.__class__ is str and {var} in V{i})"
    if fact.type == "string":
        return f"{var}.__class__ is str"
    if fact.type == "number":
        return f"({var}.__class__ is int or ({var}.__class__ is float and {var} - {var} == 0))"
    return f"{var}.__class__ is frozenset"


# -- decisions ---------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class _ActionShape:
    """What varies in one action's decision: allow, which guards fired, which conditional effects apply."""

    action: CompiledAction
    hidden: Decision

    @property
    def bits(self) -> int:
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
        guards = len(self.action.guards)
        effects = self.bits - 1 - guards
        return self.build(bool(key & 1), tuple(bool(key >> (1 + i) & 1) for i in range(guards)),
                          tuple(bool(key >> (1 + guards + i) & 1) for i in range(effects)))


def _hidden(action: CompiledAction, reason: str | None = None, errors: tuple[FactProblem, ...] = ()) -> Decision:
    spec = action.spec
    text = reason or spec.hidden_reason or f"not shown: `{spec.visible.text}` is false"
    return Decision(spec.id, spec.label, "hidden", (text,), spec.confirm, (), errors)


# -- the fast path -----------------------------------------------------------------------------------------------


def _generate(policy: CompiledPolicy, shapes: Mapping[str, _ActionShape]) -> str:
    needed = policy.needed
    lines = ["def evaluate(order, user):", "    bad = None"]
    for i in needed:
        var = f"f{i}"
        lines += [
            "    try:",
            f"        {var} = G{i}(order, user)",
            "    except Exception as exc:",
            f"        {var} = MISSING",
            f"        bad = failed(bad, {i}, exc)",
            "    else:",
            f"        if not {_fast_check(policy.facts[i], var, i)}:",
            f"            bad = suspect(bad, {i})",
        ] if policy.facts[i].type != "set" else [
            "    try:",
            f"        {var} = G{i}(order, user)",
            "    except Exception as exc:",
            f"        {var} = MISSING",
            f"        bad = failed(bad, {i}, exc)",
            "    else:",
            f"        s{i} = to_set({var})",
            f"        if s{i} is None:",
            f"            bad = suspect(bad, {i})",
            "        else:",
            f"            {var} = s{i}",
        ]
    values = "(" + "".join(f"f{i}, " for i in needed) + ")"
    lines += ["    if bad is not None:", f"        return slow({values}, bad)"]
    for kind, name in policy.order:
        if kind == "condition":
            lines.append(f"    c_{name} = {policy.conditions[name].python}")
            continue
        shape = shapes[name]
        action = shape.action
        key = [f"({action.allow.python})"]
        key += [f"({g.when.python}) << {1 + i}" for i, g in enumerate(action.guards)]
        offset = 1 + len(action.guards)
        conditional = [e.when for e in action.effects if e.when is not None]
        key += [f"({when.python}) << {offset + i}" for i, when in enumerate(conditional)]
        pick = f"T_{name}[{' | '.join(key)}]" if shape.bits <= MAX_TABLE_BITS else f"B_{name}({' | '.join(key)})"
        lines += [f"    if {action.visible.python}:", f"        a_{name} = {pick}", "    else:",
                  f"        a_{name} = H_{name}"]
    lines.append(f"    return DECISIONS(({''.join(f'a_{a.id}, ' for a in policy.actions)}), INDEX)")
    return "\n".join(lines) + "\n"


def _to_set(value: Any) -> frozenset[str] | None:
    if value.__class__ is frozenset or isinstance(value, (list, tuple, set, frozenset)):
        if all(v.__class__ is str for v in value):
            return frozenset(value)
    return None


# -- the fail-closed path --------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class _Step:
    """One condition of the interpreter: a Python function of exactly the names it reads."""

    expr: CompiledExpr
    fn: Callable[..., bool]
    params: tuple[str, ...]


def _step(expr: CompiledExpr, namespace: dict[str, Any], fact_index: Mapping[str, int]) -> _Step:
    params = tuple(sorted({f"f{fact_index[f]}" for f in expr.facts} | {f"c_{c}" for c in expr.conditions}
                          | {f"a_{a}" for a in expr.actions}))
    fn = eval(f"lambda {', '.join(params)}: {expr.python}", namespace)
    return _Step(expr, fn, params)


class _Unknown:
    """The value of a condition that could not be evaluated, with the problems that prevented it."""

    __slots__ = ("problems",)

    def __init__(self, problems: tuple[FactProblem, ...]) -> None:
        self.problems = problems


def _run(step: _Step, env: dict[str, Any]) -> Any:
    problems: list[FactProblem] = []
    args = []
    for name in step.params:
        value = env[name]
        if isinstance(value, _Unknown):
            problems += value.problems
        elif isinstance(value, Decision) and value.errors:
            problems += value.errors
        args.append(value)
    if problems:
        return _Unknown(tuple(dict.fromkeys(problems)))
    try:
        return bool(step.fn(*args))
    except Exception as exc:  # e.g. a division by zero in a numeric condition
        facts = ", ".join(sorted(step.expr.facts)) or "(condition)"
        return _Unknown((FactProblem(facts, f"`{step.expr.text}` ({step.expr.where}) failed: {exc!r}"),))


def _problems(*values: Any) -> tuple[FactProblem, ...]:
    return tuple(dict.fromkeys(p for v in values if isinstance(v, _Unknown) for p in v.problems))


def _interpret_action(shape: _ActionShape, steps: Mapping[int, _Step], env: dict[str, Any]) -> Decision:
    action = shape.action
    visible = _run(steps[id(action.visible)], env)
    if isinstance(visible, _Unknown):
        return _hidden(action, "could not be decided: " + "; ".join(map(str, visible.problems)), visible.problems)
    if not visible:
        return shape.hidden
    allow = _run(steps[id(action.allow)], env)
    fired = [_run(steps[id(g.when)], env) for g in action.guards]
    effects_on = [_run(steps[id(e.when)], env) for e in action.effects if e.when is not None]
    errors = _problems(allow, *fired, *effects_on)
    if not errors:
        return shape.build(allow, tuple(fired), tuple(effects_on))
    # Fail closed: an unknown allow counts as false and an unknown guard as fired; an effect is listed only when
    # it is known to apply (the action is disabled anyway, so the list is informative only).
    return shape.build(allow is True, tuple(f is True for f in fired), tuple(e is True for e in effects_on),
                       tuple(str(p) for p in errors), errors)


# -- the evaluator -------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Evaluator:
    """The generated evaluator of one policy bound to one adapter: ``evaluator(order, user) -> Decisions``."""

    fast: Callable[[Any, Any], Decisions | tuple[Decisions, tuple[FactProblem, ...]]]
    source: str = attrs.field(repr=False)
    """The generated Python source of the fast path (for the curious and for ``explain``)."""


def build_evaluator(policy: CompiledPolicy, adapter: Adapter) -> Evaluator:
    """Build both evaluation paths of ``policy`` reading facts through ``adapter``."""
    facts = policy.facts
    fact_index = {f.name: i for i, f in enumerate(facts)}
    shapes = {a.id: _ActionShape(a, _hidden(a)) for a in policy.actions}
    namespace: dict[str, Any] = dict(policy.constants)
    namespace["__builtins__"] = {"len": len, "str": str, "int": int, "float": float, "frozenset": frozenset,
                                "Exception": Exception}
    steps = {}
    for expr in [*policy.conditions.values(), *(e for a in policy.actions for e in a.exprs())]:
        steps[id(expr)] = _step(expr, namespace, fact_index)
    index = {a.id: i for i, a in enumerate(policy.actions)}

    def failed(bad: dict[int, str] | None, i: int, exc: Exception) -> dict[int, str]:
        bad = bad or {}
        if isinstance(exc, (KeyError, AttributeError, LookupError)):
            bad[i] = "missing"
        else:
            bad[i] = f"the adapter failed: {type(exc).__name__}: {exc}"
        return bad

    def suspect(bad: dict[int, str] | None, i: int) -> dict[int, str]:
        bad = bad or {}
        bad.setdefault(i, "")  # "" = re-check with the complete checker
        return bad

    def slow(values: tuple[Any, ...], bad: dict[int, str]) -> tuple[Decisions, tuple[FactProblem, ...]]:
        env: dict[str, Any] = {}
        problems: list[FactProblem] = []
        for i, raw in zip(policy.needed, values, strict=True):
            message = bad.get(i)
            value = raw
            if message is None or message == "":
                value, message = check_value(facts[i], raw)
            if message:
                problem = FactProblem(facts[i].name, message)
                problems.append(problem)
                env[f"f{i}"] = _Unknown((problem,))
            else:
                env[f"f{i}"] = value
        for kind, name in policy.order:
            if kind == "condition":
                env[f"c_{name}"] = _run(steps[id(policy.conditions[name])], env)
            else:
                env[f"a_{name}"] = _interpret_action(shapes[name], steps, env)
        return Decisions(tuple(env[f"a_{a.id}"] for a in policy.actions), index), tuple(problems)

    for name, shape in shapes.items():
        if shape.bits <= MAX_TABLE_BITS:
            namespace[f"T_{name}"] = tuple(shape.from_key(k) for k in range(1 << shape.bits))
        else:
            namespace[f"B_{name}"] = shape.from_key
        namespace[f"H_{name}"] = shape.hidden
    for i in policy.needed:
        namespace[f"G{i}"] = adapter.getter(facts[i])
        namespace[f"V{i}"] = frozenset(facts[i].values)
    namespace.update(MISSING=MISSING, failed=failed, suspect=suspect, slow=slow, to_set=_to_set,
                     DECISIONS=Decisions, INDEX=index)
    source = _generate(policy, shapes)
    code = compile(source, f"<policyengine:{policy.name}@{policy.version}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is generated from the compiled policy only
    return Evaluator(namespace["evaluate"], source)
