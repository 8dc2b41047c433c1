"""rule-engine as the reference oracle.

Every condition of a compiled policy (named conditions, visible, allow, guards, effect whens) is evaluated both by
rule-engine (``expr.rule.evaluate``) and by the compiled Python translation, over every combination of the finite
facts; each action's decision is then recomposed from the oracle's values and compared with ``engine.evaluate``
(state, reasons and effects). A second, small policy exercises the rest of the language (numbers, arithmetic,
sets, strings, regexes, ``.length``, ternaries, ``not``/``or``, ``actions.<id>.<state>``) with hypothesis drawing the
non-finite values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import (
    BASE_STORE,
    POLICIES,
    STATUSES,
    assert_matches_oracle,
    build_inputs,
    extra_facts,
    fact_space,
    fact_space_size,
    needed_facts,
    oracle,
    store_ids,
    store_policy,
)
from hypothesis import given, settings

import policyengine


def all_exprs(policy: Any) -> set[str]:
    labels = {f"conditions.{name}" for name in policy.conditions}
    for action in policy.actions:
        labels |= {f"{action.id}.visible", f"{action.id}.allow"}
        labels |= {f"{action.id}.deny.{g.spec.id}" for g in action.guards}
        labels |= {f"{action.id}.effects[{i}].when" for i, e in enumerate(action.effects) if e.when is not None}
    return labels


# -- the shipped policy, exhaustively ------------------------------------------------------------------------------


def test_fact_space_of_the_shipped_policy(policy: Any) -> None:
    names = [f.name for f in needed_facts(policy)]
    assert names == ["order.status", "order.has_shipment", "order.sent_to_warehouse", "store.manual_fulfillment",
                     "user.role"]
    combos = list(fact_space(policy))
    assert len(combos) == fact_space_size(policy) == 13 * 2 * 2 * 2 * 3 == 312
    assert len({tuple(c.items()) for c in combos}) == 312
    order, user = build_inputs(policy, combos[0])
    assert order == {"status": "New", "has_shipment": False, "sent_to_warehouse": False,
                     "store": {"id": BASE_STORE, "manual_fulfillment": False}}
    assert user == {"role": "admin"}


def test_oracle_evaluates_every_condition(policy: Any) -> None:
    result = oracle(policy, next(fact_space(policy)))
    assert {label for label, _, _ in result.exprs} == all_exprs(policy)
    assert len(result.exprs) == len(all_exprs(policy)) >= 8 + 8 + 2 + 3 + 3


@pytest.mark.parametrize("status", STATUSES)
def test_shipped_policy_agrees_with_rule_engine(engine: policyengine.Engine, status: str) -> None:
    combos = [c for c in fact_space(engine.policy) if c["order.status"] == status]
    assert len(combos) == 312 // 13
    for facts in combos:
        assert_matches_oracle(engine, facts)


@pytest.mark.parametrize("store", store_ids(policyengine.load(POLICIES)))
def test_store_policies_agree_with_rule_engine(engine: policyengine.Engine, store: str) -> None:
    """Each store override's merged policy, over its own finite fact space, through engine.evaluate."""
    policy = store_policy(engine, store)
    assert policy is not engine.policy
    result = oracle(policy, next(fact_space(policy)))
    assert {label for label, _, _ in result.exprs} == all_exprs(policy)
    count = 0
    for facts in fact_space(policy):
        assert_matches_oracle(engine, facts, store)
        count += 1
    assert count == fact_space_size(policy) >= 312


# -- a policy exercising the rest of the language ---------------------------------------------------------------

def test_extra_policy_shape(extra_engine: policyengine.Engine) -> None:
    policy = extra_engine.policy
    needed = [f.name for f in needed_facts(policy)]
    assert "user.unused" not in needed and len(needed) == 10
    sources = {f.name: f.source for f in policy.facts}
    assert sources["customer.tier"] == ("order", "customer", "tier")
    assert sources["user.email"] == ("user", "profile", "email")
    order, user = build_inputs(policy, {"customer.tier": "gold", "user.email": "a@b"})
    assert order == {"customer": {"tier": "gold"}} and user == {"profile": {"email": "a@b"}}
    # the finite part: status x rush x role
    assert fact_space_size(policy) == 3 * 2 * 2


@settings(max_examples=200, deadline=None)
@given(facts=extra_facts())
def test_extra_policy_agrees_with_rule_engine(extra_engine: policyengine.Engine, facts: dict[str, Any]) -> None:
    assert_matches_oracle(extra_engine, facts)


EXAMPLES = [
    {"order.total": 500, "order.items": 2, "order.tags": ["vip"], "order.channel": "shopify", "order.note": "",
     "order.status": "New", "order.rush": True, "customer.tier": "gold", "user.role": "admin",
     "user.email": "ann@example.com"},
    {"order.total": 500, "order.items": 0, "order.tags": [], "order.channel": "test-shop", "order.note": "urgent",
     "order.status": "Open", "order.rush": False, "customer.tier": "bronze", "user.role": "member",
     "user.email": "bob@example.org"},
    {"order.total": -3.25, "order.items": 1, "order.tags": ["a", "b", "c"], "order.channel": "amazon",
     "order.note": "zzz", "order.status": "Closed", "order.rush": False, "customer.tier": "platinum-plus",
     "user.role": "member", "user.email": ""},
    {"order.total": 160, "order.items": 1, "order.tags": ["vip"], "order.channel": "ebay", "order.note": "urgent!",
     "order.status": "Open", "order.rush": True, "customer.tier": "", "user.role": "admin",
     "user.email": "root@example.com"},
]


@pytest.mark.parametrize("facts", EXAMPLES)
def test_extra_policy_examples_agree_with_rule_engine(extra_engine: policyengine.Engine,
                                                      facts: dict[str, Any]) -> None:
    assert_matches_oracle(extra_engine, facts)


def test_extra_policy_examples_cover_every_state(extra_engine: policyengine.Engine) -> None:
    seen: set[tuple[str, str]] = set()
    for facts in EXAMPLES:
        order, user = build_inputs(extra_engine.policy, facts)
        seen |= {(a, d.state) for a, d in extra_engine.evaluate(order, user).items()}
    assert ("ship", "hidden") in seen and ("ship", "enabled") in seen and ("ship", "disabled") in seen
    assert ("upgrade", "hidden") in seen and ("upgrade", "enabled") in seen and ("upgrade", "disabled") in seen
    assert ("cancel", "enabled") in seen and ("cancel", "disabled") in seen
    assert ("note", "enabled") in seen and ("note", "disabled") in seen


def test_default_reason_quotes_the_condition(extra_engine: policyengine.Engine) -> None:
    facts = {"order.total": 1, "order.items": 1, "order.tags": [], "order.channel": "shopify", "order.note": "",
             "order.status": "New", "order.rush": False, "customer.tier": "bronze", "user.role": "member",
             "user.email": "x"}
    order, user = build_inputs(extra_engine.policy, facts)
    upgrade = extra_engine.evaluate(order, user)["upgrade"]
    assert upgrade.state == "hidden"
    assert len(upgrade.reasons) == 1 and "vip or gold or many_tags" in upgrade.reasons[0]


# -- known disagreements with rule-engine (numeric semantics) --------------------------------------------------------

ARITH_POLICY = """
apiVersion: policyengine/v1
kind: ActionPolicy
name: arith
version: 1
facts:
  order.total: {{type: number}}
actions:
  check:
    label: Check
    allow: "{condition}"
"""


def _agree(tmp_path: Path, condition: str, total: Any) -> tuple[bool, bool]:
    path = tmp_path / "arith.yaml"
    path.write_text(ARITH_POLICY.format(condition=condition))
    engine = policyengine.load(path)
    expected = engine.policy.actions[0].allow.rule.evaluate({"order": {"total": total}})
    got = engine.evaluate({"total": total}, {})["check"].enabled
    return expected, got


@pytest.mark.parametrize(("condition", "total"), [
    ("order.total % 2 == 1", 7),
    ("order.total // 2 == 3", 7),
    ("order.total * 3 == 0.75", 0.25),
    ("order.total / 4 == 0.25", 1),
    ("order.total ** 2 == 49", -7),
    # where Python's float/int semantics differ from rule-engine's Decimal ones
    ("order.total % 2 == -1", -7),  # Python: -7 % 2 == 1
    ("order.total // 2 == -3", -7),  # Python: -7 // 2 == -4
    ("order.total * 3 == 0.3", 0.1),  # Python: 0.1 * 3 == 0.30000000000000004
    ("order.total + 0.2 == 0.3", 0.1),
    ("order.total - 0.1 == 0", 0.1),
    ("order.total == 0.1", 0.1),
    ("order.total > 0.30000000000000001", 0.30000000000000004),
    ("-order.total == 0", -0.0),
    ("order.total * 2 == 20000000000000000000000000002", 10000000000000000000000000001),
])
def test_arithmetic_agrees_with_rule_engine(tmp_path: Path, condition: str, total: Any) -> None:
    expected, got = _agree(tmp_path, condition, total)
    assert got is expected
