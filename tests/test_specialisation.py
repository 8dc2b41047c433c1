"""Issue 5's proof: the specialised evaluators decide exactly like the unspecialised one and like rule-engine.

Three evaluators of one policy must agree everywhere: the whole-policy table (finite facts, precomputed), the
generated closures (``table_limit=0``, or facts that are not finite) and the condition-by-condition interpreter
(the fail-closed path, which is also what analysis uses). Laziness is proven with a counting adapter.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_FILE, assert_matches_oracle, build_inputs, fact_space
from hypothesis import given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.runtime.interpret import Interpreter

SETTINGS = settings(max_examples=200, deadline=None)


def same(a: policyengine.Decisions, b: policyengine.Decisions) -> bool:
    """Equal decisions, whatever the provenance (the bare interpreter knows no revision)."""
    return list(a.values()) == list(b.values())

BAD_VALUES = (None, 1, 0, "", "Shiped", "true", ["Error"], {"x": 1}, 1.5, float("nan"))


@pytest.fixture(scope="module")
def table_engine() -> policyengine.Engine:
    return policyengine.load(BASE_FILE)


@pytest.fixture(scope="module")
def closure_engine() -> policyengine.Engine:
    return policyengine.load(BASE_FILE, table_limit=0)


def test_the_default_policy_is_specialised_into_one_table(table_engine: policyengine.Engine,
                                                          closure_engine: policyengine.Engine) -> None:
    assert table_engine.specialised
    assert not closure_engine.specialised
    assert "TABLE[" in table_engine.generated_source
    assert "TABLE[" not in closure_engine.generated_source


def test_table_closures_and_interpreter_agree_on_every_combination(table_engine: policyengine.Engine,
                                                                   closure_engine: policyengine.Engine) -> None:
    policy = table_engine.policy
    interpreter = Interpreter(policy)
    combinations = 0
    for facts in fact_space(policy):
        order, user = build_inputs(policy, facts)
        from_table = table_engine.evaluate(order, user)
        assert closure_engine.evaluate(order, user) == from_table
        assert same(interpreter.evaluate(facts)[0], from_table)
        combinations += 1
    assert combinations == 13 * 2 * 2 * 2 * 3


def test_the_table_agrees_with_rule_engine_on_every_combination(table_engine: policyengine.Engine) -> None:
    for facts in fact_space(table_engine.policy):
        assert_matches_oracle(table_engine, facts)


def test_identical_fact_combinations_share_one_decisions_object(table_engine: policyengine.Engine) -> None:
    policy = table_engine.policy
    facts = next(iter(fact_space(policy)))
    first = table_engine.evaluate(*build_inputs(policy, facts))
    again = table_engine.evaluate(*build_inputs(policy, facts))
    assert first is again
    # different combinations with the same outcome share too: a viewer sees the same menu for New and Queued
    viewer = {**facts, "user.role": "viewer", "order.has_shipment": False, "order.sent_to_warehouse": False}
    new = table_engine.evaluate(*build_inputs(policy, {**viewer, "order.status": "New"}))
    queued = table_engine.evaluate(*build_inputs(policy, {**viewer, "order.status": "Queued"}))
    assert new is queued


@pytest.mark.parametrize("fact", ["order.status", "order.has_shipment", "order.sent_to_warehouse",
                                  "store.manual_fulfillment", "user.role"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_every_path_fails_closed_alike_on_a_bad_fact(table_engine: policyengine.Engine,
                                                     closure_engine: policyengine.Engine, fact: str, bad: Any) -> None:
    policy = table_engine.policy
    facts = {"order.status": "Error", "order.has_shipment": False, "order.sent_to_warehouse": False,
             "store.manual_fulfillment": True, "user.role": "admin"}
    spec = next(f for f in policy.facts if f.name == fact)
    if bad in spec.domain and type(bad) is type(spec.domain[0]):
        pytest.skip("a valid value")
    order, user = build_inputs(policy, {**facts, fact: bad})
    from_table = table_engine.evaluate(order, user)
    assert closure_engine.evaluate(order, user) == from_table
    assert same(Interpreter(policy).evaluate({**facts, fact: bad})[0], from_table)
    assert [p.fact for p in from_table.errors] == [fact]
    readers = {a.id for a in policy.actions if fact in _reads(policy, a.id)}
    for action_id, decision in from_table.items():
        if action_id in readers:
            assert not decision.enabled
            if decision.visible:  # a hidden action whose visibility is known never reads the rest
                assert decision.errors and decision.reasons
    with pytest.raises(policyengine.FactError):
        table_engine.evaluate(order, user, strict=True)


def _reads(policy: Any, action_id: str) -> set[str]:
    from policyengine.proof.space import depends_on

    action = next(a for a in policy.actions if a.id == action_id)
    return depends_on(policy, action.exprs())


# -- a policy the table cannot hold: non-finite facts, and a bound ---------------------------------------------

MIXED = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: mixed
version: 1
facts:
  order.status: {type: enum, values: [Open, Shipped, Error]}
  order.total: {type: number}
  order.tags: {type: set}
  order.rush: {type: bool}
  user.role: {type: enum, values: [admin, member]}
conditions:
  big: order.total > 1000
  flagged: "'fraud-review' in order.tags"
actions:
  refund:
    label: Refund
    visible: order.status != 'Error'
    allow: user.role == 'admin' or (user.role == 'member' and not big)
    deny:
      - {id: flagged, when: flagged, reason: Flagged for fraud review.}
      - {id: cheap-rush, when: order.rush and order.total < 10.5, reason: Rush orders under 10.50 are final.}
  ship:
    label: Ship
    allow: order.status == 'Open' and not flagged
    effects:
      - {when: big, operation: insure}
"""


@pytest.fixture(scope="module")
def mixed_engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[policyengine.Engine, Interpreter]:
    path = tmp_path_factory.mktemp("mixed") / "mixed.yaml"
    path.write_text(MIXED, encoding="utf-8")
    engine = policyengine.load(path)
    return engine, Interpreter(engine.policy)


mixed_facts = st.fixed_dictionaries({
    "order.status": st.sampled_from(["Open", "Shipped", "Error"]),
    "order.total": st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                             st.sampled_from([1000, 1000.0, 10.5, 10.49, 10.51])),
    "order.tags": st.lists(st.sampled_from(["fraud-review", "vip", "gift"]), max_size=3),
    "order.rush": st.booleans(),
    "user.role": st.sampled_from(["admin", "member"]),
})


@SETTINGS
@given(facts=mixed_facts)
def test_closures_agree_with_the_interpreter_and_rule_engine_on_non_finite_facts(
        mixed_engines: tuple[policyengine.Engine, Interpreter], facts: dict[str, Any]) -> None:
    engine, interpreter = mixed_engines
    assert not engine.specialised
    order, user = build_inputs(engine.policy, facts)
    decisions = engine.evaluate(order, user)
    assert same(decisions, interpreter.evaluate(facts)[0])
    assert_matches_oracle(engine, facts)


@SETTINGS
@given(facts=mixed_facts, fact=st.sampled_from(["order.total", "order.tags", "order.rush", "user.role"]),
       bad=st.sampled_from([None, "12", True, [1], {"a": 1}, float("inf"), "admin "]))
def test_closures_fail_closed_like_the_interpreter(mixed_engines: tuple[policyengine.Engine, Interpreter],
                                                   facts: dict[str, Any], fact: str, bad: Any) -> None:
    engine, interpreter = mixed_engines
    if fact == "order.rush" and bad is True:
        return
    broken = {**facts, fact: bad}
    decisions = engine.evaluate(*build_inputs(engine.policy, broken))
    assert same(decisions, interpreter.evaluate(broken)[0])
    assert {p.fact for p in decisions.errors} <= {fact}  # only where a decision had to read it
    assert not any(d.enabled for d in decisions.values() if d.errors)
    with pytest.raises(policyengine.FactError):
        engine.evaluate(*build_inputs(engine.policy, broken), strict=True)


def test_the_fast_path_shares_one_decisions_object_per_outcome(
        mixed_engines: tuple[policyengine.Engine, Interpreter], closure_engine: policyengine.Engine) -> None:
    engine, _ = mixed_engines
    facts = {"order.status": "Open", "order.total": 12, "order.tags": [], "order.rush": False, "user.role": "admin"}
    first = engine.evaluate(*build_inputs(engine.policy, facts))
    # another total, another (equivalent) tag list, the same outcome: the very same object
    again = engine.evaluate(*build_inputs(engine.policy, {**facts, "order.total": 999.5, "order.tags": ["vip"]}))
    assert again is first
    other = engine.evaluate(*build_inputs(engine.policy, {**facts, "order.total": 1001}))
    assert other is not first and other["ship"].effects != first["ship"].effects
    policy = closure_engine.policy
    viewer = {"order.status": "New", "order.has_shipment": False, "order.sent_to_warehouse": False,
              "store.manual_fulfillment": True, "user.role": "viewer"}
    assert (closure_engine.evaluate(*build_inputs(policy, viewer))
            is closure_engine.evaluate(*build_inputs(policy, {**viewer, "order.status": "Queued"})))


def _wide_policy(actions: int, guards: int) -> str:
    """A policy whose packed outcome key would need more than PACK_BITS bits."""
    lines = ["apiVersion: policyengine/v1", "kind: ActionPolicy", "name: wide", "version: 1", "facts:",
             "  order.status: {type: enum, values: [Open, Shipped, Error]}",
             *(f"  order.b{j}: {{type: bool}}" for j in range(3)),
             "  user.role: {type: enum, values: [admin, member]}", "actions:"]
    for i in range(actions):
        lines += [f"  a{i}:", f"    label: Action {i}", f"    visible: order.status != '{('Open', 'Shipped', 'Error')[i % 3]}'",
                  "    allow: user.role == 'admin'" if i % 2 else "    allow: true", "    deny:"]
        lines += [f"      - {{id: g{k}, when: order.b{(i + k) % 3}{' and user.role == ' + repr('member') if k % 2 else ''}, "
                  f"reason: Guard {i}.{k}.}}" for k in range(guards)]
    return "\n".join(lines) + "\n"


def test_a_policy_too_wide_to_pack_assembles_each_result_and_agrees(tmp_path: Path) -> None:
    from policyengine.runtime.codegen import PACK_BITS

    path = tmp_path / "wide.yaml"
    path.write_text(_wide_policy(actions=10, guards=6), encoding="utf-8")  # 10 x (1 + 6 + 1) = 80 bits
    wide, table = policyengine.load(path, table_limit=0), policyengine.load(path)
    assert 10 * 8 > PACK_BITS
    assert "WHOLE[" not in wide.generated_source and "NEW(DECISIONS)" in wide.generated_source
    interpreter = Interpreter(wide.policy)
    for facts in fact_space(wide.policy):
        order, user = build_inputs(wide.policy, facts)
        assert wide.evaluate(order, user) == table.evaluate(order, user)
        assert same(interpreter.evaluate(facts)[0], table.evaluate(order, user))
    assert_matches_oracle(wide, next(iter(fact_space(wide.policy))))
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(_wide_policy(actions=3, guards=6), encoding="utf-8")
    assert "WHOLE[" in policyengine.load(narrow, table_limit=0).generated_source


def test_the_outcome_memo_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from policyengine.runtime import codegen

    monkeypatch.setattr(codegen, "MEMO_LIMIT", 2)
    engine = policyengine.load(BASE_FILE, table_limit=0)
    interpreter = Interpreter(engine.policy)
    for facts in fact_space(engine.policy):
        assert same(engine.evaluate(*build_inputs(engine.policy, facts)), interpreter.evaluate(facts)[0])
    assert len(engine.evaluate.__globals__["WHOLE"]) == 2  # the rest were built, returned and not kept


def test_evaluate_is_documented_and_takes_the_same_arguments_with_or_without_stores(
        table_engine: policyengine.Engine) -> None:
    import inspect

    shipped = policyengine.load(BASE_FILE.parent)
    assert shipped.stores and not table_engine.stores
    for engine in (table_engine, shipped):
        assert engine.evaluate.__name__ == "evaluate"
        assert (engine.evaluate.__doc__ or "").startswith("Decide every action for ``order`` and ``user``")
        assert list(inspect.signature(engine.evaluate).parameters) == ["order", "user", "strict", "store"]
    order = {**ORDER, "store": {"id": "acme", "manual_fulfillment": True}}
    # without overrides, naming a store changes nothing: every store runs the base policy
    assert table_engine.evaluate(order, {"role": "member"}, store="acme") is table_engine.evaluate(order, {"role": "member"})


def test_a_policy_past_the_table_limit_falls_back_to_closures(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    small = policyengine.load(path, table_limit=311)  # the default policy has 312 combinations
    exact = policyengine.load(path, table_limit=312)
    assert not small.specialised and exact.specialised
    for facts in fact_space(small.policy):
        order, user = build_inputs(small.policy, facts)
        assert small.evaluate(order, user) == exact.evaluate(order, user)


# -- laziness ---------------------------------------------------------------------------------------------------


class CountingAdapter(policyengine.DefaultAdapter):
    """Counts every read, through getters of its own (so the engine cannot inline them)."""

    def __init__(self, expensive: frozenset[str] = frozenset()) -> None:
        self.reads: Counter[str] = Counter()
        self.costly = expensive

    def getter(self, fact: policyengine.FactSpec) -> policyengine.Getter:
        inner = super().getter(fact)

        def counted(order: Any, user: Any) -> Any:
            self.reads[fact.name] += 1
            return inner(order, user)

        return counted

    def expensive(self, fact: policyengine.FactSpec) -> bool:
        return fact.name in self.costly


ORDER = {"status": "Error", "has_shipment": False, "sent_to_warehouse": True,
         "store": {"id": "acme", "manual_fulfillment": True}}


@pytest.mark.parametrize("table_limit", [4096, 0], ids=["table", "closures"])
def test_each_needed_fact_is_read_once_and_unneeded_ones_never(table_limit: int) -> None:
    adapter = CountingAdapter()
    engine = policyengine.load(BASE_FILE, adapter=adapter, table_limit=table_limit)
    engine.evaluate(ORDER, {"role": "member"})
    assert adapter.reads == Counter({"order.status": 1, "order.has_shipment": 1, "order.sent_to_warehouse": 1,
                                     "store.manual_fulfillment": 1, "user.role": 1})  # never store.id


@pytest.mark.parametrize("order", [
    {**ORDER, "status": "Weird"},                   # an undeclared value
    {**ORDER, "has_shipment": "no"},                # a wrong type
    {k: v for k, v in ORDER.items() if k != "sent_to_warehouse"},  # a missing fact
], ids=["undeclared", "wrong-type", "missing"])
def test_bad_facts_are_still_read_only_once(order: dict[str, Any]) -> None:
    adapter = CountingAdapter(expensive=frozenset({"order.has_shipment"}))
    engine = policyengine.load(BASE_FILE, adapter=adapter)
    decisions = engine.evaluate(order, {"role": "member"})
    assert decisions.errors
    assert max(adapter.reads.values()) == 1
    assert "store.id" not in adapter.reads


LAZY = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: lazy
version: 1
facts:
  order.status: {type: enum, values: [Open, Error]}
  order.has_shipment: {type: bool}
  order.fraud_score: {type: number}
  user.role: {type: enum, values: [admin, member]}
conditions:
  risky: order.fraud_score > 80
actions:
  reset:
    label: Reset
    visible: order.status == 'Error'
    allow: true
    deny:
      - {id: shipped, when: order.has_shipment, reason: Has a shipment.}
  refund:
    label: Refund
    allow: risky and user.role == 'admin'
"""


def _lazy_engine(tmp_path: Path, adapter: CountingAdapter) -> policyengine.Engine:
    path = tmp_path / "lazy.yaml"
    path.write_text(textwrap.dedent(LAZY), encoding="utf-8")
    return policyengine.load(path, adapter=adapter)


def test_expensive_facts_are_read_only_when_a_decision_needs_them(tmp_path: Path) -> None:
    adapter = CountingAdapter(expensive=frozenset({"order.has_shipment", "order.fraud_score"}))
    engine = _lazy_engine(tmp_path, adapter)
    assert not engine.specialised  # a table would need every fact up front
    order = {"status": "Open", "has_shipment": True, "fraud_score": 99}
    decisions = engine.evaluate(order, {"role": "member"})
    # reset is hidden for an Open order, so its guard's fact is never read; the cheap role check fails first
    assert decisions["reset"].state == "hidden" and decisions["refund"].state == "disabled"
    assert adapter.reads == Counter({"order.status": 1, "user.role": 1})


def test_an_expensive_fact_is_read_once_however_many_conditions_need_it(tmp_path: Path) -> None:
    adapter = CountingAdapter(expensive=frozenset({"order.has_shipment", "order.fraud_score"}))
    engine = _lazy_engine(tmp_path, adapter)
    decisions = engine.evaluate({"status": "Error", "has_shipment": True, "fraud_score": 99}, {"role": "admin"})
    assert decisions["reset"].reasons == ("Has a shipment.",) and decisions["refund"].enabled
    assert adapter.reads == Counter({"order.status": 1, "user.role": 1, "order.has_shipment": 1,
                                     "order.fraud_score": 1})


def test_a_bad_expensive_fact_fails_closed_and_is_not_read_again(tmp_path: Path) -> None:
    adapter = CountingAdapter(expensive=frozenset({"order.has_shipment", "order.fraud_score"}))
    engine = _lazy_engine(tmp_path, adapter)
    decisions = engine.evaluate({"status": "Error", "has_shipment": "yes", "fraud_score": 99}, {"role": "admin"})
    assert decisions["reset"].state == "disabled"
    assert [str(p) for p in decisions["reset"].errors] == ["order.has_shipment: expected true/false, got str 'yes'"]
    assert decisions["refund"].enabled  # unaffected
    assert adapter.reads["order.has_shipment"] == 1
    eager = policyengine.load(tmp_path / "lazy.yaml")
    assert decisions == eager.evaluate({"status": "Error", "has_shipment": "yes", "fraud_score": 99},
                                       {"role": "admin"})


# -- batches ----------------------------------------------------------------------------------------------------


@SETTINGS
@given(rows=st.lists(st.tuples(st.sampled_from(["Error", "Shipped", "Pending", "Weird", None]), st.booleans(),
                               st.sampled_from([True, False, "no"]), st.sampled_from(["admin", "viewer", 3])),
                     max_size=30))
def test_evaluate_many_is_evaluate_in_a_loop(table_engine: policyengine.Engine,
                                             closure_engine: policyengine.Engine, rows: list[Any]) -> None:
    pairs = [({"status": s, "has_shipment": h, "sent_to_warehouse": w, "store": {"id": "x", "manual_fulfillment": h}},
              {"role": r}) for s, h, w, r in rows]
    for engine in (table_engine, closure_engine):
        assert engine.evaluate_many(pairs) == [engine.evaluate(o, u) for o, u in pairs]
        if any(d.errors for d in engine.evaluate_many(pairs)):
            with pytest.raises(policyengine.FactError):
                engine.evaluate_many(pairs, strict=True)


@SETTINGS
@given(rows=st.lists(st.tuples(mixed_facts, st.sampled_from([None, "order.total", "order.tags", "user.role"]),
                               st.sampled_from([None, "12", float("nan"), [1], 7])), max_size=20))
def test_evaluate_many_is_evaluate_in_a_loop_on_non_finite_facts(
        mixed_engines: tuple[policyengine.Engine, Interpreter], rows: list[Any]) -> None:
    engine, _ = mixed_engines
    pairs = [build_inputs(engine.policy, facts if fact is None else {**facts, fact: bad}) for facts, fact, bad in rows]
    many = engine.evaluate_many(pairs)
    assert many == [engine.evaluate(o, u) for o, u in pairs]
    # with good facts, results of one outcome are one shared object, in a batch as in single calls
    good = [(a, pair) for a, pair, (_, fact, _) in zip(many, pairs, rows, strict=True) if fact is None]
    assert all(a is engine.evaluate(*pair) for a, pair in good)
