"""``policyengine explain``: the trace behind every decision, through the CLI, with its exact output.

* A small policy directory (a base policy and a store override, written to ``tmp_path``) explained through the CLI,
  the text output asserted exactly: fact values, each condition and guard with its value and ``file:line:col``,
  named conditions nested, action references, and ``*`` on what determined the state.
* Over the whole finite fact space of the shipped policies (base and each store), the explanation agrees with
  ``engine.evaluate`` (state, reasons), every traced value agrees with rule-engine (the oracle), and what is marked
  decisive is exactly the decision's provenance.
* Bad facts fail closed in the explanation as in the engine, and it says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from conftest import BASE_STORE, POLICIES, build_inputs, fact_space, oracle

import policyengine
from policyengine import DefaultAdapter
from policyengine.analysis.explain import Trace, explain

POLICY = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: shop
version: 1
facts:
  order.status: {type: enum, values: [New, Open, Archived]}
  order.has_shipment: {type: bool}
  store.id: {type: string}
  user.role: {type: enum, values: [admin, member, viewer]}
conditions:
  can_act: user.role in ['admin', 'member']
  is_admin: user.role == 'admin'
actions:
  reset:
    label: Reset
    allow: {when: can_act, reason: Read-only users can't change orders.}
    deny:
      - id: has-shipment
        when: order.has_shipment
        reason: The order already has a shipment.
    effects:
      - when: order.status == 'Archived'
        operation: resume
      - set: {order.status: New}
  archive:
    label: Archive
    visible: {when: "order.status != 'Archived'", reason: Already archived.}
    allow: {when: can_act and not actions.reset.enabled, reason: Reset it instead.}
  purge:
    label: Purge
    visible: {when: is_admin, reason: Admins only.}
    allow: true
"""

STORE = """\
apiVersion: policyengine/v1
kind: StoreOverride
store: acme
version: 1
base: {policy: shop, version: 1}
conditions:
  busy: order.status == 'Open'
actions:
  reset:
    deny:
      - id: busy
        when: busy
        reason: ACME's warehouse is working on it.
"""


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "policy.yaml").write_text(POLICY)
    (tmp_path / "shop" / "stores").mkdir()
    (tmp_path / "shop" / "stores" / "acme.yaml").write_text(STORE)
    monkeypatch.chdir(tmp_path)
    return Path("shop")


ORDER = json.dumps({"status": "Open", "has_shipment": False, "store": {"id": "acme"}})


def test_explain_text(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "explain", str(shop), "--order", ORDER, "--user", '{"role": "member"}')
    assert (code, err) == (0, "")
    assert out == """\
shop@1 + store override acme@1
facts:
  order.status = 'Open'
  order.has_shipment = false
  user.role = 'member'
(* marks the conditions that determined the state)

Reset (reset): disabled
    visible: always (no visibility condition)
    allow: `can_act` = true  (shop/policy.yaml:16:19)
        can_act: `user.role in ['admin', 'member']` = true  (shop/policy.yaml:11:12)
            user.role = 'member'
    deny has-shipment: `order.has_shipment` = false  (shop/policy.yaml:19:15)
  * deny busy: `busy` = true  (shop/stores/acme.yaml:12:15)
        busy: `order.status == 'Open'` = true  (shop/stores/acme.yaml:7:9)
            order.status = 'Open'
    effect 1 when: `order.status == 'Archived'` = false  (shop/policy.yaml:22:15)
        order.status = 'Open'
  reason: ACME's warehouse is working on it.
  effects: order.status := New

Archive (archive): enabled
    visible: `order.status != 'Archived'` = true  (shop/policy.yaml:27:21)
        order.status = 'Open'
  * allow: `can_act and not actions.reset.enabled` = true  (shop/policy.yaml:28:19)
        actions.reset.enabled = false (reset is disabled)
        can_act: `user.role in ['admin', 'member']` = true  (shop/policy.yaml:11:12)
            user.role = 'member'

Purge (purge): hidden
  * visible: `is_admin` = false  (shop/policy.yaml:31:21)
        is_admin: `user.role == 'admin'` = false  (shop/policy.yaml:12:13)
            user.role = 'member'
    (allow and deny guards are not evaluated for a hidden action)
  reason: Admins only.
"""


def test_explain_one_action_as_another_store(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storeless = json.dumps({"status": "Open", "has_shipment": False})  # --store decides an order without store.id
    code, out, _ = run_cli(capsys, "explain", str(shop), "--order", storeless, "--user", '{"role": "viewer"}',
                            "--store", "other", "--action", "reset")
    assert code == 0
    assert out == """\
shop@1 (store other has no override)
facts:
  order.status = 'Open'
  order.has_shipment = false
  user.role = 'viewer'
(* marks the conditions that determined the state)

Reset (reset): disabled
    visible: always (no visibility condition)
  * allow: `can_act` = false  (shop/policy.yaml:16:19)
        can_act: `user.role in ['admin', 'member']` = false  (shop/policy.yaml:11:12)
            user.role = 'viewer'
    deny has-shipment: `order.has_shipment` = false  (shop/policy.yaml:19:15)
    effect 1 when: `order.status == 'Archived'` = false  (shop/policy.yaml:22:15)
        order.status = 'Open'
  reason: Read-only users can't change orders.
  effects: order.status := New
"""


def test_explain_bad_facts_fail_closed(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    order = json.dumps({"status": "Opne", "store": {"id": "acme"}})
    code, out, _ = run_cli(capsys, "explain", str(shop), "--order", order, "--user", '{"role": "admin"}',
                            "--action", "purge", "--action", "archive")
    assert code == 0
    assert out == """\
shop@1 + store override acme@1
facts:
  order.status: 'Opne' is not a declared value (expected one of: New, Open, Archived)
  order.has_shipment: missing
  user.role = 'admin'
  ! order.has_shipment: missing
  ! order.status: 'Opne' is not a declared value (expected one of: New, Open, Archived)
(* marks the conditions that determined the state)

Purge (purge): enabled
    visible: `is_admin` = true  (shop/policy.yaml:31:21)
        is_admin: `user.role == 'admin'` = true  (shop/policy.yaml:12:13)
            user.role = 'admin'
  * allow: `true` = true  (shop/policy.yaml:32:12)

Archive (archive): hidden
  * visible: `order.status != 'Archived'` = could not be decided (order.status: 'Opne' is not a declared value \
(expected one of: New, Open, Archived))  (shop/policy.yaml:27:21)
        order.status: 'Opne' is not a declared value (expected one of: New, Open, Archived)
    (allow and deny guards are not evaluated for a hidden action)
  reason: could not be decided: order.status: 'Opne' is not a declared value (expected one of: New, Open, Archived)
"""


def test_explain_when_the_store_cannot_be_read(shop: Path) -> None:
    engine = policyengine.load(shop)
    explanation = explain(engine, {"status": "New", "has_shipment": False}, {"role": "member"}, actions=["reset"])
    (reset,) = explanation.actions
    assert explanation.store is None and explanation.store_override is None
    assert explanation.problems == ("store.id: missing",)
    assert reset.state == "hidden"
    assert reset.decision.reasons == ("could not be decided: store.id: missing",)
    assert reset.note == ("the order's store could not be determined, so the engine fails closed: hidden (this "
                          "trace, of shop@1, alone gives enabled)")


def test_explain_json(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "explain", str(shop), "--order", ORDER, "--user", '{"role": "member"}',
                            "--action", "archive", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["policy"], data["store"], data["store_override"], data["problems"]) == ("shop@1", "acme", "acme@1", [])
    (archive,) = data["actions"]
    assert archive["allow"] == {
        "kind": "allow", "id": None, "condition": "can_act and not actions.reset.enabled",
        "where": "shop/policy.yaml:28:19", "value": True, "problems": [], "decisive": True, "facts": [],
        "conditions": [{"kind": "condition", "id": "can_act", "condition": "user.role in ['admin', 'member']",
                        "where": "shop/policy.yaml:11:12", "value": True, "problems": [], "decisive": False,
                        "facts": [{"fact": "user.role", "value": "member", "problem": None, "defaulted": False}], "conditions": [],
                        "actions": []}],
        "actions": [{"action": "reset", "state": "enabled", "value": False, "decided": "disabled"}],
    }
    assert archive["facts"] == ["order.status", "order.has_shipment", "user.role"]
    assert archive["decision"]["state"] == "enabled"


def test_unknown_action_is_a_usage_error(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "explain", str(shop), "--order", ORDER, "--user", "{}", "--action", "rest")
    assert (code, out) == (2, "")
    assert err == "policyengine explain: --action: unknown action 'rest' (actions: reset, archive, purge)\n"


def test_explain_uses_the_given_adapter(shop: Path) -> None:
    class Shipments(DefaultAdapter):
        def getter(self, fact: Any) -> Any:
            if fact.name == "order.has_shipment":
                return lambda order, user: order["id"] in {"o-1"}
            return super().getter(fact)

    engine = policyengine.load(shop, adapter=Shipments())
    explanation = explain(engine, {"id": "o-1", "status": "New", "store": {"id": "x"}}, {"role": "admin"},
                          actions=["reset"], adapter=Shipments())
    (reset,) = explanation.actions
    assert [(g.id, g.value, g.decisive) for g in reset.guards] == [("has-shipment", True, True)]
    assert reset.state == "disabled"


# -- agreement with the engine and with rule-engine over every possible order of the shipped policies --------------

def _walk(trace: Trace) -> list[Trace]:
    out = [trace]
    for condition in trace.conditions:
        out += _walk(condition)
    return out


@pytest.mark.parametrize("store", [None, "acme", "globex"])
def test_explanations_agree_with_engine_and_oracle(store: str | None) -> None:
    engine = policyengine.load(POLICIES)
    policy = engine.store_policy(store)
    count = 0
    for values in fact_space(policy):
        order, user = build_inputs(policy, values, store or BASE_STORE)
        decisions = engine.evaluate(order, user)
        expected = oracle(policy, values)
        truth = {expr.where: value for _, expr, value in expected.exprs}
        explanation = explain(engine, order, user)
        assert explanation.store_override == decisions.store_override
        assert [a.action for a in explanation.actions] == list(decisions)
        for action in explanation.actions:
            decision = decisions[action.action]
            assert action.decision == decision
            assert action.note is None
            assert action.state == expected.states[action.action]
            decisive = {(t.kind, t.id, t.where, t.text) for t in action.traces() if t.decisive}
            assert decisive == {(s.kind, s.id, s.where, s.text) for s in decision.source}
            for trace in (t for top in action.traces() for t in _walk(top)):
                assert trace.value is truth[trace.where], (action.action, trace.text, values)
                for fact in trace.facts:
                    assert fact.value == values[fact.name]
            if action.state == "hidden":
                assert (action.allow, action.guards, action.effects) == (None, (), ())
        count += 1
    assert count == {None: 312, "acme": 936, "globex": 312}[store]


def test_action_references_and_non_finite_facts(extra_engine: policyengine.Engine) -> None:
    order = {"total": 120, "items": 2, "tags": ["vip"], "channel": "amazon", "note": "urgent", "status": "Open",
             "rush": False, "customer": {"tier": "gold"}}
    user = {"role": "member", "profile": {"email": "a@example.com"}}
    explanation = explain(extra_engine, order, user)
    decisions = extra_engine.evaluate(order, user)
    assert {a.action: a.state for a in explanation.actions} == {a: d.state for a, d in decisions.items()}
    upgrade = next(a for a in explanation.actions if a.action == "upgrade")
    assert upgrade.allow is not None
    assert [(r.action, r.state, r.decided) for r in upgrade.allow.actions] == [("ship", "enabled", decisions["ship"].state)]
    tags = next(f for f in explanation.facts if f.name == "order.tags")
    assert tags.value == frozenset({"vip"})
    assert json.loads(json.dumps(explanation.to_dict()))["facts"][2] == {"fact": "order.tags", "value": ["vip"],
                                                                          "problem": None, "defaulted": False}
