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

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .adapters import Adapter
from .compiler import CompiledPolicy
from .decision import Decisions, DecisionsMeta
from .errors import FactProblem
from .interpret import MISSING, ActionShape, Interpreter, Unknown, check_value, namespace_for
from .model import FactSpec

__all__ = ["Evaluator", "build_evaluator", "MAX_TABLE_BITS"]

MAX_TABLE_BITS = 10
"""An action with more than this many allow/guard/effect bits builds its Decision per call instead of from a table."""


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


# -- the fast path -----------------------------------------------------------------------------------------------


def _generate(policy: CompiledPolicy, shapes: Mapping[str, ActionShape]) -> str:
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
    lines += ["    if bad is not None:", f"        return slow({values}, bad)", "    try:"]
    body: list[str] = []
    for kind, name in policy.order:
        if kind == "condition":
            body.append(f"    c_{name} = {policy.conditions[name].python}")
            continue
        shape = shapes[name]
        action = shape.action
        key = [f"({action.allow.python})"]
        key += [f"({g.when.python}) << {1 + i}" for i, g in enumerate(action.guards)]
        offset = 1 + len(action.guards)
        conditional = [e.when for e in action.effects if e.when is not None]
        key += [f"({when.python}) << {offset + i}" for i, when in enumerate(conditional)]
        pick = f"T_{name}[{' | '.join(key)}]" if shape.bits <= MAX_TABLE_BITS else f"B_{name}({' | '.join(key)})"
        body += [f"    if {action.visible.python}:", f"        a_{name} = {pick}", "    else:",
                 f"        a_{name} = H_{name}"]
    lines += ["    " + line for line in body]
    # A condition that raises (a division by zero, say) is re-run by the fail-closed path, which knows which
    # conditions it makes unknown.
    lines += ["    except Exception:", f"        return slow({values}, {{}})"]
    lines.append(f"    return DECISIONS(({''.join(f'a_{a.id}, ' for a in policy.actions)}), META)")
    return "\n".join(lines) + "\n"


def _to_set(value: Any) -> frozenset[str] | None:
    if value.__class__ is frozenset or isinstance(value, (list, tuple, set, frozenset)):
        if all(v.__class__ is str for v in value):
            return frozenset(value)
    return None


# -- the fail-closed path --------------------------------------------------------------------------------------


# -- the evaluator -------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Evaluator:
    """The generated evaluator of one policy bound to one adapter: ``evaluator(order, user) -> Decisions``."""

    fast: Callable[[Any, Any], Decisions | tuple[Decisions, tuple[FactProblem, ...]]]
    source: str = attrs.field(repr=False)
    """The generated Python source of the fast path (for the curious and for ``explain``)."""


def build_evaluator(policy: CompiledPolicy, adapter: Adapter, meta: DecisionsMeta | None = None) -> Evaluator:
    """Build both evaluation paths of ``policy`` reading facts through ``adapter``."""
    facts = policy.facts
    interpreter = Interpreter(policy, meta)
    shapes = interpreter.shapes
    namespace = namespace_for(policy)

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
        env: dict[Any, Any] = {}
        problems: list[FactProblem] = []
        for i, raw in zip(policy.needed, values, strict=True):
            message = bad.get(i)
            value = raw
            if not message:
                value, message = check_value(facts[i], raw)
            if message:
                problem = FactProblem(facts[i].name, message)
                problems.append(problem)
                env[f"f{i}"] = Unknown((problem,))
            else:
                env[f"f{i}"] = value
        decisions = interpreter.run(env)
        return decisions, tuple(dict.fromkeys([*problems, *decisions.errors]))

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
                     DECISIONS=Decisions, META=interpreter.meta)
    source = _generate(policy, shapes)
    code = compile(source, f"<policyengine:{policy.name}@{policy.version}>", "exec")
    exec(code, namespace)  # noqa: S102 - the source is generated from the compiled policy only
    return Evaluator(namespace["evaluate"], source)
