"""Bulk order actions (issue 3): one action over many selected orders, possibly of different stores.

``Engine.bulk`` must agree with evaluating each order alone; the others are grouped by reason (largest group first,
ties by first index) with input indexes and order ids; orders with bad facts are skipped with
``could not be decided: ...`` and never applicable. ``evaluate_many`` is a loop of ``evaluate``. The CLI
(``policyengine bulk``, ``policyengine evaluate --store``) is checked on exact output.

Mixed-store equivalence runs on the shipped policies (acme, globex and stores without an override); exact texts run
on the frozen base copy (tests/golden/overrides/order-actions.yaml) plus overrides written here, so that editing the
shipped policies does not break them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from overrides_support import BASE, HAS_SHIPMENT, SENT, SHIPPED, make_order, override, write_tree

import policyengine
from policyengine import Decision, FactError
from policyengine.cli import main

ADMIN, MEMBER, VIEWER = {"role": "admin"}, {"role": "member"}, {"role": "viewer"}


@pytest.fixture(scope="module")
def shipped() -> policyengine.Engine:
    engine = policyengine.load(SHIPPED)
    assert {"acme", "globex"} <= set(engine.stores)
    return engine


def _mixed_orders() -> list[Any]:
    """Orders of acme, globex and two stores without an override, over statuses, shipment and channel, plus
    orders with bad facts; every third one has no id, some have integer ids."""
    orders: list[Any] = []
    stores = ("acme", "globex", "corner-shop", "kiosk")
    for n, (store, status, shipment, channel, manual) in enumerate(itertools.product(
            stores, ("New", "Pending", "Open", "Shipped", "Error", "Archived"), (False, True), ("shopify", "amazon"),
            (False, True))):
        sent = shipment or status in ("Open", "Shipped")
        order = make_order(status, store=store, has_shipment=shipment, sent_to_warehouse=sent,
                           manual_fulfillment=manual, channel=channel)
        if n % 3:
            order["id"] = f"{store}-{n}" if n % 5 else n
        orders.append(order)
    bad = [
        make_order("Error", store="acme", has_shipment=None, order_id="bad-null-shipment", channel="shopify"),
        make_order("Eror", store="globex", order_id="bad-status"),
        make_order("Error", store="corner-shop", sent_to_warehouse="yes", order_id="bad-sent-type"),
        make_order("Error", store="acme", order_id="bad-no-channel"),  # acme's guards read order.channel
        {"id": "bad-no-store", "status": "Error", "has_shipment": False, "sent_to_warehouse": False},
        {**make_order("Error", store=7, channel="shopify"), "id": "bad-store-type"},
        {"id": "bad-empty"},
    ]
    # interleave the bad ones
    for i, order in enumerate(bad):
        orders.insert(7 * i + 3, order)
    return orders


MIXED = _mixed_orders()


def _why_not(decision: Decision) -> str:
    return f"could not be decided: {decision.errors[0]}" if decision.errors else decision.reasons[0]


def _order_id(order: Any) -> str | None:
    value = order.get("id") if isinstance(order, dict) else getattr(order, "id", None)
    return None if value is None else str(value)


def _expected(engine: policyengine.Engine, action: str, orders: list[Any], user: Any,
              store: str | None = None) -> dict[str, Any]:
    """What bulk must say, from evaluating each order alone."""
    applicable, groups = [], {}
    for i, order in enumerate(orders):
        decisions = engine.evaluate(order, user, store=store)
        decision = decisions.get(action)
        if decision is None:
            owner = decisions.store_override
            reason = f"Not offered for store {owner.split('@')[0]}." if owner else "Not offered for this store."
        elif decision.enabled:
            assert decision.errors == ()
            applicable.append(i)
            continue
        else:
            reason = _why_not(decision)
        groups.setdefault(reason, []).append(i)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
    return {
        "applicable": {"count": len(applicable), "indexes": applicable,
                       "order_ids": [_order_id(orders[i]) for i in applicable]},
        "skipped": [{"reason": reason, "count": len(idx), "indexes": idx,
                     "order_ids": [_order_id(orders[i]) for i in idx]} for reason, idx in ordered],
    }


BASE_ACTION_IDS = ("reprocess", "edit", "reset", "archive", "delete", "force_delete", "schedule_process",
                   "revalidate")


@pytest.mark.parametrize("action", BASE_ACTION_IDS)
@pytest.mark.parametrize("user", [ADMIN, MEMBER, VIEWER], ids=["admin", "member", "viewer"])
def test_mixed_store_bulk_equals_evaluating_each_order_alone(shipped: policyengine.Engine, action: str,
                                                            user: dict[str, str]) -> None:
    result = shipped.bulk(action, MIXED, user)
    data = result.to_dict()
    assert (result.action, result.total, data["action"], data["total"]) == (action, len(MIXED), action, len(MIXED))
    assert {"applicable": data["applicable"], "skipped": data["skipped"]} == _expected(shipped, action, MIXED, user)
    # every order is accounted for exactly once
    everyone = list(result.applicable) + [i for g in result.skipped for i in g.indexes]
    assert sorted(everyone) == list(range(len(MIXED)))
    # groups: largest first, ties by first index
    keys = [(-len(g.indexes), g.indexes[0]) for g in result.skipped]
    assert keys == sorted(keys) and len({g.reason for g in result.skipped}) == len(result.skipped)
    # bad facts are never applicable
    for i in result.applicable:
        assert shipped.evaluate(MIXED[i], user)[action].errors == ()
    # the summary counts what the groups hold
    assert result.summary.startswith(f"{result.label} {len(result.applicable)} of {len(MIXED)} orders")
    assert result.summary.count(" skipped: ") == len(result.skipped)
    for group in result.skipped:
        assert f"; {len(group.indexes)} skipped: " in result.summary


def test_the_mixed_orders_cover_every_kind_of_outcome(shipped: policyengine.Engine) -> None:
    """Guard against a silent fixture: the mixed orders do exercise stores, hidden, disabled and bad facts."""
    reset = shipped.bulk("reset", MIXED, MEMBER)
    reasons = {g.reason for g in reset.skipped}
    assert HAS_SHIPMENT in reasons
    assert any(r.startswith("The warehouse already shipped part of this order") for r in reasons)  # acme's wording
    assert "could not be decided: order.has_shipment: missing (null)" in reasons
    assert any(r.startswith("could not be decided: store.id: ") for r in reasons)
    force = shipped.bulk("force_delete", MIXED, ADMIN)
    assert "Globex never force-deletes orders." in {g.reason for g in force.skipped}
    assert force.applicable
    delete = shipped.bulk("delete", MIXED, MEMBER)
    assert "could not be decided: order.channel: missing" in {g.reason for g in delete.skipped}
    assert {type(i) for i in delete.applicable_ids} == {str, type(None)}


def test_an_action_only_one_store_has(shipped: policyengine.Engine) -> None:
    orders = [o for o in MIXED if isinstance(o.get("store"), dict) and isinstance(o["store"].get("id"), str)]
    result = shipped.bulk("request_cancellation", orders, MEMBER)
    assert result.label == "Request Cancellation"
    data = result.to_dict()
    assert {"applicable": data["applicable"], "skipped": data["skipped"]} == _expected(
        shipped, "request_cancellation", orders, MEMBER)
    reasons = {g.reason for g in result.skipped}
    assert {"Not offered for store acme.", "Not offered for this store."} <= reasons
    assert result.applicable and all(orders[i]["store"]["id"] == "globex" for i in result.applicable)


def test_an_order_whose_store_is_unknown_is_skipped_as_undecided_for_every_action(shipped: policyengine.Engine) -> None:
    orders = [{"id": "no-store", "status": "Open", "has_shipment": False, "sent_to_warehouse": True},
              {**make_order("Open", store=7, sent_to_warehouse=True), "id": "int-store"}]
    result = shipped.bulk("request_cancellation", orders, MEMBER)
    assert [(g.reason, g.order_ids) for g in result.skipped] == [
        ("could not be decided: store.id: missing", ("no-store",)),
        ("could not be decided: store.id: expected a string, got int 7", ("int-store",)),
    ]


def test_bulk_as_one_store(shipped: policyengine.Engine) -> None:
    orders = [o for o in MIXED[:40] if "status" in o]
    result = shipped.bulk("force_delete", orders, ADMIN, store="globex")
    assert result.applicable == ()
    data = result.to_dict()
    assert {"applicable": data["applicable"], "skipped": data["skipped"]} == _expected(
        shipped, "force_delete", orders, ADMIN, store="globex")


# -- exact summaries, grouping, ids ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> policyengine.Engine:
    return policyengine.load(BASE)


def _orders(n: int, **kw: Any) -> list[dict[str, Any]]:
    return [make_order(store="corner", order_id=f"o{i}", **kw) for i in range(n)]


def test_summary_reset_47_of_50(base: policyengine.Engine) -> None:
    orders = _orders(50)
    for i in (4, 17, 33):
        orders[i] = make_order("Shipped", store="corner", has_shipment=True, sent_to_warehouse=True,
                               order_id=f"o{i}")
    result = base.bulk("reset", orders, MEMBER)
    assert result.summary == ("Reset 47 of 50 orders; 3 skipped: the order already has a shipment; resetting would "
                              "re-process an order the warehouse has already worked")
    assert len(result.applicable) == 47 and 4 not in result.applicable
    assert [(g.reason, g.indexes, g.order_ids) for g in result.skipped] == [
        (HAS_SHIPMENT, (4, 17, 33), ("o4", "o17", "o33"))]
    assert result.applicable_ids[:4] == ("o0", "o1", "o2", "o3")


@pytest.mark.parametrize(("orders", "summary"), [
    ([], "Reset 0 of 0 orders"),
    ([make_order()], "Reset 1 of 1 order"),
    ([make_order(has_shipment=True)], "Reset 0 of 1 order; 1 skipped: the order already has a shipment; resetting "
                                      "would re-process an order the warehouse has already worked"),
])
def test_summary_counts(base: policyengine.Engine, orders: list[Any], summary: str) -> None:
    assert base.bulk("reset", orders, MEMBER).summary == summary


def test_groups_largest_first_ties_by_first_index(base: policyengine.Engine) -> None:
    orders: list[Any] = [
        make_order("Error", order_id="ok"),                               # 0 applicable
        make_order("Archived", order_id="arch-1"),                        # 1 hidden: already archived
        {"id": "no-status-1", "has_shipment": False, "store": {"id": "x", "manual_fulfillment": True}},  # 2
        {"id": "no-status-2", "store": {"id": "x"}},                      # 3 bad status: could not be decided
        make_order("Archived", order_id="arch-2"),                        # 4
        make_order("Open", order_id="ok-2"),                              # 5 applicable
        {**make_order("Archived"), "status": "Archivd", "id": "typo"},    # 6 undeclared status
        make_order("Archived", order_id="arch-3"),                        # 7
    ]
    result = base.bulk("archive", orders, MEMBER)
    assert result.applicable == (0, 5) and result.applicable_ids == ("ok", "ok-2")
    assert [(g.reason, g.indexes) for g in result.skipped] == [
        ("The order is already archived.", (1, 4, 7)),
        ("could not be decided: order.status: missing", (2, 3)),
        ("could not be decided: order.status: 'Archivd' is not a declared value (expected one of: New, Pending, "
         "Queued, Bundled, Routed, Open, Partially Shipped, Shipped, Error, Skipped, Closed, Abandoned, Archived)",
         (6,)),
    ]
    assert result.summary.startswith("Archive 2 of 8 orders; 3 skipped: the order is already archived; 2 skipped: "
                                     "could not be decided: order.status: missing; 1 skipped: could not be decided: ")
    # a tie: two groups of two, the one seen first comes first
    tie = base.bulk("archive", [orders[2], orders[1], orders[3], orders[4]], MEMBER)
    assert [(g.reason, g.indexes) for g in tie.skipped] == [
        ("could not be decided: order.status: missing", (0, 2)), ("The order is already archived.", (1, 3))]


def test_bad_facts_the_action_reads_are_skipped_never_applicable(base: policyengine.Engine) -> None:
    orders = [make_order(has_shipment=None, order_id="null"), make_order(has_shipment="no", order_id="str"),
              make_order(order_id="fine")]
    del orders[2]["status"]  # reset does not read the status: decided as evaluate decides it alone
    result = base.bulk("reset", orders, MEMBER)
    assert result.applicable_ids == ("fine",)
    assert base.evaluate(orders[2], MEMBER)["reset"].enabled
    assert [(g.reason, g.order_ids) for g in result.skipped] == [
        ("could not be decided: order.has_shipment: missing (null)", ("null",)),
        ("could not be decided: order.has_shipment: expected true/false, got str 'no'", ("str",)),
    ]


def test_hidden_orders_are_skipped_with_their_reason(base: policyengine.Engine) -> None:
    result = base.bulk("force_delete", _orders(3), MEMBER)
    assert result.applicable == ()
    assert [(g.reason, g.indexes) for g in result.skipped] == [("Only account admins can force-delete orders.",
                                                               (0, 1, 2))]
    assert result.summary == "Force Delete 0 of 3 orders; 3 skipped: only account admins can force-delete orders"


@dataclasses.dataclass(frozen=True)
class DcStore:
    id: str
    manual_fulfillment: bool


@dataclasses.dataclass(frozen=True)
class DcOrder:
    id: Any
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: DcStore


@attrs.frozen
class AtOrder:
    id: Any
    status: str
    has_shipment: bool
    sent_to_warehouse: bool
    store: Any


def test_order_ids_from_mappings_dataclasses_and_attrs(base: policyengine.Engine) -> None:
    store = DcStore("corner", True)
    orders: list[Any] = [
        make_order(order_id="dict-id"),
        DcOrder("dc-id", "Error", False, False, store),
        AtOrder(42, "Error", False, False, store),
        AtOrder(None, "Error", False, False, {"id": "corner", "manual_fulfillment": True}),
        make_order(),  # no id
        DcOrder("dc-sent", "Open", False, True, store),
    ]
    result = base.bulk("delete", orders, MEMBER)
    assert result.applicable_ids == ("dict-id", "dc-id", "42", None, None)
    assert [(g.reason, g.indexes, g.order_ids) for g in result.skipped] == [(SENT, (5,), ("dc-sent",))]
    assert result.to_dict()["applicable"] == {"count": 5, "indexes": [0, 1, 2, 3, 4],
                                              "order_ids": ["dict-id", "dc-id", "42", None, None]}


def test_the_summary_label_is_not_another_stores(tmp_path: Path) -> None:
    engine = policyengine.load(write_tree(tmp_path / "p", {
        "order-actions.yaml": BASE,
        "stores/zeta.yaml": override("zeta", "actions:\n  archive: {label: Archive (stop processing)}")}))
    orders = _orders(2)
    assert [engine.evaluate(o, MEMBER)["archive"].label for o in orders] == ["Archive", "Archive"]
    assert engine.bulk("archive", orders, MEMBER).summary == "Archive 2 of 2 orders"


def test_unknown_action_raises_key_error_with_did_you_mean(shipped: policyengine.Engine) -> None:
    for action, message in [("rest", "unknown action 'rest'; did you mean 'reset'?"),
                            ("request_cancelation",
                             "unknown action 'request_cancelation'; did you mean 'request_cancellation'?"),
                            ("xyzzy", "unknown action 'xyzzy'")]:
        with pytest.raises(KeyError) as raised:
            shipped.bulk(action, MIXED[:3], MEMBER)
        assert raised.value.args == (message,)


# -- evaluate_many ------------------------------------------------------------------------------------------------


def _pairs() -> Iterator[tuple[Any, Any]]:
    users = [ADMIN, MEMBER, VIEWER, {"role": "root"}, {}]
    for i, order in enumerate(MIXED):
        yield order, users[i % len(users)]


def test_evaluate_many_equals_a_loop_of_evaluate(shipped: policyengine.Engine) -> None:
    pairs = list(_pairs())
    many = shipped.evaluate_many(iter(pairs))  # any iterable, consumed once
    assert len(many) == len(pairs)
    assert many == [shipped.evaluate(o, u) for o, u in pairs]
    assert [d.to_dict() for d in many] == [shipped.evaluate(o, u).to_dict() for o, u in pairs]
    assert {d.store_override for d in many} >= {None, "acme@1", "globex@2"}
    as_globex = shipped.evaluate_many(pairs, store="globex")
    assert as_globex == [shipped.evaluate(o, u, store="globex") for o, u in pairs]
    assert shipped.evaluate_many([]) == []


def test_evaluate_many_strict_raises_like_evaluate(shipped: policyengine.Engine) -> None:
    good = [(make_order(store="acme", channel="shopify"), MEMBER), (make_order(store="globex"), ADMIN)]
    assert shipped.evaluate_many(good, strict=True) == [shipped.evaluate(o, u, strict=True) for o, u in good]
    with pytest.raises(FactError) as raised:
        shipped.evaluate_many([*good, (make_order(store="acme"), MEMBER)], strict=True)
    assert [p.fact for p in raised.value.problems] == ["order.channel"]


# -- CLI ------------------------------------------------------------------------------------------------------

NORTH = override("north", """
actions:
  force_delete:
    hidden: true
  reset:
    deny:
      - id: errors
        when: order.status == 'Error'
        reason: North fixes errors by hand.
""", version=2)

LINES = [
    {"id": "A-1", "status": "Error", "has_shipment": False, "sent_to_warehouse": False,
     "store": {"id": "north", "manual_fulfillment": True}},
    {"id": "A-2", "status": "Open", "has_shipment": False, "sent_to_warehouse": True,
     "store": {"id": "north", "manual_fulfillment": True}},
    {"status": "Shipped", "has_shipment": True, "sent_to_warehouse": True,
     "store": {"id": "south", "manual_fulfillment": False}},
    {"id": 7, "status": "Open", "has_shipment": False, "sent_to_warehouse": True,
     "store": {"id": "south", "manual_fulfillment": False}},
    {"id": "A-5", "status": "Error", "sent_to_warehouse": False, "store": {"id": "south", "manual_fulfillment": True}},
]


@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path / "policies", {"order-actions.yaml": BASE, "stores/north.yaml": NORTH})
    (tmp_path / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in LINES), "utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bulk_table(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "bulk", "policies", "--action", "reset", "--orders", "orders.jsonl",
                          "--user", '{"role": "member"}')
    assert (code, err) == (0, "")
    assert out == (
        "Reset 2 of 5 orders; 1 skipped: north fixes errors by hand; 1 skipped: the order already has a shipment; "
        "resetting would re-process an order the warehouse has already worked; 1 skipped: could not be decided: "
        "order.has_shipment: missing\n"
        "  applies to (2): A-2, 7\n"
        "  skipped (1): North fixes errors by hand.\n"
        "    A-1\n"
        f"  skipped (1): {HAS_SHIPMENT}\n"
        "    line 3\n"
        "  skipped (1): could not be decided: order.has_shipment: missing\n"
        "    A-5\n"
    )


def test_cli_bulk_json(cli_dir: Path, capsys: pytest.CaptureFixture[str], snapshot: Any) -> None:
    user = cli_dir / "user.json"
    user.write_text('{"role": "admin"}', "utf-8")
    code, out, err = _run(capsys, "bulk", "policies", "--action", "force_delete", "--orders", "orders.jsonl",
                          "--user", str(user), "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data == {
        "action": "force_delete", "label": "Force Delete", "total": 5,
        "applicable": {"count": 3, "indexes": [2, 3, 4], "order_ids": [None, "7", "A-5"]},
        "skipped": [{"reason": "Not offered for store north.", "count": 2, "indexes": [0, 1],
                     "order_ids": ["A-1", "A-2"]}],
        "summary": "Force Delete 3 of 5 orders; 2 skipped: not offered for store north",
    }
    engine = policyengine.load("policies")
    assert data == engine.bulk("force_delete", LINES, {"role": "admin"}).to_dict()
    assert out == snapshot


def test_cli_bulk_as_one_store(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "bulk", "policies", "--action", "force_delete", "--orders", "orders.jsonl",
                        "--user", '{"role": "admin"}', "--store", "north")
    assert code == 0
    assert out.splitlines()[0] == ("Force Delete 0 of 5 orders; 3 skipped: could not be decided: store.id: not the store "
                                   "asked for ('north'); 2 skipped: not offered for store north")  # south's fail closed


def test_cli_bulk_names_orders_without_id_by_their_line(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cli_dir / "gaps.jsonl").write_text("\n".join(["", json.dumps(LINES[2]), "", json.dumps(LINES[0])]) + "\n",
                                        "utf-8")
    code, out, _ = _run(capsys, "bulk", "policies", "--action", "reset", "--orders", "gaps.jsonl",
                        "--user", '{"role": "member"}')
    assert code == 0
    assert "    line 2\n" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--action", "rest", "--orders", "orders.jsonl"], "unknown action 'rest'; did you mean 'reset'?"),
    (["--action", "reset", "--orders", "missing.jsonl"],
     "--orders: cannot read missing.jsonl (No such file or directory)"),
    (["--action", "reset", "--orders", "broken.jsonl"],
     "--orders: broken.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes"),
    (["--action", "reset", "--orders", "."], "--orders: cannot read . (Is a directory)"),
])
def test_cli_bulk_bad_usage_exits_2(cli_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                    message: str) -> None:
    (cli_dir / "broken.jsonl").write_text('{"id": "ok"}\n{oops}\n', "utf-8")
    code, out, err = _run(capsys, "bulk", "policies", *argv, "--user", '{"role": "member"}')
    assert (code, out, err) == (2, "", f"policyengine bulk: {message}\n")


def test_cli_bulk_requires_its_arguments(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["bulk", "policies", "--orders", "orders.jsonl", "--user", "{}"])
    assert raised.value.code == 2
    assert "the following arguments are required: --action" in capsys.readouterr().err


def _force_delete_state(table: str) -> list[str]:
    return [line.split()[2] for line in table.splitlines() if line.startswith("  Force Delete ")]


def test_cli_evaluate_store_changes_the_decision(shipped: policyengine.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """An acme order for an admin: Force Delete is enabled as acme, hidden when decided as globex."""
    order = json.dumps(make_order("Error", store="acme", channel="shopify"))
    args = ["evaluate", str(SHIPPED), "--order", order, "--user", '{"role": "admin"}']
    acme, globex = shipped.store_override("acme"), shipped.store_override("globex")
    assert acme is not None and globex is not None

    code, as_acme, _ = _run(capsys, *args)
    assert code == 0
    assert as_acme.splitlines()[0] == f"order-actions@{acme.base_version} + store override acme@{acme.override.version}"
    assert _force_delete_state(as_acme) == ["enabled"]

    storeless = json.dumps(make_order("Error", store="acme", channel="shopify") | {"store": {"manual_fulfillment": True}})
    code, as_globex, _ = _run(capsys, "evaluate", str(SHIPPED), "--order", storeless, "--user", '{"role": "admin"}',
                              "--store", "globex")
    assert code == 0
    assert as_globex.splitlines()[0] == (f"order-actions@{globex.base_version} + store override "
                                         f"globex@{globex.override.version}")
    assert _force_delete_state(as_globex) == ["hidden"]

    code, as_json, _ = _run(capsys, *args, "--store", "globex", "--format", "json")
    assert code == 0
    data = json.loads(as_json)
    assert data == shipped.evaluate(json.loads(order), ADMIN, store="globex").to_dict()
    by_id = {entry["action"]: entry for entry in data["actions"]}
    assert by_id["force_delete"]["state"] == "hidden" and "request_cancellation" not in by_id  # acme's: fails closed
    assert {i for entry in data["actions"] for i in entry["reason_ids"]} == {"store-mismatch"}


def test_cli_evaluate_store_table_exact(cli_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    south = {**LINES[3], "store": {k: v for k, v in LINES[3]["store"].items() if k != "id"}}
    order = json.dumps(south)  # a south order without its store.id (south has no override), decided as north
    code, out, err = _run(capsys, "evaluate", "policies", "--order", order, "--user", '{"role": "admin"}',
                          "--store", "north")
    assert (code, err) == (0, "")
    assert out == (
        "order-actions@1 + store override north@2\n"
        "  ACTION            STATE     WHY / WHAT IT DOES\n"
        "  Reprocess         enabled   retry_last_step()\n"
        "  Edit              enabled   open_edit_form()\n"
        "  Reset             enabled   order.status := New, restart_processing(), asks to confirm\n"
        "  Archive           enabled   order.status := Archived, stop_processing()\n"
        f"  Delete            disabled  {SENT}\n"
        "  Force Delete      hidden    Not offered for store north.\n"
        "  Schedule Process  hidden    Only for Pending orders of stores with manual order fulfillment.\n"
        "  Revalidate        hidden    Only for orders in Error of stores with manual order fulfillment.\n"
    )
    code, plain, _ = _run(capsys, "evaluate", "policies", "--order", json.dumps(LINES[3]), "--user", '{"role": "admin"}')
    assert plain.splitlines()[0] == "order-actions@1"
    assert "  Force Delete      enabled   delete_order(), asks to confirm" in plain.splitlines()


class _OneByOne(policyengine.DefaultAdapter):
    """An adapter of a host that names orders itself, one at a time (no ``order_ids``)."""

    order_ids = None  # type: ignore[assignment]

    def order_id(self, order: Any) -> str | None:
        return f"#{order['ref']}" if "ref" in order else None


class _Nameless(policyengine.DefaultAdapter):
    order_ids = None  # type: ignore[assignment]
    order_id = None  # type: ignore[assignment]


def test_bulk_ids_come_from_order_ids_then_order_id_then_nowhere() -> None:
    orders = [{**make_order("Error"), "id": "x1", "ref": 1}, {**make_order("Error", has_shipment=True), "id": 7},
              make_order("Error")]
    results = [policyengine.load(BASE, adapter=adapter).bulk("reset", orders, MEMBER)
               for adapter in (policyengine.DefaultAdapter(), _OneByOne(), _Nameless())]
    by_kind = [(r.applicable_ids, [g.order_ids for g in r.skipped]) for r in results]
    assert by_kind == [(("x1", None), [("7",)]), (("#1", None), [(None,)]), ((None, None), [(None,)])]
