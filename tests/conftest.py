"""Shared fixtures and helpers of the semantic test suite.

The helpers here work on any compiled policy:

* :func:`fact_space` enumerates the finite fact space of a policy (every combination of enum values and booleans
  of the facts it needs);
* :func:`build_inputs` turns ``{fact name: value}`` into the nested ``order``/``user`` dicts a host app passes,
  following each fact's ``source`` path (``store.manual_fulfillment`` is ``order["store"]["manual_fulfillment"]``);
* :func:`oracle` evaluates every condition of the policy with rule-engine itself (``expr.rule.evaluate``) and
  recomposes each action's decision from those values, independently of the generated evaluator.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

import policyengine
from policyengine import Decision, Effect
from policyengine.runtime.interpret import namespace_for

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

DEFAULT_ACTIONS = ("reprocess", "edit", "reset", "archive", "delete", "force_delete", "schedule_process",
                   "revalidate")
STATUSES = ("New", "Pending", "Queued", "Bundled", "Routed", "Open", "Partially Shipped", "Shipped", "Error",
            "Skipped", "Closed", "Abandoned", "Archived")
ROLES = ("admin", "member", "viewer")


# -- fixtures ------------------------------------------------------------------------------------------------------


BASE_FILE = POLICIES / "order-actions.yaml"
BASE_STORE = "no-override-store"
"""A store id with no store override: its orders are decided by the base policy."""


@pytest.fixture(scope="session")
def engine() -> policyengine.Engine:
    """The engine of the shipped policies, store overrides included (loaded once: engines are immutable)."""
    loaded = policyengine.load(POLICIES)
    assert BASE_STORE not in store_ids(loaded)
    return loaded


@pytest.fixture(scope="session")
def base_engine() -> policyengine.Engine:
    """The shipped base policy alone (no store overrides)."""
    return policyengine.load(BASE_FILE)


@pytest.fixture(scope="session")
def policy(engine: policyengine.Engine) -> Any:
    return engine.policy


def store_ids(engine: policyengine.Engine) -> tuple[str, ...]:
    """The stores that have an override (none for engines without store overrides)."""
    return tuple(getattr(engine, "stores", ()))


def store_policy(engine: policyengine.Engine, store: str | None) -> Any:
    """The compiled policy deciding orders of ``store`` (the base policy for None or a store without override)."""
    if store is None or not hasattr(engine, "store_policy"):
        return engine.policy
    return engine.store_policy(store)


def make_order(status: str = "Error", *, has_shipment: bool = False, sent_to_warehouse: bool = False,
               manual_fulfillment: bool = True, store_id: str = BASE_STORE) -> dict[str, Any]:
    """An order as a plain dict, in the shape the spec documents."""
    return {"status": status, "has_shipment": has_shipment, "sent_to_warehouse": sent_to_warehouse,
            "store": {"id": store_id, "manual_fulfillment": manual_fulfillment}}


# -- the fact space --------------------------------------------------------------------------------------------------


def needed_facts(policy: Any) -> tuple[Any, ...]:
    """The FactSpecs the compiled policy reads, in declaration order."""
    return tuple(policy.facts[i] for i in policy.needed)


def finite_values(fact: Any) -> tuple[Any, ...] | None:
    if fact.type == "enum":
        return tuple(fact.values)
    if fact.type == "bool":
        return (False, True)
    return None


def fact_space(policy: Any, facts: tuple[Any, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Every combination of the finite (enum/bool) needed facts, as ``{fact name: value}``, in a stable order."""
    facts = tuple(f for f in (facts if facts is not None else needed_facts(policy)) if finite_values(f) is not None)
    for combo in itertools.product(*(finite_values(f) for f in facts)):
        yield {f.name: v for f, v in zip(facts, combo, strict=True)}


def fact_space_size(policy: Any) -> int:
    size = 1
    for fact in needed_facts(policy):
        values = finite_values(fact)
        size *= len(values) if values is not None else 1
    return size


def set_path(root: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = root
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def build_inputs(policy: Any, values: Mapping[str, Any],
                 store: str = BASE_STORE) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``(order, user)`` dicts holding ``values`` (fact name -> value) where each fact's source says; the
    order's ``store.id`` (which selects a store override) is ``store`` when the policy declares that fact."""
    specs = {f.name: f for f in policy.facts}
    roots: dict[str, dict[str, Any]] = {"order": {}, "user": {}}
    if "store.id" in specs and "store.id" not in values:
        values = {**values, "store.id": store}
    for name, value in values.items():
        root, *path = specs[name].source
        set_path(roots[root], tuple(path), value)
    return roots["order"], roots["user"]


def read_path(obj: Any, path: tuple[str, ...]) -> Any:
    """Read a source path the way a user expects the default adapter to (Mappings by key, objects by attribute).

    Raises LookupError when the path does not exist.
    """
    for key in path:
        if isinstance(obj, Mapping):
            if key not in obj:
                raise LookupError(key)
            obj = obj[key]
        else:
            try:
                obj = getattr(obj, key)
            except AttributeError:
                raise LookupError(key) from None
    return obj


# -- the oracle --------------------------------------------------------------------------------------------------


def oracle_value(fact: Any, value: Any) -> Any:
    """A fact value as rule-engine takes it (sets as Python sets)."""
    if fact.type == "set":
        return set(value)
    return value


def compiled_value(expr: Any, policy: Any, facts: Mapping[str, Any], conditions: Mapping[str, bool],
                   decisions: Mapping[str, Decision]) -> bool:
    """Evaluate one condition's compiled Python translation (``expr.python``) over the given values."""
    index = {f.name: i for i, f in enumerate(policy.facts)}
    namespace = namespace_for(policy)  # the constants and helpers translated code refers to
    for name in expr.facts:
        fact = policy.facts[index[name]]
        value = facts[name]
        namespace[f"f{index[name]}"] = frozenset(value) if fact.type == "set" else value
    for name in expr.conditions:
        namespace[f"c_{name}"] = conditions[name]
    for action in expr.actions:
        namespace[f"a_{action}"] = decisions[action]
    return eval(expr.python, namespace)  # noqa: S307 - the compiler's own translation, under test


def _gate_reason(given: str | None, expr: Any) -> Any:
    return given if given is not None else _Mentions(expr.text)


class _Mentions:
    """An expected reason for a gate with no reason text: any text quoting the condition."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.text in other

    def __repr__(self) -> str:
        return f"<a reason mentioning {self.text!r}>"


class OracleResult:
    """What rule-engine says about one combination: each condition's value and each action's recomposed decision."""

    def __init__(self) -> None:
        self.conditions: dict[str, bool] = {}
        self.exprs: list[tuple[str, Any, bool]] = []  # (label, CompiledExpr, rule-engine value)
        self.states: dict[str, str] = {}
        self.reasons: dict[str, list[Any]] = {}
        self.effects: dict[str, tuple[Effect, ...]] = {}


def oracle(policy: Any, facts: Mapping[str, Any]) -> OracleResult:
    """Evaluate the whole policy with rule-engine (``expr.rule``) for ``facts`` (fact name -> valid value).

    Named conditions are evaluated in ``policy.order`` and fed back in as symbols; each action's state is
    recomposed from the oracle values (hidden if visible is false; disabled if allow is false or any guard is
    true; else enabled) and exposed to later conditions as ``actions.<id>.<state>``.
    """
    specs = {f.name: f for f in policy.facts}
    thing: dict[str, Any] = {}
    for name, value in facts.items():
        set_path(thing, tuple(name.split(".")), oracle_value(specs[name], value))
    thing["actions"] = {}
    actions = {a.id: a for a in policy.actions}
    result = OracleResult()

    def run(label: str, expr: Any) -> bool:
        value = expr.rule.evaluate(thing)
        assert isinstance(value, bool), (label, value)
        result.exprs.append((label, expr, value))
        return value

    for kind, name in policy.order:
        if kind == "condition":
            value = run(f"conditions.{name}", policy.conditions[name])
            thing[name] = value
            result.conditions[name] = value
            continue
        action = actions[name]
        spec = action.spec
        visible = run(f"{name}.visible", action.visible)
        allow = run(f"{name}.allow", action.allow)
        fired = [run(f"{name}.deny.{g.spec.id}", g.when) for g in action.guards]
        applies = [effect.when is None or run(f"{name}.effects[{i}].when", effect.when)
                   for i, effect in enumerate(action.effects)]
        if not visible:
            state = "hidden"
            reasons: list[Any] = [_gate_reason(spec.hidden_reason, spec.visible)]
            effects: tuple[Effect, ...] = ()
        else:
            state = "enabled" if allow and not any(fired) else "disabled"
            reasons = []
            if state == "disabled":
                if not allow:
                    reasons.append(_gate_reason(spec.allow_reason, spec.allow))
                reasons += [g.spec.reason for g, on in zip(action.guards, fired, strict=True) if on]
            effects = tuple(Effect(dict(e.spec.set), e.spec.operation) for e, on in zip(action.effects, applies, strict=True) if on)
        result.states[name] = state
        result.reasons[name] = reasons
        result.effects[name] = effects
        thing["actions"][name] = {"visible": state != "hidden", "hidden": state == "hidden",
                                  "enabled": state == "enabled", "disabled": state == "disabled"}
    return result


def assert_matches_oracle(engine: policyengine.Engine, facts: Mapping[str, Any], store: str | None = None) -> None:
    """Check the compiled conditions and ``engine.evaluate`` against rule-engine for one combination of facts (for
    an order of ``store``: its store override's policy; the base policy by default)."""
    policy = store_policy(engine, store)
    expected = oracle(policy, facts)
    order, user = build_inputs(policy, facts, store or BASE_STORE)
    decisions = engine.evaluate(order, user)
    for label, expr, value in expected.exprs:
        got = compiled_value(expr, policy, facts, expected.conditions, decisions)
        assert got is value, f"{label}: `{expr.text}` is {value} for rule-engine, {got} compiled, facts={facts}"
    assert list(decisions) == [a.id for a in policy.actions]
    for action_id, decision in decisions.items():
        context = f"{action_id} for {facts}"
        assert decision.state == expected.states[action_id], context
        assert list(decision.reasons) == expected.reasons[action_id], context
        assert decision.effects == expected.effects[action_id], context
        assert decision.errors == (), context


_ACTION_REF = re.compile(r"\bactions\.([a-z][a-z0-9_]*)\.(visible|hidden|enabled|disabled)\b")


def action_deps(policy: Any, *, follow_actions: bool = True, precise: bool = False) -> dict[str, frozenset[str]]:
    """Every fact each action's decision depends on: what its conditions read, directly, through named conditions
    and (with ``follow_actions``) through ``actions.<id>.<state>``: that action's whole decision, or with
    ``precise`` only what the state read needs (``visible``/``hidden``: that action's visibility only)."""
    actions = {a.id: a for a in policy.actions}
    cache: dict[tuple[str, str], frozenset[str]] = {}

    def of_expr(expr: Any) -> frozenset[str]:
        out = set(expr.facts)
        for name in expr.conditions:
            out |= node("condition", name)
        refs = {(m.group(1), m.group(2)) for m in _ACTION_REF.finditer(expr.text)}
        assert {a for a, _ in refs} == set(expr.actions), expr.text
        for name, state in refs if follow_actions else ():
            out |= node("visibility" if precise and state in ("visible", "hidden") else "action", name)
        return frozenset(out)

    def node(kind: str, name: str) -> frozenset[str]:
        if (kind, name) not in cache:
            if kind == "condition":
                cache[kind, name] = of_expr(policy.conditions[name])
            elif kind == "visibility":
                cache[kind, name] = of_expr(actions[name].visible)
            else:
                cache[kind, name] = frozenset().union(*(of_expr(e) for e in actions[name].exprs()))
        return cache[kind, name]

    return {a.id: node("action", a.id) for a in policy.actions}


# -- a policy exercising the rest of the language (numbers, sets, strings, regexes, action references) -----------

EXTRA_POLICY = r"""
apiVersion: policyengine/v1
kind: ActionPolicy
name: extra
version: 3
facts:
  order.total: {type: number}
  order.items: {type: number}
  order.tags: {type: set}
  order.channel: {type: string}
  order.note: {type: string}
  order.status: {type: enum, values: [New, Open, Closed]}
  order.rush: {type: bool}
  customer.tier: {type: string}
  user.role: {type: enum, values: [admin, member]}
  user.email: {type: string, from: user.profile.email}
  user.unused: {type: number}
conditions:
  big: order.total > 100
  pricey: order.total * 2 - 10 >= 150 or order.total + order.items * 3 < -5
  vip: "'vip' in order.tags"
  many_tags: order.tags.length > 2
  marketplace: order.channel =~ 'amazon|ebay'
  urgent_note: order.note =~~ 'urgent'
  not_test: order.channel !~ 'test'
  staff: user.email =~~ '@example[.]com$'
  gold: customer.tier == 'gold' or 'platinum' in customer.tier
  rush_big: "(order.rush ? order.total > 50 : order.total > 200)"
  open: "order.status in ['New', 'Open']"
  quiet: not order.rush and order.note.length == 0
  ordered: order.channel < order.note
  negative: -order.total > 0
  even: order.total % 2 == 0 or order.items // 3 == -2
  share: order.total / 4 > order.items ** 2 - 0.1
actions:
  ship:
    label: Ship
    visible: {when: open, reason: Closed orders do not ship.}
    allow: {when: "user.role == 'admin' or not big", reason: Only admins ship big orders.}
    deny:
      - id: no-items
        when: order.items <= 0
        reason: Nothing to ship.
      - id: test-channel
        when: not not_test
        reason: Test channels never ship.
    effects:
      - when: rush_big
        operation: ship_express
      - when: not rush_big
        operation: ship_standard
      - set: {order.status: Closed}
  upgrade:
    label: Upgrade
    visible: vip or gold or many_tags
    allow: "actions.ship.enabled and (pricey ? staff : true)"
    deny:
      - id: marketplace
        when: marketplace and not urgent_note
        reason: Marketplace orders are upgraded only when urgent.
  cancel:
    label: Cancel
    allow: {when: actions.ship.disabled or actions.ship.hidden or quiet, reason: Shippable orders ship.}
    deny:
      - id: refund
        when: negative
        reason: A refund is pending.
    confirm: Cancel this order?
    effects:
      - when: actions.upgrade.visible
        set: {order.rush: false, order.total: 0}
        operation: cancel_upgrade
      - operation: cancel
  note:
    label: Note
    allow: ordered or not actions.upgrade.visible
    effects:
      - when: even and not share
        operation: split
"""


@pytest.fixture(scope="session")
def extra_engine(tmp_path_factory: pytest.TempPathFactory) -> policyengine.Engine:
    path = tmp_path_factory.mktemp("extra") / "extra.yaml"
    path.write_text(textwrap.dedent(EXTRA_POLICY))
    return policyengine.load(path)


numbers = st.one_of(
    st.integers(-1_000, 1_000),
    st.integers(-10**6, 10**6),
    st.integers(-4 * 10**6, 4 * 10**6).map(lambda k: k / 4),
    # any float rule-engine can do the arithmetic of (Decimal `%` needs the quotient within 28 digits; see
    # test_properties for what happens beyond)
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
)
words = st.one_of(
    st.sampled_from(["", "amazon", "amazon-eu", "ebay", "shopify", "test", "test-shop", "my test", "urgent",
                     "not urgent!", "gold", "platinum", "platinum-plus", "x@example.com", "x@example.com\n",
                     "x@example.org", "Ä", "vip"]),
    st.text(max_size=12),
)
tags = st.one_of(
    st.lists(st.sampled_from(["vip", "rush", "gift", "b2b", "VIP", ""]), max_size=5),
    st.frozensets(st.text(max_size=4), max_size=4),
)


@st.composite
def extra_facts(draw: Any) -> dict[str, Any]:
    return {
        "order.total": draw(numbers),
        "order.items": draw(numbers),
        "order.tags": draw(tags),
        "order.channel": draw(words),
        "order.note": draw(words),
        "order.status": draw(st.sampled_from(["New", "Open", "Closed"])),
        "order.rush": draw(st.booleans()),
        "customer.tier": draw(words),
        "user.role": draw(st.sampled_from(["admin", "member"])),
        "user.email": draw(words),
    }
