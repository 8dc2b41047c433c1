"""The evaluated store is the proved store (issue 20, point 3), and a store file speaks only for its store (point 4).

A store's lock proofs fix ``store.id`` to the store's own id. A host that asks for a store (``store=`` of
``evaluate``, ``evaluate_many`` and ``bulk``, the service's ``"store"`` field, the CLI's ``--store``) for an order
whose ``store.id`` names another gets every action hidden, with the reason id ``store-mismatch``: a store's
policy never decides another store's order. The shipped set has acme and globex overrides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import refused, run_cli
from conftest import POLICIES
from overrides_support import BASE_TEXT, make_order, override, policy_tree, write_tree

import policyengine
from policyengine.service.live import LivePolicies

ADMIN = {"role": "admin"}
MISMATCH = "could not be decided: store.id: not the store asked for ('globex')"


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(POLICIES)


def _failed_closed(decisions: policyengine.Decisions, text: str = MISMATCH) -> bool:
    return all(d.state == "hidden" and [r.id for r in d.reasons_detail] == ["store-mismatch"] and
               list(d.reasons) == [text] for d in decisions.values()) and decisions.store_override is None


def test_a_store_asked_for_that_is_not_the_orders_fails_closed(engine: policyengine.Engine) -> None:
    order = make_order(store="acme")
    assert _failed_closed(engine.evaluate(order, ADMIN, store="globex"))
    assert [e.fact for e in engine.evaluate(order, ADMIN, store="globex").errors] == ["store.id"]
    assert all(_failed_closed(d) for d in engine.evaluate_many([(order, ADMIN)] * 3, store="globex"))
    with pytest.raises(policyengine.FactError, match="not the store asked for"):
        engine.evaluate(order, ADMIN, strict=True, store="globex")
    other = make_order(store="kiosk")  # a store without an override is no exception
    assert _failed_closed(engine.evaluate(other, ADMIN, store="globex"))
    assert _failed_closed(engine.evaluate(order, ADMIN, store="kiosk"), MISMATCH.replace("'globex'", "'kiosk'"))


@pytest.mark.parametrize("own", ["ACME", "acme\n", "acme ", ""])
def test_any_other_store_id_is_another_store(own: Any, engine: policyengine.Engine) -> None:
    decisions = engine.evaluate(make_order(store=own), ADMIN, store="acme")
    assert all(d.state == "hidden" and d.reasons_detail[0].id == "store-mismatch" for d in decisions.values())


@pytest.mark.parametrize("own", [5, ["acme"], None])
def test_a_bad_store_id_fails_closed_where_it_is_read(own: Any, engine: policyengine.Engine) -> None:
    """Not a store at all: the store asked for decides, and every condition reading store.id fails closed."""
    decisions = engine.evaluate(make_order(store=own), ADMIN, store="acme")
    assert decisions.store_override is not None and decisions.store_override.startswith("acme@")


def test_plans_follow_the_rule(engine: policyengine.Engine) -> None:
    from policyengine.runtime.plan import holds

    for own in ("acme", "globex", ...):
        facts: dict[str, Any] = {"order.status": "Error", "order.has_shipment": False, "order.sent_to_warehouse": False,
                                 "store.manual_fulfillment": True, "order.channel": "shopify"}
        order = make_order(channel="shopify")
        del order["store"]["id"]
        if own is not ...:
            facts["store.id"] = order["store"]["id"] = own
        for state in ("enabled", "hidden"):
            plan = engine.plan("reprocess", ADMIN, store="acme", state=state)
            decided = engine.evaluate(order, ADMIN, store="acme")["reprocess"].state
            assert holds(plan.condition, facts) is (decided == state), (own, state, decided)


def test_the_same_store_or_none_in_the_order_decides_as_asked(engine: policyengine.Engine) -> None:
    order = make_order(store="acme")
    assert engine.evaluate(order, ADMIN, store="acme").to_dict() == engine.evaluate(order, ADMIN).to_dict()
    without = make_order()
    del without["store"]["id"]
    decided = engine.evaluate(without, ADMIN, store="globex")
    assert decided.store_override is not None and decided.store_override.startswith("globex@")
    assert not any(r.id == "store-mismatch" for d in decided.values() for r in d.reasons_detail)


def test_bulk_skips_the_orders_of_another_store(engine: policyengine.Engine) -> None:
    orders = [make_order(store="acme", order_id="A-1"), make_order(store="globex", order_id="G-1")]
    result = engine.bulk("reprocess", orders, ADMIN, store="globex", decisions=True)
    assert result.decisions is not None
    assert [d.reasons_detail[0].id if d.reasons_detail else None for d in result.decisions] == ["store-mismatch", None]


def test_the_cli_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "evaluate", str(POLICIES), "--order", json.dumps(make_order(store="acme")),
                             "--user", json.dumps(ADMIN), "--store", "globex")
    assert code == 0
    assert err == ('policyengine evaluate: --store globex is not the order\'s store.id "acme": every action fails '
                   "closed (store-mismatch)\n")
    assert out.splitlines()[-1] == "  ! store.id: not the store asked for ('globex')"


def test_the_service_field_is_checked_alike(tmp_path: Path) -> None:
    """The service passes its ``"store"`` field to the engine: the same decision, through a live snapshot."""
    with LivePolicies(POLICIES, watch=False) as live:
        menu = live.snapshot().engine.evaluate(make_order(store="acme"), ADMIN, store="globex")
        assert _failed_closed(menu)


# -- point 4: a store file speaks only for its store -----------------------------------------------------------------
@pytest.mark.parametrize("place", ["stores/evil.yaml", "stores/team/evil.yml"])
def test_a_store_file_may_not_speak_for_another_store(place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = policy_tree(tmp_path, monkeypatch, {"order-actions.yaml": BASE_TEXT, place: override("initech")})
    assert refused(path, capsys) == [
        (f"p/{place}", 3, 8, "this file speaks for store 'evil' (its name), but declares store 'initech': a store "
         "override speaks only for the store it is named after",
         "rename the file to stores/initech.yaml, or declare store: evil")]


def test_nested_folders_keep_the_binding(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "p", {"order-actions.yaml": BASE_TEXT, "stores/eu/acme.yaml": override("acme"),
                                       "stores/us/globex.yml": override("globex")})
    assert policyengine.load(root).stores == ("acme", "globex")


def test_a_live_reload_refuses_a_file_speaking_for_another_store(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "p", {"order-actions.yaml": BASE_TEXT, "stores/acme.yaml": override("acme")})
    with LivePolicies(root, watch=False) as live:
        (root / "stores" / "evil.yaml").write_text(override("acme"), encoding="utf-8")
        record = live.reload()
        assert not record.ok and [(d.line, d.column, d.message) for d in record.diagnostics] == [
            (3, 8, "this file speaks for store 'evil' (its name), but declares store 'acme': a store override speaks "
                   "only for the store it is named after")]
        assert live.engine.stores == ("acme",)
