"""The seed article's behaviours, the public API's shape, failing closed, thread safety and adapters.

Everything here goes through the public API (``policyengine.load``, ``engine.evaluate``, ``Decisions``,
``Decision``, ``Effect``, ``FactError``, ``DefaultAdapter``), with orders given as plain dicts, dataclasses and
attrs objects, as a host application would.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import itertools
import json
import random
import sys
import threading
import types
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest
from conftest import BASE_FILE, BASE_STORE, DEFAULT_ACTIONS, POLICIES, ROLES, STATUSES, action_deps, make_order, read_path, store_ids

import policyengine
from policyengine import Decision, Decisions, Effect, FactError, FactProblem

SHIPMENT_REASON = ("The order already has a shipment; resetting would re-process an order the warehouse has already "
                   "worked.")
WAREHOUSE_REASON = "The order was already sent to the warehouse; archive it first."
READ_ONLY_REASON = "Read-only users can't change orders."

# -- the three shapes of input a host app passes ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DcStore:
    id: str
    manual_fulfillment: bool


@dataclasses.dataclass(frozen=True)
class DcOrder:
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: DcStore


@dataclasses.dataclass(frozen=True)
class DcUser:
    role: str


@attrs.frozen
class AtStore:
    id: str
    manual_fulfillment: bool


@attrs.frozen
class AtOrder:
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: AtStore


@attrs.define
class AtUser:
    role: str


def as_dicts(status: str, has_shipment: bool, sent: bool, manual: bool, role: str) -> tuple[Any, Any]:
    return make_order(status, has_shipment=has_shipment, sent_to_warehouse=sent, manual_fulfillment=manual), \
        {"role": role}


def as_dataclasses(status: str, has_shipment: bool, sent: bool, manual: bool, role: str) -> tuple[Any, Any]:
    return DcOrder(status, has_shipment, sent, DcStore(BASE_STORE, manual)), DcUser(role)


def as_attrs(status: str, has_shipment: bool, sent: bool, manual: bool, role: str) -> tuple[Any, Any]:
    return AtOrder(status, has_shipment, sent, AtStore(BASE_STORE, manual)), AtUser(role)


KINDS = {"dict": as_dicts, "dataclass": as_dataclasses, "attrs": as_attrs}


@pytest.fixture(params=list(KINDS))
def make(request: pytest.FixtureRequest, engine: policyengine.Engine) -> Callable[..., Decisions]:
    """``make(status, has_shipment=, sent=, manual=, role=)`` -> the engine's Decisions, for each input kind."""
    build = KINDS[request.param]

    def decide(status: str = "Error", *, has_shipment: bool = False, sent: bool = False, manual: bool = True,
               role: str = "member") -> Decisions:
        order, user = build(status, has_shipment, sent, manual, role)
        return engine.evaluate(order, user)

    return decide


# -- the seed article ------------------------------------------------------------------------------------------------


def test_all_actions_in_menu_order(make: Callable[..., Decisions]) -> None:
    decisions = make()
    assert list(decisions) == list(DEFAULT_ACTIONS)
    assert [d.label for d in decisions.values()] == ["Reprocess", "Edit", "Reset", "Archive", "Delete",
                                                     "Force Delete", "Schedule Process", "Revalidate"]


def test_reset_disabled_when_the_order_has_a_shipment(make: Callable[..., Decisions]) -> None:
    reset = make("Open", has_shipment=True)["reset"]
    assert reset.state == "disabled" and not reset.enabled and reset.visible
    assert reset.reasons == (SHIPMENT_REASON,)
    assert reset.errors == ()
    assert make("Open", has_shipment=False)["reset"].enabled


def test_reset_asks_confirmation_and_restarts_processing(make: Callable[..., Decisions]) -> None:
    reset = make("Error")["reset"]
    assert reset.enabled and reset.reasons == ()
    assert reset.confirm is not None and "destructive" in reset.confirm and "manual edits" in reset.confirm
    assert reset.effects == (Effect({"order.status": "New"}, "restart_processing"),)
    assert dict(reset.effects[0].set) == {"order.status": "New"}
    assert reset.effects[0].operation == "restart_processing"


def test_delete_disabled_once_sent_to_the_warehouse(make: Callable[..., Decisions]) -> None:
    delete = make("Open", sent=True)["delete"]
    assert delete.state == "disabled"
    assert delete.reasons == (WAREHOUSE_REASON,)
    assert "archive it first" in delete.reasons[0]
    fresh = make("New", sent=False)["delete"]
    assert fresh.enabled and fresh.reasons == ()
    assert fresh.confirm is not None and "permanently" in fresh.confirm
    assert fresh.effects == (Effect(operation="delete_order"),)


def test_force_delete_only_for_admins_and_bypasses_the_guard(make: Callable[..., Decisions]) -> None:
    admin = make("Open", sent=True, role="admin")
    assert admin["delete"].state == "disabled" and admin["delete"].reasons == (WAREHOUSE_REASON,)
    force = admin["force_delete"]
    assert force.enabled and force.reasons == ()
    assert force.confirm is not None and "sparingly" in force.confirm
    assert force.effects == (Effect(operation="delete_order"),)
    for role in ("member", "viewer"):
        hidden = make("Open", sent=True, role=role)["force_delete"]
        assert hidden.state == "hidden" and not hidden.visible
        assert hidden.reasons == ("Only account admins can force-delete orders.",)


@pytest.mark.parametrize("status", STATUSES)
def test_schedule_process_only_for_pending_orders_of_manual_stores(make: Callable[..., Decisions],
                                                                    status: str) -> None:
    for manual in (False, True):
        schedule = make(status, manual=manual)["schedule_process"]
        if manual and status == "Pending":
            assert schedule.enabled and schedule.effects == (Effect(operation="schedule_processing"),)
        else:
            assert schedule.state == "hidden"
            assert schedule.reasons == ("Only for Pending orders of stores with manual order fulfillment.",)


@pytest.mark.parametrize("status", STATUSES)
def test_revalidate_only_for_error_orders_of_manual_stores(make: Callable[..., Decisions], status: str) -> None:
    for manual in (False, True):
        revalidate = make(status, manual=manual)["revalidate"]
        if manual and status == "Error":
            assert revalidate.enabled and revalidate.effects == (Effect(operation="revalidate"),)
        else:
            assert revalidate.state == "hidden"
            assert revalidate.reasons == ("Only for orders in Error of stores with manual order fulfillment.",)


@pytest.mark.parametrize("status", STATUSES)
def test_archive_hidden_only_for_archived_orders(make: Callable[..., Decisions], status: str) -> None:
    archive = make(status)["archive"]
    if status == "Archived":
        assert archive.state == "hidden" and archive.reasons == ("The order is already archived.",)
        assert archive.effects == ()
    else:
        assert archive.enabled
        assert archive.effects == (Effect({"order.status": "Archived"}, "stop_processing"),)


def test_reprocess_moves_an_abandoned_order_back_to_open(make: Callable[..., Decisions]) -> None:
    reprocess = make("Abandoned")["reprocess"]
    assert reprocess.enabled
    assert reprocess.effects == (Effect({"order.status": "Open"}), Effect(operation="retry_last_step"))
    assert make("Archived")["reprocess"].effects == (Effect(operation="resume_processing"),)
    assert make("Error")["reprocess"].effects == (Effect(operation="retry_last_step"),)


def test_edit_opens_the_edit_form(make: Callable[..., Decisions]) -> None:
    edit = make("Shipped", has_shipment=True, sent=True)["edit"]
    assert edit.enabled and edit.confirm is None and edit.effects == (Effect(operation="open_edit_form"),)


def test_viewers_can_use_nothing(engine: policyengine.Engine) -> None:
    for build in KINDS.values():
        for status, has_shipment, sent, manual in itertools.product(STATUSES, *[(False, True)] * 3):
            decisions = engine.evaluate(*build(status, has_shipment, sent, manual, "viewer"))
            assert not any(d.enabled for d in decisions.values())
            for decision in decisions.values():
                assert decision.reasons, decision
                if decision.visible:
                    assert READ_ONLY_REASON in decision.reasons


def test_admins_and_members_differ_only_in_force_delete(engine: policyengine.Engine) -> None:
    for status, has_shipment, sent, manual in itertools.product(STATUSES, *[(False, True)] * 3):
        admin = engine.evaluate(*as_dicts(status, has_shipment, sent, manual, "admin"))
        member = engine.evaluate(*as_dicts(status, has_shipment, sent, manual, "member"))
        assert [a for a in DEFAULT_ACTIONS if admin[a] != member[a]] == ["force_delete"]


def test_input_kinds_give_identical_decisions(engine: policyengine.Engine) -> None:
    for args in itertools.product(STATUSES, (False, True), (False, True), (False, True), ROLES):
        results = [engine.evaluate(*build(*args)) for build in KINDS.values()]
        assert results[0] == results[1] == results[2], args
        assert results[0].to_dict() == results[1].to_dict() == results[2].to_dict()


def test_mixed_objects_and_mappings(engine: policyengine.Engine) -> None:
    """An attrs order whose store is a read-only Mapping, a user given as a SimpleNamespace."""
    order = AtOrder("Pending", False, False, types.MappingProxyType({"id": BASE_STORE, "manual_fulfillment": True}))  # type: ignore[arg-type]
    decisions = engine.evaluate(order, types.SimpleNamespace(role="member"))
    assert decisions["schedule_process"].enabled and decisions.errors == ()


# -- the public API's shape ----------------------------------------------------------------------------------------


def test_decisions_is_a_read_only_mapping_in_policy_order(engine: policyengine.Engine) -> None:
    decisions = engine.evaluate(make_order(), {"role": "member"})
    assert isinstance(decisions, Mapping) and not isinstance(decisions, MutableMapping)
    assert list(decisions) == list(decisions.keys()) == list(engine.actions) == list(DEFAULT_ACTIONS)
    assert len(decisions) == 8 and "reset" in decisions and "nope" not in decisions
    assert [d.action for d in decisions.values()] == list(DEFAULT_ACTIONS)
    assert all(isinstance(d, Decision) for d in decisions.values())
    assert decisions.get("nope") is None
    with pytest.raises(KeyError):
        decisions["nope"]
    with pytest.raises(TypeError):
        decisions["reset"] = decisions["edit"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del decisions["reset"]  # type: ignore[attr-defined]
    assert not hasattr(decisions, "update") and not hasattr(decisions, "pop")


def test_decision_properties(engine: policyengine.Engine) -> None:
    decisions = engine.evaluate(make_order("Archived", has_shipment=True), {"role": "member"})
    reset, archive, edit = decisions["reset"], decisions["archive"], decisions["edit"]
    assert (reset.action, reset.label, reset.state, reset.enabled, reset.visible) == \
        ("reset", "Reset", "disabled", False, True)
    assert (archive.state, archive.enabled, archive.visible) == ("hidden", False, False)
    assert (edit.state, edit.enabled, edit.visible, edit.reasons, edit.errors) == ("enabled", True, True, (), ())
    assert isinstance(reset.reasons, tuple) and isinstance(reset.effects, tuple) and isinstance(reset.errors, tuple)


def test_to_dict_is_json_serialisable_with_stable_key_order(engine: policyengine.Engine) -> None:
    order, user = make_order("Abandoned", sent_to_warehouse=True), {"role": "admin"}
    data = engine.evaluate(order, user).to_dict()
    text = json.dumps(data)
    assert json.loads(text) == data
    assert {"actions", "errors"} <= set(data)
    assert isinstance(data["actions"], list)  # a JSON array, in menu order, for front ends
    assert [entry["action"] for entry in data["actions"]] == list(DEFAULT_ACTIONS)
    core = ["action", "label", "state", "visible", "enabled", "reasons", "reason_ids", "reasons_detail", "confirm",
            "effects", "errors"]
    for entry in data["actions"]:
        assert [k for k in entry if k in core] == core
        for effect in entry["effects"]:
            assert list(effect) == ["set", "operation"]
    # the key order is the same whatever the decisions are
    shapes = set()
    for args in itertools.product(STATUSES, (False, True), (False, True), (False, True), ROLES):
        other = engine.evaluate(*as_dicts(*args)).to_dict()
        shapes.add((tuple(other), *(tuple(e) for e in other["actions"])))
    broken = engine.evaluate(None, None).to_dict()
    shapes.add((tuple(broken), *(tuple(e) for e in broken["actions"])))
    assert len(shapes) == 1
    by_id = {entry["action"]: entry for entry in data["actions"]}
    assert by_id["reprocess"]["effects"] == [{"set": {"order.status": "Open"}, "operation": None},
                                                        {"set": {}, "operation": "retry_last_step"}]
    assert by_id["delete"]["reasons"] == [WAREHOUSE_REASON]
    assert by_id["delete"]["reason_ids"] == ["delete.deny.sent-to-warehouse"]
    assert data["errors"] == []
    # the same decisions, from another input kind and another evaluation, serialise to the very same text
    again = engine.evaluate(*as_attrs("Abandoned", False, True, True, "admin")).to_dict()
    assert json.dumps(again) == text


def test_to_dict_with_errors_is_json_serialisable(engine: policyengine.Engine) -> None:
    order = make_order()
    del order["has_shipment"]
    data = engine.evaluate(order, {"role": "member"}).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert [e["fact"] for e in data["errors"]] == ["order.has_shipment"]
    by_id = {entry["action"]: entry for entry in data["actions"]}
    assert [e["fact"] for e in by_id["reset"]["errors"]] == ["order.has_shipment"]
    assert by_id["edit"]["errors"] == []


def test_decisions_and_effects_are_immutable(engine: policyengine.Engine) -> None:
    decisions = engine.evaluate(make_order(), {"role": "member"})
    reset = decisions["reset"]
    effect = reset.effects[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reset.state = "enabled"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reset.reasons = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        effect.operation = "rm_rf"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        effect.set = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        effect.set["order.status"] = "Shipped"  # type: ignore[index]
    with pytest.raises(AttributeError):
        reset.brand_new = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        engine.policy = None  # type: ignore[misc]
    assert reset.effects == (Effect({"order.status": "New"}, "restart_processing"),)
    # hashable, so they can be cached and shared
    assert len({reset, engine.evaluate(make_order(), {"role": "member"})["reset"]}) == 1
    assert hash(decisions) == hash(engine.evaluate(make_order(), {"role": "member"}))


def test_effect_defaults() -> None:
    effect = Effect()
    assert dict(effect.set) == {} and effect.operation is None
    assert Effect({"order.status": "Open"}) == Effect({"order.status": "Open"}, None)
    assert Effect({"order.status": "Open"}) != Effect({"order.status": "New"})


def test_equal_effects_hash_equal() -> None:
    a = Effect({"order.status": "New", "order.rush": False})
    b = Effect({"order.rush": False, "order.status": "New"})
    assert a == b
    assert hash(a) == hash(b)


# -- failing closed --------------------------------------------------------------------------------------------------

# What each action of the shipped policy depends on, read off policies/order-actions.yaml by hand.
DEPS = {
    "reprocess": {"user.role", "order.status"},  # order.status through its conditional effects
    "edit": {"user.role"},
    "reset": {"user.role", "order.has_shipment"},
    "archive": {"user.role", "order.status"},
    "delete": {"user.role", "order.sent_to_warehouse"},
    "force_delete": {"user.role"},
    "schedule_process": {"user.role", "order.status", "store.manual_fulfillment"},
    "revalidate": {"user.role", "order.status", "store.manual_fulfillment"},
}
VALID = {"order.status": STATUSES, "order.has_shipment": (False, True), "order.sent_to_warehouse": (False, True),
         "store.manual_fulfillment": (False, True), "user.role": ROLES}


def test_hand_written_dependencies_match_the_compiled_policy(engine: policyengine.Engine) -> None:
    assert action_deps(engine.policy) == DEPS


class Boom(RuntimeError):
    pass


class FailingAdapter(policyengine.DefaultAdapter):
    """A host adapter whose shipment lookup is down."""

    def __init__(self, fact_name: str, exc: Exception) -> None:
        self.fact_name, self.exc = fact_name, exc

    def getter(self, fact: policyengine.FactSpec) -> policyengine.Getter:
        if fact.name == self.fact_name:
            def broken(order: Any, user: Any) -> Any:
                raise self.exc
            return broken
        return super().getter(fact)


def _without(order: dict[str, Any], key: str) -> dict[str, Any]:
    order = dict(order)
    del order[key]
    return order


# (id, order, user, adapter or None, {bad fact: words its problem message must contain})
BAD_CASES = [
    ("missing-fact", _without(make_order("Open"), "has_shipment"), {"role": "member"}, None,
     {"order.has_shipment": "missing"}),
    ("missing-store", _without(make_order("Pending"), "store"), {"role": "member"}, None,
     {"store.manual_fulfillment": "missing"}),
    ("missing-user-role", make_order("Open"), {}, None, {"user.role": "missing"}),
    ("user-is-none", make_order("Open"), None, None, {"user.role": "missing"}),
    ("order-is-none", None, {"role": "admin"}, None,
     {"order.status": "missing", "order.has_shipment": "missing", "order.sent_to_warehouse": "missing",
      "store.manual_fulfillment": "missing"}),
    ("wrong-type-bool", make_order("Open", has_shipment="yes"), {"role": "member"}, None,  # type: ignore[arg-type]
     {"order.has_shipment": "yes"}),
    ("int-for-bool", make_order("Open", sent_to_warehouse=1), {"role": "member"}, None,  # type: ignore[arg-type]
     {"order.sent_to_warehouse": "int"}),
    ("wrong-type-enum", make_order(7), {"role": "member"}, None, {"order.status": "int"}),  # type: ignore[arg-type]
    ("undeclared-enum-value", make_order("Shiped"), {"role": "admin"}, None, {"order.status": "Shiped"}),
    ("undeclared-role", make_order("Open"), {"role": "superuser"}, None, {"user.role": "superuser"}),
    ("wrong-case-enum", make_order("error"), {"role": "member"}, None, {"order.status": "error"}),
    ("null-value", make_order("Error", manual_fulfillment=None), {"role": "member"}, None,  # type: ignore[arg-type]
     {"store.manual_fulfillment": "null"}),
    ("null-status", make_order(None), {"role": "member"}, None, {"order.status": "null"}),  # type: ignore[arg-type]
    ("nested-junk", {**make_order("Open"), "store": ["manual_fulfillment", True]}, {"role": "member"}, None,
     {"store.manual_fulfillment": "missing"}),
    ("adapter-raises", make_order("Open"), {"role": "member"},
     FailingAdapter("order.has_shipment", Boom("shipment service down")),
     {"order.has_shipment": "shipment service down"}),
    ("adapter-raises-for-role", make_order("Open"), {"role": "member"},
     FailingAdapter("user.role", ValueError("directory timeout")), {"user.role": "directory timeout"}),
]


def _store_id(order: Any) -> Any:
    try:
        store_id = read_path(order, ("store", "id"))
    except Exception:
        return None
    return store_id if isinstance(store_id, str) else None


def _substitutions(order: Any, user: Any, bad: set[str]) -> list[tuple[Any, Any]]:
    """The same inputs with every bad fact replaced by each of its valid values (all combinations)."""
    out = []
    base_order = dict(order) if isinstance(order, dict) else {}
    base_user = dict(user) if isinstance(user, dict) else {}
    for combo in itertools.product(*(VALID[f] for f in sorted(bad - {"store.id"}))):
        o = {k: v for k, v in base_order.items()}
        u = dict(base_user)
        store = o.get("store")
        o["store"] = {**(store if isinstance(store, dict) else {}), "id": _store_id(order) or BASE_STORE}
        for fact, value in zip(sorted(bad - {"store.id"}), combo, strict=True):
            if fact == "user.role":
                u["role"] = value
            elif fact == "store.manual_fulfillment":
                o["store"]["manual_fulfillment"] = value
            else:
                o[fact.split(".")[1]] = value
        out.append((o, u))
    return out


@pytest.mark.parametrize("policies", ["base-file", "policies-dir"])
@pytest.mark.parametrize(("order", "user", "adapter", "bad"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_facts_fail_closed(order: Any, user: Any, adapter: Any, bad: dict[str, str], policies: str) -> None:
    engine = policyengine.load(BASE_FILE if policies == "base-file" else POLICIES, adapter=adapter)
    deps = {a: set(d) for a, d in DEPS.items()}
    bad = dict(bad)
    if store_ids(engine) and _store_id(order) is None:
        # with store overrides loaded, the store id picks the policy: without it, nothing can be decided
        bad["store.id"] = ""
        deps = {a: d | {"store.id"} for a, d in deps.items()}
    decisions = engine.evaluate(order, user)
    assert list(decisions) == list(DEFAULT_ACTIONS)

    # decisions.errors lists the bad facts some decision could not be made without (three-valued `and`/`or`: a
    # bad fact that another operand overrules changes nothing), each with a message saying why
    problems = {p.fact: p for p in decisions.errors}
    assert set(problems) <= set(bad)
    for fact, words in bad.items():
        if fact not in problems:
            continue
        assert isinstance(problems[fact], FactProblem)
        assert words in problems[fact].message, problems[fact]

    valid_inputs = _substitutions(order, user, set(bad))
    for action_id, decision in decisions.items():
        affected = deps[action_id] & set(bad)
        if affected:
            # no action is enabled because of an error, and the decision says why
            assert not decision.enabled, decision
            if decision.errors:
                assert {p.fact for p in decision.errors} <= set(bad)
                assert decision.reasons
                if not (decision.state == "hidden" and {p.fact for p in decision.errors} == {"store.id"}):
                    # (a hidden decision made unusable by the store id keeps its own reason: see
                    # test_hidden_decisions_say_the_store_could_not_be_determined)
                    assert any(p.fact in reason for p in decision.errors for reason in decision.reasons), decision
            else:
                # no error recorded: then the decision must not depend on the bad fact at all
                assert {engine.evaluate(o, u)[action_id] for o, u in valid_inputs} == {decision}
        else:
            # unaffected actions are decided normally
            assert decision.errors == ()
            assert {engine.evaluate(o, u)[action_id] for o, u in valid_inputs} == {decision}

    with pytest.raises(FactError) as raised:
        engine.evaluate(order, user, strict=True)
    assert isinstance(raised.value, policyengine.PolicyError)
    assert {p.fact for p in raised.value.problems} == set(bad)  # strict: every bad fact, whether it mattered or not
    assert set(raised.value.problems) >= set(decisions.errors)
    for fact in bad:
        assert fact in str(raised.value)


def test_hidden_decisions_say_the_store_could_not_be_determined(engine: policyengine.Engine) -> None:
    if not store_ids(engine):
        pytest.skip("no store override is shipped")
    order = make_order("Open")
    del order["store"]["id"]
    decisions = engine.evaluate(order, {"role": "member"})
    assert not any(d.enabled for d in decisions.values())
    for decision in decisions.values():
        assert [p.fact for p in decision.errors] == ["store.id"]
        assert any("store.id" in reason for reason in decision.reasons), decision


def test_missing_shipment_disables_reset_only(engine: policyengine.Engine) -> None:
    order = _without(make_order("Open"), "has_shipment")
    decisions = engine.evaluate(order, {"role": "member"})
    reset = decisions["reset"]
    assert reset.state == "disabled"
    assert reset.errors == (FactProblem("order.has_shipment", "missing"),)
    assert len(reset.reasons) == 1 and "order.has_shipment" in reset.reasons[0]
    assert reset.confirm is not None and reset.effects == (Effect({"order.status": "New"}, "restart_processing"),)
    assert [a for a, d in decisions.items() if d.errors] == ["reset"]
    assert [a for a, d in decisions.items() if d.enabled] == ["reprocess", "edit", "archive", "delete"]


def test_undeclared_status_hides_what_depends_on_it(engine: policyengine.Engine) -> None:
    decisions = engine.evaluate(make_order("Shiped"), {"role": "admin"})
    assert decisions["reprocess"].state == "disabled"
    for action_id in ("archive", "schedule_process", "revalidate"):
        assert decisions[action_id].state == "hidden"
        assert decisions[action_id].errors and "order.status" in decisions[action_id].reasons[0]
    assert [a for a, d in decisions.items() if d.enabled] == ["edit", "reset", "delete", "force_delete"]


def test_bad_role_enables_nothing(engine: policyengine.Engine) -> None:
    for role in (None, "", "Admin", "root", 1, True, ["admin"], {"role": "admin"}):
        decisions = engine.evaluate(make_order("Pending"), {"role": role})
        assert not any(d.enabled for d in decisions.values()), role
        assert {p.fact for p in decisions.errors} == {"user.role"}


def test_adapter_exception_fails_closed_and_strict_raises() -> None:
    engine = policyengine.load(POLICIES, adapter=FailingAdapter("order.sent_to_warehouse", Boom("db down")))
    decisions = engine.evaluate(make_order("Open"), {"role": "admin"})
    delete = decisions["delete"]
    assert delete.state == "disabled"
    assert [p.fact for p in delete.errors] == ["order.sent_to_warehouse"]
    assert "db down" in delete.errors[0].message and "Boom" in delete.errors[0].message
    assert decisions["force_delete"].enabled  # it does not read order.sent_to_warehouse
    with pytest.raises(FactError) as raised:
        engine.evaluate(make_order("Open"), {"role": "admin"}, strict=True)
    assert [p.fact for p in raised.value.problems] == ["order.sent_to_warehouse"]


def test_strict_with_good_facts_returns_the_same_decisions(engine: policyengine.Engine) -> None:
    for args in itertools.product(STATUSES, (False, True), (False, True), (False, True), ROLES):
        order, user = as_dicts(*args)
        assert engine.evaluate(order, user, strict=True) == engine.evaluate(order, user)


class Status(enum.StrEnum):
    NEW = "New"
    PENDING = "Pending"
    QUEUED = "Queued"
    BUNDLED = "Bundled"
    ROUTED = "Routed"
    OPEN = "Open"
    PARTIALLY_SHIPPED = "Partially Shipped"
    SHIPPED = "Shipped"
    ERROR = "Error"
    SKIPPED = "Skipped"
    CLOSED = "Closed"
    ABANDONED = "Abandoned"
    ARCHIVED = "Archived"


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


def test_str_enum_values_give_the_same_decisions_as_plain_strings(engine: policyengine.Engine) -> None:
    assert [s.value for s in Status] == list(STATUSES)
    for status, has_shipment, sent, manual, role in itertools.product(Status, (False, True), (False, True),
                                                                      (False, True), Role):
        plain = engine.evaluate(*as_dicts(str(status.value), has_shipment, sent, manual, str(role.value)))
        enum_status = engine.evaluate(*as_dicts(status, has_shipment, sent, manual, str(role.value)))
        both = engine.evaluate(*as_attrs(status, has_shipment, sent, manual, role))
        assert enum_status == plain and both == plain
        assert enum_status.errors == () and both.errors == ()
        assert enum_status.to_dict() == plain.to_dict()
        assert engine.evaluate(*as_dicts(status, has_shipment, sent, manual, role), strict=True) == plain


def test_undeclared_str_enum_value_fails_closed(engine: policyengine.Engine) -> None:
    class Other(enum.StrEnum):
        LOST = "Lost"

    decisions = engine.evaluate(make_order(Other.LOST), {"role": "member"})  # type: ignore[arg-type]
    assert [p.fact for p in decisions.errors] == ["order.status"] and "Lost" in decisions.errors[0].message
    assert not decisions["archive"].visible and not decisions["reprocess"].enabled


# -- thread safety ---------------------------------------------------------------------------------------------------


def _random_inputs(rng: random.Random) -> tuple[Any, Any]:
    status: Any = rng.choice(STATUSES + ("Shiped", None))
    has_shipment, sent, manual = (rng.random() < 0.5 for _ in range(3))
    role = rng.choice(ROLES + ("ghost",))
    if rng.random() < 0.1 and status in STATUSES:
        status = Status(status)  # the fail-closed path, with good facts
    if rng.random() < 0.3:
        return as_attrs(status, has_shipment, sent, manual, role)
    order, user = as_dicts(status, has_shipment, sent, manual, role)
    if rng.random() < 0.05:
        del order["has_shipment"]
    if rng.random() < 0.05:
        order["store"] = None
    return order, user


def test_threads_get_exactly_the_sequential_results(engine: policyengine.Engine) -> None:
    rng = random.Random(20240611)
    inputs = [_random_inputs(rng) for _ in range(500)]
    expected = [engine.evaluate(o, u) for o, u in inputs]
    assert any(d.errors for d in expected) and any(not d.errors for d in expected)  # both paths are exercised
    threads, per_thread = 8, 2000
    barrier = threading.Barrier(threads)

    def work(seed: int) -> list[tuple[int, Decisions]]:
        picker = random.Random(seed)
        picks = [picker.randrange(len(inputs)) for _ in range(per_thread)]
        barrier.wait()
        return [(i, engine.evaluate(*inputs[i])) for i in picks]

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(work, range(threads)))
    finally:
        sys.setswitchinterval(old)
    assert sum(len(r) for r in results) == threads * per_thread
    for result in results:
        for i, decisions in result:
            assert decisions == expected[i]
            assert decisions.to_dict() == expected[i].to_dict()


# -- adapters --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ShopOrder:
    """A host app's own order model: nothing is named like the policy's facts."""

    state: str
    shipments: list[str]
    warehouse_ref: str | None
    settings: dict[str, Any]


@dataclasses.dataclass
class Account:
    permissions: set[str]


class ShopAdapter(policyengine.DefaultAdapter):
    def getter(self, fact: policyengine.FactSpec) -> policyengine.Getter:
        getters: dict[str, policyengine.Getter] = {
            "order.status": lambda order, user: order.state.title(),
            "order.has_shipment": lambda order, user: bool(order.shipments),
            "order.sent_to_warehouse": lambda order, user: order.warehouse_ref is not None,
            "store.manual_fulfillment": lambda order, user: order.settings["fulfillment"] == "manual",
            "user.role": lambda order, user: ("admin" if "admin" in user.permissions else
                                              "member" if "write" in user.permissions else "viewer"),
            "store.id": lambda order, user: order.settings.get("store", BASE_STORE),
        }
        return getters.get(fact.name) or super().getter(fact)


def test_custom_adapter_reads_the_facts() -> None:
    engine = policyengine.load(POLICIES, adapter=ShopAdapter())
    order = ShopOrder("pending", shipments=[], warehouse_ref="WH-1", settings={"fulfillment": "manual"})
    decisions = engine.evaluate(order, Account({"write"}))
    assert decisions.errors == ()
    assert decisions["schedule_process"].enabled  # Pending (via .title()) in a manual store
    assert decisions["delete"].reasons == (WAREHOUSE_REASON,)  # warehouse_ref is set
    assert decisions["reset"].enabled  # no shipments
    assert decisions["force_delete"].state == "hidden"  # not an admin

    shipped = ShopOrder("error", shipments=["1Z999"], warehouse_ref=None, settings={"fulfillment": "auto"})
    decisions = engine.evaluate(shipped, Account({"admin"}))
    assert decisions["reset"].reasons == (SHIPMENT_REASON,)
    assert decisions["delete"].enabled and decisions["force_delete"].enabled
    assert decisions["revalidate"].state == "hidden"  # automatic store

    assert not any(d.enabled for d in engine.evaluate(shipped, Account(set())).values())
    # the default adapter cannot read this model: everything fails closed
    default = policyengine.load(BASE_FILE).evaluate(shipped, Account({"admin"}))
    assert not any(d.enabled for d in default.values()) and len(default.errors) == 5


class CountingAdapter(policyengine.DefaultAdapter):
    """Records which facts the engine asks getters for, and how often each getter is called."""

    def __init__(self) -> None:
        self.requested: list[str] = []
        self.reads: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def getter(self, fact: policyengine.FactSpec) -> policyengine.Getter:
        self.requested.append(fact.name)
        inner = super().getter(fact)

        def counted(order: Any, user: Any) -> Any:
            with self.lock:
                self.reads[fact.name] += 1
            return inner(order, user)

        return counted


NEEDED = {"order.status", "order.has_shipment", "order.sent_to_warehouse", "store.manual_fulfillment", "user.role"}


def test_each_needed_fact_is_read_once_per_evaluation() -> None:
    adapter = CountingAdapter()
    engine = policyengine.load(BASE_FILE, adapter=adapter)
    assert sorted(adapter.requested) == sorted(NEEDED)  # getters are made once, for needed facts only
    requested = list(adapter.requested)

    engine.evaluate(make_order(), {"role": "member"})
    assert adapter.reads == {name: 1 for name in NEEDED}

    # the fail-closed path does not read anything again
    adapter.reads.clear()
    decisions = engine.evaluate(make_order("Shiped", has_shipment=None), {"role": 3})  # type: ignore[arg-type]
    assert decisions.errors
    assert adapter.reads == {name: 1 for name in NEEDED}

    adapter.reads.clear()
    for args in itertools.product(STATUSES, (False, True), (False, True), (False, True), ROLES):
        engine.evaluate(*as_attrs(*args))
    assert adapter.reads == {name: 312 for name in NEEDED}
    assert adapter.requested == requested  # no getter is made per evaluation


class Store:
    """A store whose id must not be read."""

    manual_fulfillment = True

    @property
    def id(self) -> str:
        raise AssertionError("store.id was read")


def test_store_id_is_never_read_by_the_base_policy() -> None:
    adapter = CountingAdapter()
    engine = policyengine.load(BASE_FILE, adapter=adapter)
    decisions = engine.evaluate({"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
                                 "store": Store()}, {"role": "member"})
    assert decisions["revalidate"].enabled and decisions.errors == ()
    assert "store.id" not in adapter.requested and adapter.reads["store.id"] == 0
    # and an order without any store id is fine
    order = make_order()
    del order["store"]["id"]
    assert engine.evaluate(order, {"role": "member"}).errors == ()


def test_store_id_is_read_once_only_to_pick_a_store_override() -> None:
    adapter = CountingAdapter()
    engine = policyengine.load(POLICIES, adapter=adapter)
    if not store_ids(engine):
        # no store override is shipped: the store id is never needed
        decisions = engine.evaluate({"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
                                     "store": Store()}, {"role": "member"})
        assert decisions.errors == () and adapter.reads["store.id"] == 0
        return
    engine.evaluate(make_order(), {"role": "member"})
    assert adapter.reads["store.id"] == 1
    assert {name: adapter.reads[name] for name in NEEDED} == {name: 1 for name in NEEDED}


def test_the_store_is_read_alike_from_dicts_objects_and_mixes(engine: policyengine.Engine) -> None:
    """The store dispatch reads ``store.id`` inline from dicts and through the adapter otherwise: same store."""
    fields = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False, "channel": "amazon"}
    store = {"id": "acme", "manual_fulfillment": True}
    as_dict = {**fields, "store": store}
    store_object = {**fields, "store": types.SimpleNamespace(**store)}  # a dict order holding an object
    as_object = types.SimpleNamespace(**fields, store=types.MappingProxyType(store))  # an object holding a Mapping
    results = [engine.evaluate(order, {"role": "member"}) for order in (as_dict, store_object, as_object)]
    assert [r.store_override for r in results] == ["acme@1"] * 3
    assert results[0] == results[1] == results[2]
    assert results[0]["delete"].reasons == ("Amazon orders are imported again after a delete; archive it instead.",)
