"""Results for front ends (issues 14 and 16): the JSON form, reason ids, per-order bulk decisions, snapshot forms
and fast reading of results.

* ``Decisions.to_dict()`` gives ``actions`` as an ordered list (menu order), each entry with its ``action`` id; the
  Python object stays a Mapping. It is built once per result and cached, read-only inside.
* Every reason has a stable id built from the compiled policy (``<action>.allow``, ``<action>.visible``,
  ``<action>.deny.<guard>``, ``fact-problem``, ``store-undecided``, ``not-offered``) and params to translate it.
* ``bulk(..., decisions=True)`` carries each order's decision from the same evaluation.
* ``to_dict(provenance=False)`` has no revision and no positions.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from conftest import POLICIES

import policyengine
from policyengine import Decision
from policyengine.runtime.reasons import Reason

ADMIN, MEMBER, VIEWER = {"role": "admin"}, {"role": "member"}, {"role": "viewer"}
STATUSES = ("New", "Pending", "Open", "Shipped", "Error", "Closed", "Abandoned", "Archived")


def order(status: str = "Error", *, store: str = "acme", shipment: bool = False, sent: bool = False,
          manual: bool = False, channel: str = "shopify", order_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "has_shipment": shipment, "sent_to_warehouse": sent, "channel": channel,
                           "store": {"id": store, "manual_fulfillment": manual}}
    if order_id is not None:
        out["id"] = order_id
    return out


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(POLICIES)


# -- reason ids ---------------------------------------------------------------------------------------------------


def test_every_kind_of_reason_has_its_id_and_params(engine: policyengine.Engine) -> None:
    viewer = engine.evaluate(order("New", store="kiosk"), VIEWER)
    assert viewer["reset"].reason_details == (
        Reason("reset.allow", "Read-only users can't change orders.", {"action": "reset"}),)
    # the same text in two actions is two ids: ids come from the policy, not from the text
    assert viewer["edit"].reason_ids == ("edit.allow",) and viewer["edit"].reasons == viewer["reset"].reasons
    member = engine.evaluate(order("Shipped", store="kiosk", shipment=True, sent=True), MEMBER)
    assert member["force_delete"].reason_ids == ("force_delete.visible",)
    assert member["reset"].reason_details[0].to_dict() == {
        "id": "reset.deny.has-shipment", "text": member["reset"].reasons[0],
        "params": {"action": "reset", "guard": "has-shipment"}}
    bad = engine.evaluate({**order("Error", store="kiosk"), "has_shipment": "yes"}, MEMBER)
    (detail,) = bad["reset"].reason_details
    problem = bad["reset"].errors[0]
    assert (detail.id, detail.text, dict(detail.params)) == (
        "fact-problem", f"could not be decided: {problem}", {"fact": "order.has_shipment", "message": problem.message})
    nostore = engine.evaluate({"status": "New", "has_shipment": False, "sent_to_warehouse": False}, MEMBER)
    assert {d.reason_ids for d in nostore.values()} == {("store-undecided",)}
    assert dict(nostore["edit"].reason_details[0].params) == {"fact": "store.id", "message": "missing"}
    # a store override's own wording keeps the slot's id
    globex = engine.evaluate(order("New", store="globex"), ADMIN)
    assert globex["force_delete"].reason_details[0] == Reason(
        "force_delete.visible", "Globex never force-deletes orders.", {"action": "force_delete"})
    cancel = engine.evaluate(order("Shipped", store="globex", shipment=True, sent=True), MEMBER)
    assert cancel["request_cancellation"].reason_ids == ("request_cancellation.deny.fully-shipped",)


def test_not_offered_has_its_id(engine: policyengine.Engine) -> None:
    result = engine.bulk("request_cancellation", [order("Open", store="acme", sent=True, order_id="a"),
                                                   order("Open", store="globex", sent=True, order_id="g")],
                         MEMBER, decisions=True)
    acme, globex = result.decisions
    assert (acme.state, acme.reason_ids, dict(acme.reason_details[0].params)) == (
        "hidden", ("not-offered",), {"store": "acme"})
    assert acme.reasons == ("Not offered for store acme.",)
    assert globex.state == "enabled" and result.by_order_id == {"a": acme, "g": globex}


def test_reason_ids_line_up_with_reasons_everywhere(engine: policyengine.Engine) -> None:
    seen: set[str] = set()
    for status, shipment, sent, manual, role, store, channel in itertools.product(
            STATUSES, (False, True), (False, True), (False, True), ("admin", "member", "viewer"),
            ("acme", "globex", "kiosk"), ("shopify", "amazon")):
        result = engine.evaluate(order(status, store=store, shipment=shipment, sent=sent, manual=manual,
                                       channel=channel), {"role": role})
        for d in result.values():
            assert len(d.reason_ids) == len(d.reasons)
            assert tuple(r.text for r in d.reason_details) == d.reasons
            assert d.reasons_detail == d.reason_details  # the engine built them: no fallback
            seen.update(d.reason_ids)
    assert {"reset.allow", "reset.deny.has-shipment", "force_delete.visible", "delete.deny.amazon-order"} <= seen


def test_a_hand_made_decision_gets_derived_ids() -> None:
    problem = policyengine.FactProblem("order.status", "missing")
    decision = Decision("x", "X", "disabled", ("Nope.", f"could not be decided: {problem}"), errors=(problem,))
    digest = hashlib.sha256(b"Nope.").hexdigest()[:12]
    assert decision.reason_ids == (f"reason:{digest}", "fact-problem")
    assert decision.to_dict()["reason_ids"] == [f"reason:{digest}", "fact-problem"]


def test_decisions_and_effects_are_hashable_values(engine: policyengine.Engine) -> None:
    a = engine.evaluate(order("New", store="kiosk"), MEMBER)
    b = engine.evaluate(order("New", store="kiosk", channel="amazon"), MEMBER)
    assert {hash(d) for d in a.values()} == {hash(d) for d in b.values()} and a == b
    for cls in (policyengine.Decision, policyengine.Effect, Reason):
        assert cls.__hash__ is not object.__hash__
        with pytest.raises(AttributeError):
            next(iter(a.values())).state = "enabled"


# -- the JSON form ------------------------------------------------------------------------------------------------


def test_to_dict_lists_actions_in_menu_order_and_the_object_stays_a_mapping(engine: policyengine.Engine) -> None:
    result = engine.evaluate(order("Shipped", store="globex", shipment=True, sent=True), MEMBER)
    assert isinstance(result, Mapping) and result["reset"].state == "disabled"
    data = result.to_dict()
    assert list(data) == ["policy", "store_override", "revision", "actions", "errors"]
    assert [a["action"] for a in data["actions"]] == list(result) == [a.id for a in engine.store_policy("globex").actions]
    reset = data["actions"][list(result).index("reset")]
    assert reset["reasons"] == list(result["reset"].reasons)
    assert reset["reason_ids"] == ["reset.deny.has-shipment"]
    assert reset["reasons_detail"] == [r.to_dict() for r in result["reset"].reason_details]
    assert json.loads(json.dumps(data)) == data


def test_to_dict_is_cached_and_read_only_inside(engine: policyengine.Engine) -> None:
    result = engine.evaluate(order("New", store="kiosk"), MEMBER)
    first, second = result.to_dict(), result.to_dict()
    assert first == second and first is not second  # the top level is the caller's own
    assert first["actions"] is second["actions"]  # the inside is built once and shared
    first["mine"] = 1
    assert "mine" not in result.to_dict()
    with pytest.raises(TypeError, match="deepcopy"):
        first["actions"][0]["state"] = "enabled"
    with pytest.raises(TypeError):
        first["actions"].append({})
    with pytest.raises(TypeError):
        first["actions"][0]["effects"][0]["set"]["order.status"] = "x"
    edited = copy.deepcopy(result.to_dict())
    edited["actions"][0]["state"] = "hidden"
    assert type(edited["actions"]) is list and type(edited["actions"][0]) is dict
    assert result.to_dict()["actions"][0]["state"] == "enabled"
    assert pickle.loads(pickle.dumps(result.to_dict())) == result.to_dict()
    assert isinstance(first["actions"], list) and isinstance(first["actions"][0], dict)
    again = pickle.loads(pickle.dumps(result))
    assert again == result and again.to_dict() == result.to_dict() and again.items() == result.items()
    assert copy.deepcopy(result) == result


def test_provenance_free_form(engine: policyengine.Engine) -> None:
    result = engine.evaluate(order("Shipped", store="acme", shipment=True, sent=True), MEMBER)
    full, snap = result.to_dict(), result.to_dict(provenance=False)
    assert "revision" in full and "revision" not in snap
    for with_where, without in zip(full["actions"], snap["actions"], strict=True):
        assert [{k: v for k, v in s.items() if k != "where"} for s in with_where["source"]] == without["source"]
        assert all(":" in s["where"] for s in with_where["source"])
        assert {k: v for k, v in with_where.items() if k != "source"} == \
            {k: v for k, v in without.items() if k != "source"}


def test_reading_views(engine: policyengine.Engine) -> None:
    result = engine.evaluate(order("New", store="kiosk"), MEMBER)
    ids = list(engine.actions)
    assert list(result) == ids and list(result.keys()) == ids
    assert result.values() == tuple(result[i] for i in ids)
    assert result.items() == tuple((i, result[i]) for i in ids) and result.items() is result.items()
    assert "reset" in result and "nope" not in result and result.get("nope") is None
    assert result.get("reset") is result["reset"]
    assert result.keys() - {"reset"} == set(ids) - {"reset"}  # keys() stays set-like
    with pytest.raises(KeyError):
        result["nope"]


# -- per-order bulk decisions -------------------------------------------------------------------------------------


def test_bulk_decisions_are_each_orders_decision(engine: policyengine.Engine) -> None:
    orders = [order(status, store=store, shipment=shipment, sent=shipment, order_id=f"{store}-{status}-{shipment}")
              for status, store, shipment in itertools.product(STATUSES, ("acme", "globex", "kiosk"), (False, True))]
    orders.append({"status": "New"})  # no store: fails closed
    plain = engine.bulk("reprocess", orders, MEMBER)
    assert plain.decisions is None and "decisions" not in plain.to_dict()
    with pytest.raises(ValueError, match="decisions=True"):
        plain.by_order_id  # noqa: B018
    result = engine.bulk("reprocess", orders, MEMBER, decisions=True)
    assert (result.applicable, result.skipped, result.summary) == (plain.applicable, plain.skipped, plain.summary)
    assert len(result.decisions) == len(orders)
    for i, o in enumerate(orders[:-1]):
        assert result.decisions[i] == engine.evaluate(o, MEMBER)["reprocess"]
    assert result.decisions[-1].reason_ids == ("store-undecided",)
    # Reprocess's effects depend on the order: read them without a second evaluation
    abandoned = result.by_order_id["acme-Abandoned-False"]
    assert [dict(e.set) for e in abandoned.effects] == [{"order.status": "Open"}, {}]
    data = result.to_dict()
    assert [d["index"] for d in data["decisions"]] == list(range(len(orders)))
    assert data["decisions"][0]["order_id"] == "acme-New-False" and data["decisions"][-1]["order_id"] is None
    assert data["decisions"][0]["decision"] == result.decisions[0].to_dict()
    assert json.loads(json.dumps(data)) == data


def test_cli_bulk_decisions_and_evaluate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [order("Abandoned", order_id="A-1"), order("New", shipment=True, sent=True, order_id="A-2"),
             {"status": "New"}]
    orders = tmp_path / "orders.jsonl"
    orders.write_text("".join(json.dumps(o) + "\n" for o in lines))
    code, out, _ = run_cli(capsys, "bulk", str(POLICIES), "--action", "reprocess", "--orders", str(orders),
                           "--user", '{"role": "member"}', "--decisions")
    assert code == 0
    assert out.splitlines()[-4:] == ["  decisions:", "    A-1: enabled  order.status := Open, retry_last_step()",
                                     "    A-2: enabled  retry_last_step()",
                                     "    line 3: hidden  could not be decided: store.id: missing"]
    code, out, _ = run_cli(capsys, "bulk", str(POLICIES), "--action", "reset", "--orders", str(orders),
                           "--user", '{"role": "member"}', "--decisions", "--format", "json")
    data = json.loads(out)
    assert [(d["order_id"], d["decision"]["state"], d["decision"]["reason_ids"]) for d in data["decisions"]] == [
        ("A-1", "enabled", []), ("A-2", "disabled", ["reset.deny.has-shipment"]), (None, "hidden", ["store-undecided"])]
    code, out, _ = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(lines[1]), "--user",
                           '{"role": "member"}', "--format", "json")
    data = json.loads(out)
    assert code == 0 and [a["action"] for a in data["actions"]] == list(policyengine.load(POLICIES).actions)
    assert "revision" in data
    code, out, _ = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(lines[1]), "--user",
                           '{"role": "member"}', "--format", "json", "--no-provenance")
    snap = json.loads(out)
    assert "revision" not in snap and all("where" not in s for a in snap["actions"] for s in a["source"])


# -- the pytest helpers -------------------------------------------------------------------------------------------


def test_decisions_snapshot_is_plain_and_provenance_free(engine: policyengine.Engine) -> None:
    from policyengine.testing import decisions_snapshot

    result = engine.evaluate(order("Shipped", shipment=True, sent=True), MEMBER)
    snap = decisions_snapshot(result)
    assert snap == result.to_dict(provenance=False) and type(snap["actions"]) is list
    snap["actions"][0]["state"] = "x"  # the caller's own copy
    assert result.to_dict(provenance=False)["actions"][0]["state"] != "x"
    assert "revision" in decisions_snapshot(result, provenance=True)
    bulk = engine.bulk("reset", [order("New")], MEMBER, decisions=True)
    assert "where" not in json.dumps(decisions_snapshot(bulk))


def test_a_hosts_decision_snapshots_survive_a_comment(tmp_path: Path) -> None:
    """A QA engineer's syrupy snapshots of single results (the ``policy_decisions`` fixture, and ``to_dict``'s
    snapshot form directly) pass again after a comment line is added to the policy and from another directory."""
    import os
    import subprocess
    import sys
    import textwrap

    shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("tests", "invariants"))
    (tmp_path / "pytest.ini").write_text("[pytest]\npolicyengine_policies = policies\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["policyengine.testing"]\n')
    (tmp_path / "test_orders.py").write_text(textwrap.dedent("""\
        import pathlib
        import policyengine

        ORDER = {"status": "Shipped", "has_shipment": True, "sent_to_warehouse": True, "channel": "amazon",
                 "store": {"id": "acme", "manual_fulfillment": False}}

        def test_fixture(policy_decisions, snapshot):
            assert policy_decisions(ORDER, {"role": "member"}) == snapshot

        def test_to_dict(snapshot):
            engine = policyengine.load(pathlib.Path(__file__).parent / "policies")
            assert engine.evaluate(ORDER, {"role": "viewer"}).to_dict(provenance=False) == snapshot
        """))
    host_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd,
                              capture_output=True, text=True, env=host_env)

    first = run(tmp_path, "--snapshot-update")
    assert first.returncode == 0 and "2 snapshots generated" in first.stdout, first.stdout + first.stderr
    ambr = (tmp_path / "__snapshots__" / "test_orders.ambr").read_text("utf-8")
    assert "'reset.deny.has-shipment'" in ambr and "'revision'" not in ambr and "'where'" not in ambr
    assert "ReadOnly" not in ambr and "'actions': list([" in ambr
    base = tmp_path / "policies" / "order-actions.yaml"
    base.write_text("# reviewed by QA\n" + base.read_text("utf-8"), "utf-8")
    (tmp_path / "elsewhere").mkdir()
    second = run(tmp_path / "elsewhere", str(tmp_path), f"--rootdir={tmp_path}")
    assert second.returncode == 0 and "2 snapshots passed" in second.stdout, second.stdout + second.stderr
