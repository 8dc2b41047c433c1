"""The differential harness of test_exact.py and test_fuzz.py: one policy, every evaluation path, rule-engine as oracle.

:func:`all_paths` decides one order on every path a host can take (``evaluate`` on the specialised engine and with
``table_limit=0``, attribute objects instead of dicts, an adapter that marks every fact expensive, ``strict``,
``evaluate_many`` and ``bulk``) and checks they agree with each other. :func:`oracle_states` decides it with
rule-engine: every atom of a condition (a comparison, arithmetic, ``in``, ``=~``) is evaluated by rule-engine itself
(``node.evaluate`` under the rule's own decimal context), and the boolean skeleton (``and``, ``or``, ``not``,
``?:``) is three-valued, which is the engine's documented error semantics; when no atom is unknown the whole
condition is also checked with ``Rule.evaluate``.
"""

from __future__ import annotations

import decimal
import tempfile
import textwrap
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rule_engine
from rule_engine import ast

import policyengine
from policyengine import FactError
from policyengine.ir.regexes import MAX_MATCHED_LENGTH

UNKNOWN = "unknown"
"""A three-valued oracle value: could not be evaluated."""

MISSING = object()
"""A fact left out of the inputs."""


class Expensive(policyengine.DefaultAdapter):
    """The default adapter with every fact expensive: the lazy path, operands reordered."""

    def expensive(self, fact: Any) -> bool:
        return True


def load_text(text: str, **kwargs: Any) -> policyengine.Engine:
    return engines(text, {"engine": kwargs})["engine"]


PATHS: dict[str, dict[str, Any]] = {"evaluate": {}, "table_limit=0": {"table_limit": 0},
                                    "expensive": {"adapter": Expensive()}}
"""The engines of every path: specialised (tables on), tables off, lazy (every fact expensive)."""


def engines(text: str, paths: Mapping[str, dict[str, Any]] = PATHS) -> dict[str, policyengine.Engine]:
    """``text`` (a policy file) loaded once per path, from one file (so locations in decisions are equal)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.yaml"
        path.write_text(textwrap.dedent(text))
        return {name: policyengine.load(path, **kwargs) for name, kwargs in paths.items()}


def inputs(policy: Any, values: Mapping[str, Any], objects: bool = False) -> tuple[Any, Any]:
    """``(order, user)`` holding ``values`` (fact name -> value; :data:`MISSING` leaves a fact out): nested dicts,
    or (``objects``) nested attribute objects, which the default adapter reads by attribute."""
    roots: dict[str, dict[str, Any]] = {"order": {}, "user": {}}
    specs = {f.name: f for f in policy.facts}
    containers: list[dict[str, Any]] = list(roots.values())
    for name, value in values.items():
        if value is MISSING:
            continue
        root, *path = specs[name].source
        node = roots[root]
        for key in path[:-1]:
            if key not in node:
                containers.append(node.setdefault(key, {}))
            node = node[key]
        node[path[-1]] = value
    if objects:
        def to_object(node: dict[str, Any]) -> Any:
            return types.SimpleNamespace(**{k: to_object(v) if any(v is c for c in containers) else v
                                            for k, v in node.items()})
        return to_object(roots["order"]), to_object(roots["user"])
    return roots["order"], roots["user"]


def outcome(decisions: Any) -> dict[str, tuple[str, bool]]:
    """Each action's state and whether it was decided under errors."""
    return {action: (d.state, bool(d.errors)) for action, d in decisions.items()}


def all_paths(engs: Mapping[str, policyengine.Engine], values: Mapping[str, Any]) -> tuple[Any, set[Any]]:
    """Decide ``values`` on every path; assert they all agree; return the Decisions and what ``strict`` raised."""
    main = engs["evaluate"]
    order, user = inputs(main.policy, values)
    objects = inputs(main.policy, values, objects=True)
    first = main.evaluate(order, user)
    context = f"facts={dict(values)!r}"
    raised: dict[str, set[Any]] = {}
    for name, eng in engs.items():
        assert eng.evaluate(order, user) == first, f"{name} differs: {context}"
        assert eng.evaluate(*objects) == first, f"{name} on objects differs: {context}"
        many = eng.evaluate_many([(order, user), (order, user)])
        assert many == [first, first], f"{name} evaluate_many differs: {context}"
        problems: tuple[Any, ...] = ()
        try:
            strict = eng.evaluate(order, user, strict=True)
        except FactError as err:
            problems = err.problems
        else:
            assert strict == first, f"{name} strict differs: {context}"
        assert set(first.errors) <= set(problems) if problems else not first.errors, f"{name} strict: {context}"
        try:
            strict_many = eng.evaluate_many([(order, user)], strict=True)
        except FactError as err:
            assert set(err.problems) == set(problems), f"{name} strict evaluate_many differs: {context}"
        else:
            assert not problems and strict_many == [first], f"{name} strict evaluate_many differs: {context}"
        for action, decision in first.items():
            bulk = eng.bulk(action, [order], user)
            assert (bulk.applicable == (0,)) == decision.enabled, f"{name} bulk {action} differs: {context}"
        raised[name] = set(problems)
    assert len({frozenset(p) for p in raised.values()}) == 1, f"strict differs between paths: {raised} {context}"
    return first, raised["evaluate"]


# -- the oracle ----------------------------------------------------------------------------------------------------

def _dotted(node: Any) -> str | None:
    names = []
    while isinstance(node, ast.GetAttributeExpression):
        names.append(node.name)
        node = node.object
    if isinstance(node, ast.SymbolExpression):
        names.append(node.name)
        return ".".join(reversed(names))
    return None


def _children(node: Any) -> list[Any]:
    out = [getattr(node, k) for k in ("left", "right", "member", "container", "condition", "case_true", "case_false",
                                      "object") if isinstance(getattr(node, k, None), ast.ExpressionBase)]
    if isinstance(node, (ast.ArrayExpression, ast.SetExpression)):
        out += list(node.value)
    return out


class _Oracle:
    def __init__(self, policy: Any, values: Mapping[str, Any], bad: set[str]) -> None:
        self.policy = policy
        self.bad = bad
        self.thing: dict[str, Any] = {"actions": {}}
        for name, value in values.items():
            if name in bad:
                continue
            node = self.thing
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = set(value) if isinstance(value, (list, tuple, set, frozenset)) else value
        self.unknown: set[str] = set()  # named conditions and action states that are unknown
        self.values: dict[str, Any] = values  # type: ignore[assignment]

    def value(self, expr: Any) -> Any:
        with decimal.localcontext(self.policy.context.decimal_context):
            result = self.kleene(expr.rule.statement.expression)
            if result is not UNKNOWN:  # nothing unknown on the way: rule-engine's whole-rule answer must agree
                try:
                    whole = expr.rule.evaluate(self.thing)
                except rule_engine.errors.EngineError:
                    whole = UNKNOWN  # an error in an operand the three-valued skeleton overruled
                assert whole in (result, UNKNOWN), (expr.text, whole, result)
        return result

    def kleene(self, node: Any) -> Any:
        if isinstance(node, ast.LogicExpression):
            parts = [self.kleene(node.left), self.kleene(node.right)]
            decides = node.type == "or"
            if decides in parts:
                return decides
            return UNKNOWN if UNKNOWN in parts else not decides
        if isinstance(node, ast.UnaryExpression) and node.type == "not":
            inner = self.kleene(node.right)
            return inner if inner is UNKNOWN else not inner
        if isinstance(node, ast.TernaryExpression) and rule_engine.DataType.is_type(node.result_type,
                                                                                   rule_engine.DataType.BOOLEAN):
            test = self.kleene(node.condition)
            return test if test is UNKNOWN else self.kleene(node.case_true if test else node.case_false)
        if isinstance(node, ast.BooleanExpression):
            return node.value
        return self.atom(node)

    def atom(self, node: Any) -> Any:
        todo, matches = [node], []
        while todo:
            current = todo.pop()
            name = _dotted(current)
            if name is not None:
                if name in self.unknown or any(name == b or name.startswith(b + ".") for b in self.bad):
                    return UNKNOWN
                if name.startswith("actions."):
                    _, action, state = name.split(".")
                    if (action, state) in self.unknown:
                        return UNKNOWN
                continue
            if isinstance(current, ast.FuzzyComparisonExpression):
                matches.append(current)
            todo += _children(current)
        for match in matches:  # the engine's work bound on regexes (a documented difference)
            subject = match.left.evaluate(self.thing)
            if isinstance(subject, str) and len(subject) > MAX_MATCHED_LENGTH:
                return UNKNOWN
        try:
            result = node.evaluate(self.thing)
        except rule_engine.errors.EngineError:
            return UNKNOWN
        assert isinstance(result, bool), (node, result)
        return result


def oracle_states(policy: Any, values: Mapping[str, Any], bad: set[str]) -> dict[str, tuple[str, bool]]:
    """rule-engine's decision of every action (state, decided under errors), ``bad`` naming the invalid facts."""
    oracle = _Oracle(policy, values, bad)
    actions = {a.id: a for a in policy.actions}
    out: dict[str, tuple[str, bool]] = {}
    for kind, name in policy.order:
        if kind == "condition":
            value = oracle.value(policy.conditions[name])
            if value is UNKNOWN:
                oracle.unknown.add(name)
            else:
                oracle.thing[name] = value
            continue
        action = actions[name]
        visible = oracle.value(action.visible)
        if visible is not True:
            state, errors = "hidden", visible is UNKNOWN
        else:
            allow = oracle.value(action.allow)
            fired = [oracle.value(g.when) for g in action.guards]
            effects = [oracle.value(e.when) for e in action.effects if e.when is not None]
            errors = UNKNOWN in (allow, *fired, *effects)
            state = "enabled" if allow is True and not any(f is not False for f in fired) and not errors \
                else "disabled"
        out[name] = (state, errors)
        states = {"visible": state != "hidden", "hidden": state == "hidden", "enabled": state == "enabled",
                  "disabled": state == "disabled"}
        oracle.thing["actions"][name] = states
        if errors:  # a state decided under errors is unknown to other actions (its visibility too when hidden)
            oracle.unknown |= {(name, "enabled"), (name, "disabled")}
            if state == "hidden":
                oracle.unknown |= {(name, "visible"), (name, "hidden")}
    return out


def bad_facts(policy: Any, values: Mapping[str, Any]) -> set[str]:
    """The facts of ``values`` the engine must treat as bad (the checks of the README's fact types)."""
    out = set()
    for fact in policy.facts:
        if fact.name not in values:
            continue
        value = values[fact.name]
        ok = {"bool": lambda v: isinstance(v, bool),
              "enum": lambda v, fact=fact: isinstance(v, str) and v in fact.values,
              "string": lambda v: isinstance(v, str),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v - v == 0,
              "set": lambda v: isinstance(v, (list, tuple, set, frozenset)) and all(isinstance(x, str) for x in v),
              }[fact.type]
        if value is MISSING or value is None or not ok(value):
            out.add(fact.name)
    return out


def check(engs: Mapping[str, policyengine.Engine], values: Mapping[str, Any]) -> Any:
    """Every path agrees with every other and with the oracle, for ``values``; returns the Decisions."""
    decisions, problems = all_paths(engs, values)
    policy = engs["evaluate"].policy
    bad = bad_facts(policy, values)
    expected = oracle_states(policy, values, bad)
    assert outcome(decisions) == expected, f"facts={dict(values)!r}"
    needed = {policy.facts[i].name for i in policy.needed}
    # strict raises for every bad fact the policy reads, and for every problem a decision was made under
    assert {p.fact for p in problems} >= bad & needed and bool(problems) == bool(bad & needed or decisions.errors)
    return decisions
