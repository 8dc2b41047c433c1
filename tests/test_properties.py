"""Properties of evaluate over random inputs, valid and invalid.

* ``evaluate`` never raises without ``strict`` (wrong types, None, missing keys, undeclared strings, nested junk);
* no action is enabled when one of its own conditions (or a named condition they use) reads an invalid fact; an
  action depending on a bad fact (also through another action: reading any state of an action reads its whole
  decision) records the problem and is not enabled, or else its decision is the same for every valid value of the
  bad facts;
* unaffected actions are decided exactly as with good facts;
* ``strict=True`` raises :class:`policyengine.FactError` listing exactly the invalid facts;
* for valid inputs, the fail-closed path (forced by values the fast path does not take as-is: ``str`` and ``int``
  subclasses, StrEnum members, tuples for sets) decides exactly like the fast path.

Validity is decided here independently of the engine: a fact is valid when its source path exists (Mappings by
key, other objects by attribute) and holds a value of the declared type.
"""

from __future__ import annotations

import enum
import itertools
import math
import random
import types
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
import rule_engine
from conftest import (
    BASE_STORE,
    POLICIES,
    STATUSES,
    action_deps,
    build_inputs,
    extra_facts,
    fact_space,
    needed_facts,
    read_path,
    store_ids,
    store_policy,
)
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import policyengine
from policyengine import FactError

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Tagged(str):
    """A str subclass: a valid enum/string value the generated fast path does not take as-is."""


class Count(int):
    """An int subclass: a valid number the fast path does not take as-is."""


class Shade(enum.StrEnum):
    RED = "red"
    NEW = "New"
    ADMIN = "admin"


_MISSING = object()

# -- what is valid -----------------------------------------------------------------------------------------------


def _enum_value(value: Any) -> Any:
    """A plain Enum member's value (a str/int/float Enum is that type already); ``value`` itself otherwise."""
    if isinstance(value, enum.Enum) and not isinstance(value, (str, int, float)):
        return value._value_
    return value


def _exact_number(value: Decimal) -> int | float | None:
    """The int or float equal to a finite Decimal as rule-engine reads it, or None (issue 14: exact or refused)."""
    if not value.is_finite() or value.adjusted() > 4300:
        return None
    if value == value.to_integral_value():
        return int(value)
    nearest = float(value)
    return nearest if math.isfinite(nearest) and Decimal(repr(nearest)) == value else None


def is_valid(fact: Any, value: Any) -> bool:
    kind = fact.type
    if kind != "bool" and isinstance(value, enum.Enum) and not isinstance(value, (str, int, float)):
        inner = _enum_value(value)
        return not isinstance(inner, (bool, enum.Enum)) and is_valid(fact, inner)
    if kind == "bool":
        return value is True or value is False
    if kind == "enum":
        return isinstance(value, str) and str.__str__(value) in fact.values
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        if isinstance(value, Decimal):
            return _exact_number(value) is not None
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "set":
        return isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(_enum_value(v), str) for v in value)
    raise AssertionError(kind)


def plain(fact: Any, value: Any) -> Any:
    """A valid value in the plainest form (what the fast path takes as-is)."""
    value = _enum_value(value)
    if isinstance(value, Decimal):
        return _exact_number(value)
    if fact.type in ("enum", "string"):
        return str.__str__(value)
    if fact.type == "number":
        return value if value.__class__ in (int, float) else (int(value) if isinstance(value, int) else float(value))
    if fact.type == "set":
        return [str.__str__(_enum_value(v)) for v in value]
    return value


def read_facts(policy: Any, order: Any, user: Any) -> tuple[dict[str, Any], set[str]]:
    """The valid facts (plain values) and the names of the invalid ones, among the facts the policy needs."""
    good: dict[str, Any] = {}
    bad: set[str] = set()
    for fact in needed_facts(policy):
        root, *path = fact.source
        try:
            value = read_path(order if root == "order" else user, tuple(path))
        except Exception:  # missing, or the object fails when read
            bad.add(fact.name)
            continue
        if is_valid(fact, value):
            good[fact.name] = plain(fact, value)
        else:
            bad.add(fact.name)
    return good, bad


# -- inputs ----------------------------------------------------------------------------------------------------------

junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6), st.binary(max_size=3),
              st.decimals(allow_nan=True, places=2), st.just(Shade.RED), st.just(object())),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3),
                            st.frozensets(st.text(max_size=3), max_size=2)),
    max_leaves=6,
)


def valid_values(fact: Any) -> st.SearchStrategy[Any]:
    if fact.type == "bool":
        return st.booleans()
    if fact.type == "enum":
        values = st.sampled_from(fact.values)
        return st.one_of(values, values.map(Tagged))
    if fact.type == "string":
        text = st.one_of(st.sampled_from(["", "amazon", "test", "urgent", "gold", "x@example.com"]),
                         st.text(max_size=8))
        return st.one_of(text, text.map(Tagged))
    if fact.type == "number":
        ints = st.integers(-10**6, 10**6)
        return st.one_of(ints, ints.map(Count), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
                         st.decimals(-10**6, 10**6, places=2))  # an ORM's Numeric (issue 14)
    words = st.lists(st.sampled_from(["vip", "rush", "b2b", ""]), max_size=4)
    return st.one_of(words, words.map(tuple), words.map(frozenset), words.map(set),
                     words.map(lambda ws: [Tagged(w) for w in ws]))


def invalid_values(fact: Any) -> st.SearchStrategy[Any]:
    common = [st.none(), junk]
    if fact.type == "bool":
        specific = st.sampled_from([0, 1, "true", "yes", "False", "", [True], {"value": True}, 1.0])
    elif fact.type == "enum":
        values = st.sampled_from(fact.values)
        specific = st.one_of(
            st.text(max_size=10).filter(lambda t: t not in fact.values),
            values.map(str.lower).filter(lambda t: t not in fact.values),
            values.map(lambda v: v + " "),
            values.map(lambda v: [v]),
            values.map(lambda v: {"value": v}),
            st.text(max_size=6).filter(lambda t: t not in fact.values).map(Tagged),
            st.just(Shade.RED),
            st.booleans(),
            st.integers(),
        )
    elif fact.type == "string":
        specific = st.one_of(st.integers(), st.booleans(), st.binary(max_size=4), st.lists(st.text(max_size=3)))
    elif fact.type == "number":
        specific = st.one_of(st.booleans(), st.sampled_from([math.nan, math.inf, -math.inf, "5", "1e3", Decimal("NaN"),
                                                             Decimal("-Infinity"), Decimal("0.1000000000000000000001")]),
                             st.decimals(allow_nan=False, allow_infinity=False, places=2))  # valid: exact
    else:
        specific = st.one_of(st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2),
                             st.lists(st.integers(), min_size=1, max_size=3),
                             st.lists(st.one_of(st.text(max_size=3), st.none()), min_size=1, max_size=3)
                             .filter(lambda xs: None in xs))
    return st.one_of(specific, *common)


class Const:
    """A leaf of the source tree that always holds ``value`` (unless its container is replaced by junk)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def source_tree(policy: Any, store: str | None = None) -> dict[str, Any]:
    """{"order": {...}, "user": {...}} with a FactSpec at each leaf of its source path (and the store id)."""
    tree: dict[str, Any] = {"order": {}, "user": {}}
    leaves = [(f.source, f) for f in needed_facts(policy)]
    if store is not None:
        leaves.append((("order", "store", "id"), Const(store)))
    for (root, *path), leaf in leaves:
        node = tree[root]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = leaf
    return tree


def _container(kind: str, items: dict[str, Any]) -> Any:
    if kind == "mapping":
        return types.MappingProxyType(items)
    if kind == "namespace":
        return types.SimpleNamespace(**items)
    return items


@st.composite
def any_inputs(draw: Any, policy: Any, valid: bool = False, store: str | None = None) -> tuple[Any, Any]:
    """``(order, user)``: nested dicts, Mappings and objects holding valid, invalid and missing facts."""

    def build(node: dict[str, Any]) -> Any:
        if not valid and draw(st.integers(0, 15)) == 0:
            return draw(junk)
        items: dict[str, Any] = {}
        for key, child in node.items():
            if isinstance(child, dict):
                items[key] = build(child)
                continue
            if isinstance(child, Const):
                items[key] = child.value
                continue
            if valid:
                items[key] = draw(valid_values(child))
                continue
            choice = draw(st.sampled_from(["valid", "valid", "invalid", "missing"]))
            if choice == "valid":
                items[key] = draw(valid_values(child))
            elif choice == "invalid":
                items[key] = draw(invalid_values(child))
        if draw(st.booleans()):
            items["noise"] = draw(junk)  # facts nobody reads
        return _container(draw(st.sampled_from(["dict", "dict", "mapping", "namespace"])), items)

    tree = source_tree(policy, store)
    return build(tree["order"]), build(tree["user"])


# -- the checks -------------------------------------------------------------------------------------------------------

SAMPLES = {"number": (0, 1000, -5.5), "string": ("", "amazon", "urgent@example.com"),
           "set": ([], ["vip", "a", "b"])}


def substitutions(policy: Any, good: dict[str, Any], bad: set[str], limit: int = 48,
                  store: str = BASE_STORE) -> list[tuple[Any, Any]]:
    """Plain inputs with the good facts as they are and the bad ones replaced by valid values (all of them for
    finite facts, a few samples for others; at most ``limit`` combinations, chosen at random beyond that)."""
    specs = {f.name: f for f in policy.facts}
    names = sorted(bad)
    choices = [specs[n].values if specs[n].type == "enum" else (False, True) if specs[n].type == "bool"
               else SAMPLES[specs[n].type] for n in names]
    if math.prod(len(c) for c in choices) <= limit:
        combos = list(itertools.product(*choices))
    else:
        rng = random.Random(len(names))
        combos = [tuple(rng.choice(c) for c in choices) for _ in range(limit)]
    return [build_inputs(policy, {**good, **dict(zip(names, combo, strict=True))}, store) for combo in combos]


def check_fail_closed(engine: policyengine.Engine, order: Any, user: Any, *,
                      store: str | None = None) -> set[str]:
    """Evaluate ``order``/``user`` and check every fail-closed property; return the invalid facts found.

    ``store`` is the store the order belongs to (its store id, when the engine has store overrides)."""
    policy = store_policy(engine, store)
    if store_ids(engine):
        try:
            store_id = read_path(order, ("store", "id"))
        except Exception:
            store_id = None
        if not isinstance(store_id, str):
            # the store, hence the policy, cannot be determined: nothing may be enabled
            _, bad = read_facts(engine.policy, order, user)
            bad.add("store.id")
            decisions = engine.evaluate(order, user)
            assert not any(d.enabled for d in decisions.values())
            assert "store.id" in {p.fact for p in decisions.errors} <= bad
            with pytest.raises(FactError) as raised:
                engine.evaluate(order, user, strict=True)
            assert {p.fact for p in raised.value.problems} == bad
            return bad
        assert store_id == (store or BASE_STORE)
    good, bad = read_facts(policy, order, user)
    decisions = engine.evaluate(order, user)  # never raises
    if currently_in_test_context():
        enabled = sum(d.enabled for d in decisions.values())
        event(f"{policy.name}/{store or BASE_STORE}: {len(bad)} bad fact(s), {enabled} enabled")
    assert list(decisions) == [a.id for a in policy.actions]
    deps = action_deps(policy)
    direct = action_deps(policy, follow_actions=False)
    others = [engine.evaluate(o, u) for o, u in substitutions(policy, good, bad, store=store or BASE_STORE)]
    for action_id, decision in decisions.items():
        if direct[action_id] & bad and decision.enabled:
            # one of its own conditions reads a bad fact: enabled only where that fact is overruled (three-valued
            # `and`/`or`), so that every valid value would enable it too
            assert {d[action_id] for d in others} == {decision}, (decision, bad)
        if deps[action_id] & bad:
            if decision.errors:
                assert not decision.enabled, (decision, bad)
                assert {p.fact for p in decision.errors} <= bad
                assert decision.reasons
            else:
                # nothing recorded (e.g. hidden by a visibility that reads only good facts, or reading another
                # action's known state): then the bad facts make no difference to this decision
                assert {d[action_id] for d in others} == {decision}, (decision, bad)
        else:
            assert decision.errors == ()
            assert {d[action_id] for d in others} == {decision}, (decision, bad)
    errors = {p.fact for p in decisions.errors}
    # with three-valued `and`/`or` a bad fact that no decision needed is not among the errors (strict lists it)
    assert errors <= bad
    if bad:
        with pytest.raises(FactError) as raised:
            engine.evaluate(order, user, strict=True)
        assert {p.fact for p in raised.value.problems} == bad
    else:
        assert engine.evaluate(order, user, strict=True) == decisions
        assert decisions == engine.evaluate(*build_inputs(policy, good, store or BASE_STORE))
    return bad


@SETTINGS
@given(data=st.data())
def test_shipped_policy_fails_closed_on_any_input(base_engine: policyengine.Engine, data: st.DataObject) -> None:
    order, user = data.draw(any_inputs(base_engine.policy))
    check_fail_closed(base_engine, order, user)


@SETTINGS
@given(data=st.data())
def test_every_store_policy_fails_closed_on_any_input(engine: policyengine.Engine, data: st.DataObject) -> None:
    """The shipped policies directory, store overrides included: an order of any store (or of none with an
    override), with a store id that may be lost in junk."""
    stores = store_ids(engine)
    store = data.draw(st.sampled_from([BASE_STORE, *stores]))
    order, user = data.draw(any_inputs(store_policy(engine, store), store=store))
    check_fail_closed(engine, order, user, store=store)


@SETTINGS
@given(data=st.data())
def test_extra_policy_fails_closed_on_any_input(extra_engine: policyengine.Engine, data: st.DataObject) -> None:
    order, user = data.draw(any_inputs(extra_engine.policy))
    check_fail_closed(extra_engine, order, user)


@SETTINGS
@given(data=st.data())
def test_valid_inputs_in_any_form_decide_like_plain_dicts(engine: policyengine.Engine,
                                                         base_engine: policyengine.Engine,
                                                         extra_engine: policyengine.Engine,
                                                         data: st.DataObject) -> None:
    for eng in (base_engine, extra_engine):
        order, user = data.draw(any_inputs(eng.policy, valid=True))
        assert check_fail_closed(eng, order, user) == set()
    store = data.draw(st.sampled_from([BASE_STORE, *store_ids(engine)]))
    order, user = data.draw(any_inputs(store_policy(engine, store), valid=True, store=store))
    assert check_fail_closed(engine, order, user, store=store) == set()


@SETTINGS
@given(junk_order=junk, junk_user=junk)
def test_junk_roots_never_raise(engine: policyengine.Engine, base_engine: policyengine.Engine,
                                extra_engine: policyengine.Engine, junk_order: Any, junk_user: Any) -> None:
    for eng in (engine, base_engine, extra_engine):
        assert check_fail_closed(eng, junk_order, junk_user)


# -- the fail-closed path agrees with the fast path on valid facts --------------------------------------------


def _forced_slow(policy: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """The same facts in forms only the complete (slow) checker accepts."""
    specs = {f.name: f for f in policy.facts}
    out = {}
    for name, value in facts.items():
        kind = specs[name].type
        if kind in ("enum", "string"):
            out[name] = Tagged(value)
        elif kind == "number" and value.__class__ is int:
            out[name] = Count(value)
        elif kind == "set":
            out[name] = [Tagged(v) for v in value]
        else:
            out[name] = value
    return out


def test_slow_path_agrees_with_fast_path_on_the_whole_fact_space(engine: policyengine.Engine) -> None:
    """The specialised table, the generated closures (table off) and the fail-closed interpreter all agree."""
    policy = engine.policy
    closures = policyengine.load(POLICIES, table_limit=0)
    assert closures.policy.name == policy.name
    for facts in fact_space(policy):
        fast = engine.evaluate(*build_inputs(policy, facts))
        assert closures.evaluate(*build_inputs(policy, facts)) == fast
        for forced in (_forced_slow(policy, facts), {**facts, "order.status": Tagged(facts["order.status"])},
                       {**facts, "user.role": Tagged(facts["user.role"])}):
            for eng in (engine, closures):
                slow = eng.evaluate(*build_inputs(policy, forced))
                assert slow == fast and slow.errors == ()
                assert slow.to_dict() == fast.to_dict()
            # without the table, str subclasses take the complete checker: different objects show it ran
            slow = closures.evaluate(*build_inputs(policy, forced))
            assert any(slow[a] is not fast[a] for a in fast if fast[a].visible), facts


@SETTINGS
@given(facts=extra_facts())
def test_slow_path_agrees_with_fast_path_on_the_extra_policy(extra_engine: policyengine.Engine,
                                                             facts: dict[str, Any]) -> None:
    policy = extra_engine.policy
    fast = extra_engine.evaluate(*build_inputs(policy, facts))
    slow = extra_engine.evaluate(*build_inputs(policy, _forced_slow(policy, facts)))
    assert slow == fast and slow.errors == ()


def test_str_enum_statuses_take_the_slow_path_and_agree(engine: policyengine.Engine) -> None:
    status = enum.StrEnum("Status", {s.upper().replace(" ", "_"): s for s in STATUSES})  # type: ignore[misc]
    policy = engine.policy
    for facts in fact_space(policy):
        fast = engine.evaluate(*build_inputs(policy, facts))
        slow = engine.evaluate(*build_inputs(policy, {**facts, "order.status": status(facts["order.status"])}))
        assert slow == fast


# -- conditions that cannot be computed ----------------------------------------------------------------------

NUMERIC_POLICY = """
apiVersion: policyengine/v1
kind: ActionPolicy
name: numeric
version: 1
facts:
  order.total: {type: number}
  order.items: {type: number}
  order.channel: {type: string}
actions:
  ratio: {label: Ratio, allow: order.total / order.items > 1}
  modulo: {label: Modulo, allow: order.total % 7 == 1}
  root: {label: Root, allow: order.total ** 0.5 > 1}
  channel: {label: Channel, allow: order.channel == 'web'}
"""


@pytest.fixture(scope="module")
def numeric_engine(tmp_path_factory: pytest.TempPathFactory) -> policyengine.Engine:
    path = tmp_path_factory.mktemp("numeric") / "numeric.yaml"
    path.write_text(NUMERIC_POLICY)
    return policyengine.load(path)


@pytest.mark.parametrize("slow", [False, True], ids=["fast-path", "slow-path"])
@pytest.mark.parametrize(("order", "failing"), [
    ({"total": 1, "items": 0}, "ratio"),  # division by zero
    ({"total": 1e30, "items": 1}, "modulo"),  # Decimal % cannot give a 30-digit quotient in 28 digits
    ({"total": -4, "items": 1}, "root"),  # square root of a negative number
], ids=["division-by-zero", "modulo-overflow", "negative-root"])
def test_condition_that_cannot_be_computed_fails_closed(numeric_engine: policyengine.Engine, order: dict[str, Any],
                                                        failing: str, slow: bool) -> None:
    order = {**order, "channel": Tagged("web") if slow else "web"}
    expected = numeric_engine.policy.actions[[a.id for a in numeric_engine.policy.actions].index(failing)]
    with pytest.raises(rule_engine.errors.EngineError):  # rule-engine cannot compute it either
        expected.allow.rule.evaluate({"order": order})
    decisions = numeric_engine.evaluate(order, {})
    assert decisions[failing].state == "disabled"
    assert decisions[failing].errors and decisions[failing].reasons
    assert decisions["channel"].enabled and decisions["channel"].errors == ()
    with pytest.raises(FactError):
        numeric_engine.evaluate(order, {}, strict=True)


def test_odd_objects_never_raise(base_engine: policyengine.Engine) -> None:
    class Exploding(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError(f"cannot read {key}")

        def __iter__(self) -> Any:
            return iter(())

        def __len__(self) -> int:
            return 0

    class Lazy:
        manual_fulfillment = True

        @property
        def status(self) -> str:
            raise ValueError("lazy load failed")

    cases = [
        (Exploding(), {"role": "admin"}, {"order.status", "order.has_shipment", "order.sent_to_warehouse",
                                          "store.manual_fulfillment"}),
        ({"status": "Open", "has_shipment": False, "sent_to_warehouse": False, "store": Lazy()}, Exploding(),
         {"user.role"}),
        (Lazy(), {"role": "member"}, {"order.status", "order.has_shipment", "order.sent_to_warehouse",
                                      "store.manual_fulfillment"}),
        ([], [], {"order.status", "order.has_shipment", "order.sent_to_warehouse", "store.manual_fulfillment",
                  "user.role"}),
        ("Error", "admin", {"order.status", "order.has_shipment", "order.sent_to_warehouse",
                            "store.manual_fulfillment", "user.role"}),
        ({"status": {"nested": ["Error"]}, "has_shipment": [], "sent_to_warehouse": "no",
          "store": {"manual_fulfillment": [[True]]}}, {"role": {}},
         {"order.status", "order.has_shipment", "order.sent_to_warehouse", "store.manual_fulfillment", "user.role"}),
    ]
    for order, user, bad in cases:
        assert check_fail_closed(base_engine, order, user) == bad


VISIBILITY_POLICY = """
apiVersion: policyengine/v1
kind: ActionPolicy
name: visibility
version: 1
facts:
  order.flag: {type: bool}
  user.role: {type: enum, values: [admin, member]}
actions:
  inner:
    label: Inner
    visible: order.flag
    allow: user.role == 'admin'
  outer:
    label: Outer
    allow: actions.inner.visible
"""


def test_reading_a_known_visibility_is_not_blocked_by_another_facts_error(tmp_path: Any) -> None:
    path = tmp_path / "visibility.yaml"
    path.write_text(VISIBILITY_POLICY)
    engine = policyengine.load(path)
    decisions = engine.evaluate({"flag": True}, {})  # user.role missing
    assert decisions["inner"].visible and not decisions["inner"].enabled and decisions["inner"].errors
    # outer reads only inner's visibility, which does not depend on user.role
    assert {engine.evaluate({"flag": True}, {"role": r})["outer"].state for r in ("admin", "member")} == {"enabled"}
    assert decisions["outer"].errors == ()
    assert decisions["outer"].enabled


FAILING_POLICY = """
apiVersion: policyengine/v1
kind: ActionPolicy
name: failing
version: 1
facts:
  order.total: {type: number}
  order.other: {type: number}
  order.a: {type: bool}
actions:
  ratio:
    label: Ratio
    visible: order.a or order.total / order.other > 1
    allow: "true"
  plain:
    label: Plain
    visible: order.total / order.other > 1 and order.a
    allow: "true"
"""


def test_a_part_that_fails_is_named_by_its_own_condition_in_the_order_written(tmp_path: Any,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "failing.yaml").write_text(FAILING_POLICY)
    monkeypatch.chdir(tmp_path)  # locations are shown relative to the working directory
    engine = policyengine.load("failing.yaml")
    ratio = "`order.a or order.total / order.other > 1` (failing.yaml:13:14)"
    plain = "`order.total / order.other > 1 and order.a` (failing.yaml:17:14)"
    failed = "failed: DivisionByZero([<class 'decimal.DivisionByZero'>])"
    # both conditions share the failing comparison; each failure names the condition it broke
    decided = engine.evaluate({"total": 3, "other": 0, "a": True}, {})
    assert (decided["ratio"].state, decided["ratio"].errors) == ("enabled", ())  # the other operand decides
    assert decided["plain"].state == "hidden"
    assert [str(p) for p in decided["plain"].errors] == [f"order.a, order.other, order.total: {plain} {failed}"]
    # with order.a missing too, the problems come in the order the operands are written
    undecided = engine.evaluate({"total": 3, "other": 0}, {})
    assert [str(p) for p in undecided["ratio"].errors] == [
        "order.a: missing", f"order.a, order.other, order.total: {ratio} {failed}"]
    assert [str(p) for p in undecided["plain"].errors] == [
        f"order.a, order.other, order.total: {plain} {failed}", "order.a: missing"]
