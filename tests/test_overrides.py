"""Store overrides (issue 3): locks enforced on meaning, exact diagnostics for bad overrides, merge semantics.

Bad overrides are golden cases, as in tests/test_diagnostics.py: ``tests/golden/overrides/cases/<case>.yaml`` (one
override, loaded as ``<case>/stores/s1.yaml``) or ``cases/<case>/`` (a directory), each loaded next to a frozen
copy of the base policy (``tests/golden/overrides/order-actions.yaml``), with the exact diagnostics in
``tests/golden/overrides/expected.yaml``. Every case runs through ``policyengine.load`` and through
``policyengine validate`` (text and JSON).

Accepted overrides (narrowing, stricter guards, rewording) and the merge rules are checked through ``evaluate``.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from cli_support import Row, cli_blocks, printed, rows
from overrides_support import (
    ADMINS_ONLY,
    BASE,
    BASE_ACTIONS,
    BASE_TEXT,
    GOLDEN,
    HAS_SHIPMENT,
    READ_ONLY,
    SENT,
    SHIPPED_BASE,
    base_version,
    make_order,
    override,
    where,
    write_tree,
)

import policyengine
from policyengine import Diagnostic, FactError, PolicyError
from policyengine.cli import EXIT_LOAD, main
from policyengine.errors import FactProblem

CASES = GOLDEN / "cases"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load((GOLDEN / "expected.yaml").read_text("utf-8"))
FIELDS = {"file", "line", "column", "message", "hint"}

# Cases whose current diagnostic is wrong or poor: expected.yaml holds what it SHOULD be (strict xfail until fixed).
KNOWN_DEFECTS: dict[str, str] = {}

# Requirement 1: every way of widening a lock, one case each (they are also in EXPECTED).
LOCK_CASES = (
    "drop-locked-guard",                        # drops delete's locked sent-to-warehouse
    "weaken-locked-guard",                      # reset's has-shipment made to fire less often
    "weaken-locked-guard-never-fires",          # ... never
    "weaken-locked-guard-to-unrelated-fact",    # ... on another fact
    "weaken-locked-guard-through-condition",    # ... through a named condition of the store's
    "locked-guard-non-finite-fact",             # ... reading a string fact: cannot be proved
    "force-delete-visible-to-members",          # visible: can_act
    "force-delete-visible-with-reason",         # visible: {when: ..., reason: ...}
    "force-delete-redefine-is-admin",           # conditions: is_admin redefined
    "force-delete-hidden-false",                # hidden: false + visible: 'true'
    "force-delete-visible-true-bool",           # visible: true (a YAML boolean)
    "force-delete-visible-or-true",             # is_admin or true
    "force-delete-visible-new-condition",       # a new condition that only looks like an admin check
    "force-delete-visible-via-action-reference",  # actions.delete.visible
    "force-delete-visible-via-store-fact",      # is_admin redefined on a fact the store adds
    "force-delete-allow-widened",               # allow: can_act
    "force-delete-allow-widened-not-visible",   # allow widened although visibility still hides it
    "lock-on-non-finite-fact",                  # visible reads store.id: cannot be proved
    "lock-space-too-large",                     # too many combinations to check
    "new-action-and-locks-together",            # every problem reported at once
)


# -- golden harness -------------------------------------------------------------------------------------------


def _params(cases: Any) -> list[Any]:
    return [pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[case]))
            if case in KNOWN_DEFECTS else case for case in cases]


def _prepare(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: Path = BASE) -> str:
    """Copy the case into ``tmp_path/<case>/`` (next to ``base`` unless it brings its own policy); chdir there."""
    source, target = CASES / case, tmp_path / case
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        (target / "stores").mkdir(parents=True)
        shutil.copyfile(CASES / f"{case}.yaml", target / "stores" / "s1.yaml")
    if not any("kind: ActionPolicy" in p.read_text("utf-8") for p in target.rglob("*.y*ml")):
        shutil.copyfile(base, target / "order-actions.yaml")
    monkeypatch.chdir(tmp_path)
    return case




def _expected(case: str) -> list[Row]:
    return [(e.get("file", f"{case}/stores/s1.yaml"), e["line"], e["column"], e["message"], e.get("hint"))
            for e in EXPECTED[case]]


@pytest.mark.parametrize("case", _params(EXPECTED))
def test_api(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    with pytest.raises(PolicyError) as info:
        policyengine.load(target)
    assert all(type(d) is Diagnostic for d in info.value.diagnostics)
    assert rows(info.value.diagnostics) == _expected(case)


@pytest.mark.parametrize("case", _params(EXPECTED))
def test_cli(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    code = main(["validate", target])
    out, err = capsys.readouterr()
    assert code == EXIT_LOAD == 3
    assert out == ""
    assert cli_blocks(err) == printed(_expected(case))


@pytest.mark.parametrize("case", _params(EXPECTED))
def test_cli_json(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    target = _prepare(case, tmp_path, monkeypatch)
    assert main(["validate", "--format", "json", target]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(d["file"], d["line"], d["column"], d["message"], d["hint"]) for d in report["diagnostics"]] == \
        _expected(case)


def test_every_case_is_complete() -> None:
    names = {p.name.removesuffix(".yaml") for p in CASES.iterdir()}
    assert sorted(names - EXPECTED.keys()) == [], "cases without an entry in expected.yaml"
    assert sorted(EXPECTED.keys() - names) == [], "entries in expected.yaml without a case"
    assert set(LOCK_CASES) <= names
    assert set(KNOWN_DEFECTS) <= names
    for case, entries in EXPECTED.items():
        assert isinstance(entries, list) and entries, case
        for entry in entries:
            assert {"line", "column", "message"} <= entry.keys() <= FIELDS, (case, entry)
        expected = _expected(case)
        assert [r[:3] for r in expected] == sorted(r[:3] for r in expected), f"{case}: not in file/line/column order"


_LOCK_AT = re.compile(r"(?P<file>[\w./-]+/order-actions\.yaml):(?P<line>\d+):(?P<column>\d+)")


@pytest.mark.parametrize("case", LOCK_CASES)
def test_lock_diagnostics_point_at_the_override_and_name_the_lock(case: str) -> None:
    """Each lock diagnostic is located in the override file, at a line the override has, and names (in its message
    or hint) the base line where the lock is declared: a ``locked`` key."""
    base_lines = BASE_TEXT.splitlines()
    locks = [e for e in _expected(case) if "lock" in e[3]]
    assert locks, case
    for file, line, column, message, hint in locks:
        assert file == f"{case}/stores/s1.yaml"
        override_lines = (CASES / f"{case}.yaml").read_text("utf-8").splitlines()
        assert 1 <= line <= len(override_lines) and column <= len(override_lines[line - 1])
        named = [m for m in _LOCK_AT.finditer(f"{message} {hint}")]
        assert len(named) == 1, (message, hint)
        lock = named[0]
        assert lock["file"] == f"{case}/order-actions.yaml"
        assert base_lines[int(lock["line"]) - 1][int(lock["column"]) - 1:].startswith("locked:")


def _normalised(found: list[Row]) -> list[tuple[Any, ...]]:
    return [(file, line, column, _LOCK_AT.sub("<base>", message), _LOCK_AT.sub("<base>", hint or ""))
            for file, line, column, message, hint in found]


@pytest.mark.parametrize("case", LOCK_CASES)
def test_the_shipped_base_keeps_the_same_locks(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden base is a frozen copy: the shipped policy must refuse each lock case the same way (positions in
    the base aside), or the copy (and these cases) need reviewing."""
    target = _prepare(case, tmp_path, monkeypatch, base=SHIPPED_BASE)
    with pytest.raises(PolicyError) as info:
        policyengine.load(target)
    assert _normalised(rows(info.value.diagnostics)) == _normalised(_expected(case))


# -- accepted overrides: narrowing, stricter, reworded -------------------------------------------------------


def _engine(tmp_path: Path, *overrides: str, base: str | Path = BASE) -> policyengine.Engine:
    files: dict[str, str | Path] = {"order-actions.yaml": base}
    # a store file is named after its store (stores/<id>.yaml)
    files.update({f"stores/{re.search(r'^store: (.+)$', text, re.M).group(1)}.yaml": text  # type: ignore[union-attr]
                  for text in overrides})
    return policyengine.load(write_tree(tmp_path / "policies", files))


ADMIN, MEMBER, VIEWER = {"role": "admin"}, {"role": "member"}, {"role": "viewer"}


def _states(engine: policyengine.Engine, order: dict[str, Any], user: dict[str, Any]) -> dict[str, str]:
    return {a: d.state for a, d in engine.evaluate(order, user).items()}


def test_stricter_locked_guard_is_accepted_and_fires_more_often(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
actions:
  reset:
    replace_deny:
      has-shipment:
        when: order.has_shipment or order.status == 'Shipped'
"""))
    assert engine.stores == ("s1",)
    # fires where the base does, with the base's reason (only the condition was replaced)
    shipped = engine.evaluate(make_order("Open", store="s1", has_shipment=True, sent_to_warehouse=True), MEMBER)
    assert shipped["reset"].state == "disabled" and shipped["reset"].reasons == (HAS_SHIPMENT,)
    # and where the base does not
    odd = make_order("Shipped", store="s1", has_shipment=False, sent_to_warehouse=True)
    assert engine.evaluate(odd, MEMBER)["reset"].reasons == (HAS_SHIPMENT,)
    assert engine.evaluate({**odd, "store": {**odd["store"], "id": "elsewhere"}}, MEMBER)["reset"].enabled


def test_stricter_locked_guard_on_a_store_fact_is_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
facts:
  order.on_hold: {type: bool}
actions:
  reset:
    replace_deny:
      has-shipment:
        when: order.has_shipment or order.on_hold
        reason: Shipped or on hold.
"""))
    for shipment, hold in itertools.product((False, True), repeat=2):
        decision = engine.evaluate(make_order(store="s1", has_shipment=shipment, on_hold=hold), MEMBER)["reset"]
        assert decision.enabled is not (shipment or hold)
        assert decision.reasons == (() if decision.enabled else ("Shipped or on hold.",))


def test_rewording_a_locked_guard_is_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
actions:
  reset:
    replace_deny:
      has-shipment: {reason: Ask ops before resetting a shipped order.}
  delete:
    replace_deny:
      sent-to-warehouse: {when: order.sent_to_warehouse == true, reason: Archive it first.}
"""))
    for shipment in (False, True):
        order = make_order("Open", store="s1", has_shipment=shipment, sent_to_warehouse=True)
        decisions = engine.evaluate(order, MEMBER)
        assert decisions["reset"].reasons == (("Ask ops before resetting a shipped order.",) if shipment else ())
        assert decisions["delete"].reasons == ("Archive it first.",)


@pytest.mark.parametrize("body", [
    'conditions:\n  is_admin: "\'admin\' == user.role"',
    "conditions:\n  is_admin: user.role in ['admin']",
    "actions:\n  force_delete:\n    visible: \"user.role == 'admin' and user.role != 'viewer'\"",
    "actions:\n  force_delete:\n    allow: not (user.role != 'admin')",
], ids=["reversed", "in-list", "redundant-and", "double-negation"])
def test_rewording_a_locked_condition_with_the_same_meaning_is_accepted(tmp_path: Path, body: str) -> None:
    engine = _engine(tmp_path, override("s1", body))
    for role in ("admin", "member", "viewer"):
        decision = engine.evaluate(make_order(store="s1"), {"role": role})["force_delete"]
        assert decision.state == ("enabled" if role == "admin" else "hidden")


def test_hiding_a_locked_action_is_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", "actions:\n  force_delete:\n    hidden: true"))
    decision = engine.evaluate(make_order(store="s1"), ADMIN)["force_delete"]
    assert decision.state == "hidden"
    assert decision.reasons == ("Not offered for store s1.",)


def test_hidden_true_with_a_visible_condition_is_refused(tmp_path: Path) -> None:
    """``hidden: true`` beside ``visible: {when: ...}``: the condition would never apply, so it is an error."""
    with pytest.raises(PolicyError) as raised:
        _engine(tmp_path, override("s1", """
actions:
  force_delete:
    hidden: true
    visible: {when: can_act, reason: Hidden here.}
"""))
    [diagnostic] = raised.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (11, 21)
    assert diagnostic.message == "'hidden: true' hides the action: this visible condition would never apply"


def test_hidden_true_with_only_a_reason(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
actions:
  force_delete:
    hidden: true
    visible: {reason: Hidden here.}
"""))
    for role in ("admin", "member", "viewer"):
        decision = engine.evaluate(make_order(store="s1"), {"role": role})["force_delete"]
        assert (decision.state, decision.reasons) == ("hidden", ("Hidden here.",))


def test_hidden_false_changes_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", "actions:\n  force_delete:\n    hidden: false"))
    for role in ("admin", "member", "viewer"):
        mine = engine.evaluate(make_order(store="s1"), {"role": role})["force_delete"]
        base = engine.evaluate(make_order(store="elsewhere"), {"role": role})["force_delete"]
        assert (mine.state, mine.reasons) == (base.state, base.reasons)
    assert engine.evaluate(make_order(store="s1"), MEMBER)["force_delete"].reasons == (ADMINS_ONLY,)


def test_stricter_visibility_and_allow_are_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
actions:
  force_delete:
    visible:
      when: is_admin and order.status != 'Archived'
      reason: Archived orders are not force-deleted here.
    allow:
      when: is_admin and not order.has_shipment
      reason: Shipped orders are not force-deleted here.
"""))
    decide = engine.evaluate
    assert decide(make_order("Error", store="s1"), ADMIN)["force_delete"].enabled
    archived = decide(make_order("Archived", store="s1"), ADMIN)["force_delete"]
    assert (archived.state, archived.reasons) == ("hidden", ("Archived orders are not force-deleted here.",))
    shipped = decide(make_order("Shipped", store="s1", has_shipment=True, sent_to_warehouse=True), ADMIN)["force_delete"]
    assert (shipped.state, shipped.reasons) == ("disabled", ("Shipped orders are not force-deleted here.",))
    assert decide(make_order("Error", store="s1"), MEMBER)["force_delete"].state == "hidden"


def test_rewording_a_locked_visibility_reason_is_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", "actions:\n  force_delete:\n    visible: {reason: 'Admins only, here too.'}"))
    assert engine.evaluate(make_order(store="s1"), MEMBER)["force_delete"].reasons == ("Admins only, here too.",)
    assert engine.evaluate(make_order(store="s1"), ADMIN)["force_delete"].enabled


def test_added_deny_guards_are_accepted_on_locked_actions(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
actions:
  force_delete:
    deny:
      - id: shipped
        when: order.has_shipment
        reason: It has shipped.
  delete:
    deny:
      - id: errors
        when: order.status == 'Error'
        reason: Fix the error first.
"""))
    order = make_order("Error", store="s1", has_shipment=True, sent_to_warehouse=True)
    decisions = engine.evaluate(order, ADMIN)
    assert decisions["force_delete"].reasons == ("It has shipped.",)
    assert decisions["delete"].reasons == (SENT, "Fix the error first.")  # base guards first, then the store's


def test_redeclaring_a_base_fact_identically_is_accepted(tmp_path: Path) -> None:
    engine = _engine(tmp_path, override("s1", """
facts:
  order.has_shipment: {type: bool}
  user.role: {type: enum, values: [admin, member, viewer]}
"""))
    assert engine.stores == ("s1",)
    assert engine.evaluate(make_order(store="s1", has_shipment=True), MEMBER)["reset"].reasons == (HAS_SHIPMENT,)


# -- merge semantics through evaluate ----------------------------------------------------------------------

ARCHIVE_VISIBLE = "    visible: {when: \"order.status != 'Archived'\", reason: The order is already archived.}\n"
CLOSED_REASON = "Closed orders are archived by the system."
# The frozen base plus an unlocked guard on archive, so that dropping a guard can be tested.
MERGE_BASE = base_version(1, replace={ARCHIVE_VISIBLE: ARCHIVE_VISIBLE + f"""\
    deny:
      - id: closed
        when: order.status == 'Closed'
        reason: {CLOSED_REASON}
"""})

SHOP = override("shop", """
facts:
  order.channel: {type: enum, values: [shopify, amazon]}
  order.flagged: {type: bool}
conditions:
  manual_store: store.manual_fulfillment or order.channel == 'amazon'
  flagged: order.flagged
actions:
  reprocess:
    label: Retry
    effects:
      - operation: retry_everything
  reset:
    confirm: Really reset?
    replace_deny:
      has-shipment:
        reason: Shipped already.
    deny:
      - id: flagged
        when: flagged
        reason: Flagged for review.
  archive:
    drop_deny: [closed]
    allow: {reason: Only staff can archive.}
  delete:
    deny:
      - id: amazon
        when: order.channel == 'amazon'
        reason: Amazon re-imports deleted orders.
  refund:
    label: Refund
    allow: {when: can_act and order.channel == 'shopify', reason: Only Shopify orders are refunded here.}
    confirm: Refund this order?
    effects:
      - operation: refund
  edit:
    hidden: true
""", version=3)

OTHER = override("other", """
conditions:
  slow: order.status in ['Queued', 'Routed']
actions:
  archive:
    label: Stop
  hold:
    label: Hold
    visible: {when: slow, reason: Only queued or routed orders can be held.}
    allow: {when: can_act, reason: Read-only users can't change orders.}
""", version=7)


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("merge") / "policies",
                      {"order-actions.yaml": MERGE_BASE, "stores/shop.yaml": SHOP, "stores/other.yaml": OTHER})


@pytest.fixture(scope="module")
def shop(shop_dir: Path) -> policyengine.Engine:
    return policyengine.load(shop_dir)


def _shop_order(status: str = "Error", **kw: Any) -> dict[str, Any]:
    kw.setdefault("channel", "shopify")
    kw.setdefault("flagged", False)
    return make_order(status, store=kw.pop("store", "shop"), **kw)


def test_stores_lists_the_overrides_sorted(shop: policyengine.Engine) -> None:
    assert shop.stores == ("other", "shop")
    assert shop.store_override("shop") is not None and shop.store_override("shop").base_version == 1
    assert shop.store_override("nowhere") is None
    assert shop.store_policy("nowhere") is shop.policy
    assert shop.store_policy(None) is shop.policy


def test_label_confirm_and_reason_changes(shop: policyengine.Engine) -> None:
    decisions = shop.evaluate(_shop_order(has_shipment=True, sent_to_warehouse=True), MEMBER)
    assert decisions["reprocess"].label == "Retry"
    assert decisions["reset"].confirm == "Really reset?"
    assert decisions["reset"].reasons == ("Shipped already.",)
    base = shop.evaluate(_shop_order(store="nowhere", has_shipment=True, sent_to_warehouse=True), MEMBER)
    assert (base["reprocess"].label, base["reset"].reasons) == ("Reprocess", (HAS_SHIPMENT,))
    assert base["reset"].confirm == ("Reset is destructive. All processing, rule actions and manual edits on this "
                                     "order are lost.")
    # a reason-only allow patch keeps the base condition
    assert shop.evaluate(_shop_order(), VIEWER)["archive"].reasons == ("Only staff can archive.",)
    assert shop.evaluate(_shop_order(), MEMBER)["archive"].enabled


def test_added_guards_come_after_the_base_guards(shop: policyengine.Engine) -> None:
    decisions = shop.evaluate(_shop_order(has_shipment=True, sent_to_warehouse=True, flagged=True,
                                          channel="amazon"), MEMBER)
    assert decisions["reset"].reasons == ("Shipped already.", "Flagged for review.")
    assert decisions["delete"].reasons == (SENT, "Amazon re-imports deleted orders.")
    assert [s.id for s in decisions["delete"].source] == ["sent-to-warehouse", "amazon"]
    # a viewer: the allow reason first, then the guards in policy order
    viewer = shop.evaluate(_shop_order(sent_to_warehouse=True, channel="amazon"), VIEWER)["delete"]
    assert viewer.reasons == (READ_ONLY, SENT, "Amazon re-imports deleted orders.")


def test_dropped_unlocked_guard(shop: policyengine.Engine) -> None:
    assert shop.evaluate(_shop_order("Closed"), MEMBER)["archive"].enabled
    base = shop.evaluate(_shop_order("Closed", store="nowhere"), MEMBER)["archive"]
    assert (base.state, base.reasons) == ("disabled", (CLOSED_REASON,))
    assert shop.evaluate(_shop_order("Closed", store="other"), MEMBER)["archive"].reasons == (CLOSED_REASON,)


def test_replaced_effects(shop: policyengine.Engine) -> None:
    for status in ("Abandoned", "Archived", "Error"):
        assert shop.evaluate(_shop_order(status), MEMBER)["reprocess"].effects == (
            policyengine.Effect({}, "retry_everything"),)
    assert shop.evaluate(_shop_order("Abandoned", store="nowhere"), MEMBER)["reprocess"].effects == (
        policyengine.Effect({"order.status": "Open"}, None), policyengine.Effect({}, "retry_last_step"))


def test_new_actions_are_appended_in_menu_order(shop: policyengine.Engine) -> None:
    assert list(shop.evaluate(_shop_order(), MEMBER)) == [*BASE_ACTIONS, "refund"]
    assert list(shop.evaluate(_shop_order(store="other"), MEMBER)) == [*BASE_ACTIONS, "hold"]
    assert list(shop.evaluate(_shop_order(store="nowhere"), MEMBER)) == list(BASE_ACTIONS)
    refund = shop.evaluate(_shop_order(), MEMBER)["refund"]
    assert (refund.state, refund.label, refund.confirm) == ("enabled", "Refund", "Refund this order?")
    assert refund.effects == (policyengine.Effect({}, "refund"),)
    amazon = shop.evaluate(_shop_order(channel="amazon"), MEMBER)["refund"]
    assert (amazon.state, amazon.reasons) == ("disabled", ("Only Shopify orders are refunded here.",))
    held = shop.evaluate(_shop_order("Queued", store="other"), MEMBER)["hold"]
    assert held.enabled
    not_held = shop.evaluate(_shop_order("Error", store="other"), MEMBER)["hold"]
    assert (not_held.state, not_held.reasons) == ("hidden", ("Only queued or routed orders can be held.",))


def test_hidden_action(shop: policyengine.Engine) -> None:
    edit = shop.evaluate(_shop_order(), ADMIN)["edit"]
    assert (edit.state, edit.reasons, edit.effects) == ("hidden", ("Not offered for store shop.",), ())
    assert shop.evaluate(_shop_order(store="other"), ADMIN)["edit"].enabled


def test_redefined_named_condition_and_store_facts(shop: policyengine.Engine) -> None:
    # manual_store now also holds for Amazon orders of an automatic store
    amazon = _shop_order("Error", manual_fulfillment=False, channel="amazon")
    assert shop.evaluate(amazon, MEMBER)["revalidate"].enabled
    assert shop.evaluate({**amazon, "channel": "shopify"}, MEMBER)["revalidate"].state == "hidden"
    assert shop.evaluate({**amazon, "store": {"id": "other", "manual_fulfillment": False}},
                         MEMBER)["revalidate"].state == "hidden"
    # the store's own facts are declared for its orders only: other stores' orders need not have them
    bare = make_order("Error", store="other")
    assert shop.evaluate(bare, MEMBER).errors == ()
    assert shop.evaluate({**bare, "store": {"id": "nowhere", "manual_fulfillment": True}}, MEMBER).errors == ()


def test_a_missing_store_fact_fails_closed_for_that_store(shop: policyengine.Engine) -> None:
    decisions = shop.evaluate(make_order("Error", store="shop"), MEMBER)  # no channel, no flagged
    assert {p.fact for p in decisions.errors} == {"order.channel", "order.flagged"}
    assert not decisions["refund"].enabled and not decisions["reset"].enabled and not decisions["delete"].enabled
    assert decisions["reprocess"].enabled  # reads no store fact
    with pytest.raises(FactError):
        shop.evaluate(make_order("Error", store="shop"), MEMBER, strict=True)


def _relative(decision: policyengine.Decision, root: Path) -> policyengine.Decision:
    """``decision`` with its sources' positions relative to ``root``."""
    return attrs.evolve(decision, source=tuple(attrs.evolve(s, where=str(Path(s.where).relative_to(root)))
                                                for s in decision.source))


def test_an_order_of_a_store_without_override_gets_the_base_policy(shop: policyengine.Engine, shop_dir: Path,
                                                                   tmp_path: Path) -> None:
    base_only = policyengine.load(write_tree(tmp_path / "base", {"order-actions.yaml": MERGE_BASE}))
    users = (ADMIN, MEMBER, VIEWER)
    for status, shipment, user in itertools.product(("Error", "Closed", "Archived", "Pending"), (False, True), users):
        order = _shop_order(status, store="no-override", has_shipment=shipment, sent_to_warehouse=shipment)
        got, want = shop.evaluate(order, user), base_only.evaluate(order, user)
        assert got.store_override is None and got.policy == "order-actions@1"
        assert [_relative(d, shop_dir) for d in got.values()] == [_relative(d, tmp_path / "base") for d in want.values()]


def test_explicit_store_argument_picks_the_override(shop: policyengine.Engine) -> None:
    order = _shop_order(store="nowhere")
    del order["store"]["id"]  # no store.id of its own: the store named decides
    assert shop.evaluate(order, ADMIN, store="shop")["edit"].state == "hidden"
    assert shop.evaluate(order, ADMIN, store="shop").store_override == "shop@3"
    other = _shop_order(store="nowhere")  # another store's order is never decided by this store's policy
    assert {r.id for d in shop.evaluate(other, ADMIN, store="shop").values() for r in d.reasons_detail} == \
        {"store-mismatch"}
    assert shop.evaluate(other, ADMIN)["edit"].enabled


@pytest.mark.parametrize("store", [None, 42, ["shop"], {"id": "shop"}, "absent"])
def test_an_order_whose_store_id_is_bad_fails_closed(shop: policyengine.Engine, store: Any) -> None:
    order = _shop_order("Error")
    if store == "absent":
        del order["store"]["id"]
        message = "missing"
    else:
        order["store"]["id"] = store
        message = None
    decisions = shop.evaluate(order, ADMIN)
    assert not any(d.enabled for d in decisions.values())
    for decision in decisions.values():
        assert [p.fact for p in decision.errors] == ["store.id"], decision
        assert any(r.startswith("could not be decided: store.id: ") for r in decision.reasons), decision
    if message is not None:
        assert decisions.errors == (FactProblem("store.id", message),)
    with pytest.raises(FactError) as raised:
        shop.evaluate(order, ADMIN, strict=True)
    assert [p.fact for p in raised.value.problems] == ["store.id"]


# -- merging does not depend on file names or order ----------------------------------------------------------


LAYOUTS: dict[str, dict[str, str]] = {
    "nested": {"base": "order-actions.yaml", "shop": "stores/shop.yaml", "other": "stores/other.yaml"},
    "reversed": {"base": "policy.yml", "shop": "stores/b/shop.yaml", "other": "stores/a/other.yml"},
    "flat": {"base": "3.yaml", "shop": "stores/shop.yml", "other": "stores/other.yaml"},
}
TEXTS = {"base": MERGE_BASE, "shop": SHOP, "other": OTHER}


def _canonical(decisions: policyengine.Decisions, names: dict[str, str]) -> dict[str, Any]:
    """``to_dict()`` with each source position's file replaced by its role (base/shop/other), revision dropped."""
    data = copy.deepcopy(decisions.to_dict())  # the cached JSON form is read-only: edit a copy
    assert re.fullmatch(r"[0-9a-f]{64}", data.pop("revision"))
    for action in data["actions"]:
        for source in action["source"]:
            file, line, column = source["where"].rsplit(":", 2)
            source["where"] = f"{names[file]}:{line}:{column}"
    return data


def test_merging_is_independent_of_file_names_and_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    engines = {}
    for layout, files in LAYOUTS.items():
        write_tree(tmp_path / layout, {path: TEXTS[role] for role, path in files.items()})
        engines[layout] = (policyengine.load(layout), {f"{layout}/{path}": role for role, path in files.items()})
    assert {e.stores for e, _ in engines.values()} == {("other", "shop")}
    count = 0
    for status, shipment, sent, manual, role, channel, flagged, store in itertools.product(
            ("New", "Queued", "Open", "Shipped", "Error", "Closed", "Archived", "Pending"), (False, True),
            (False, True), (False, True), ("admin", "member", "viewer"), ("shopify", "amazon"), (False, True),
            ("shop", "other", "nowhere")):
        order = make_order(status, store=store, has_shipment=shipment, sent_to_warehouse=sent,
                           manual_fulfillment=manual, channel=channel, flagged=flagged)
        results = [_canonical(e.evaluate(order, {"role": role}), names) for e, names in engines.values()]
        assert results[0] == results[1] == results[2], order
        count += 1
    assert count == 8 * 2 * 2 * 2 * 3 * 2 * 2 * 3


# -- provenance of merged decisions -------------------------------------------------------------------------


def test_sources_point_into_the_file_that_wrote_the_condition(shop: policyengine.Engine, shop_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop_dir)
    engine = policyengine.load(".")
    base, store = "order-actions.yaml", "stores/shop.yaml"
    decisions = engine.evaluate(_shop_order(has_shipment=True, sent_to_warehouse=True, flagged=True,
                                            channel="amazon"), MEMBER)
    assert decisions["reset"].source == (
        policyengine.runtime.decision.Source("guard", "has-shipment", where(base, MERGE_BASE, "order.has_shipment",
                                                                    after="id: has-shipment"), "order.has_shipment"),
        policyengine.runtime.decision.Source("guard", "flagged", where(store, SHOP, "flagged", after="id: flagged"), "flagged"),
    )
    assert decisions["delete"].source[1] == policyengine.runtime.decision.Source(
        "guard", "amazon", where(store, SHOP, "order.channel == 'amazon'", after="id: amazon"),
        "order.channel == 'amazon'")
    edit = decisions["edit"].source
    assert [(s.kind, s.where.split(":")[0]) for s in edit] == [("visible", store)]
    assert edit[0].where == where(store, SHOP, "true", after="edit:")  # the `hidden: true` that hid it
    refund = engine.evaluate(_shop_order(), MEMBER)["refund"].source
    assert refund == (policyengine.runtime.decision.Source(
        "allow", None, where(store, SHOP, "can_act and", after="refund:"), "can_act and order.channel == 'shopify'"),)
    # an unchanged action's source stays in the base
    reprocess = engine.evaluate(_shop_order(), MEMBER)["reprocess"].source
    assert [(s.kind, s.where.split(":")[0], s.text) for s in reprocess] == [("allow", base, "can_act")]
    assert next(a for a in decisions.to_dict()["actions"] if a["action"] == "reset")["source"] == [
        s.to_dict() for s in decisions["reset"].source]


# -- locks through action references ---------------------------------------------------------------------------

MINI = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: mini
version: 1
facts:
  store.id: {type: string}
  user.role: {type: enum, values: [admin, member, viewer]}
conditions:
  can_edit: actions.edit.enabled
actions:
  edit:
    label: Edit
    allow: user.role == 'admin'
  purge:
    label: Purge
    locked: [visible]
    visible: {VISIBLE}
    allow: "true"
"""


@pytest.mark.parametrize("visible", ["actions.edit.enabled", "can_edit"], ids=["direct", "through-condition"])
def test_a_lock_cannot_be_widened_through_an_action_it_references(tmp_path: Path, visible: str) -> None:
    """Purge is locked to show only where Edit is enabled (admins); a store enabling Edit for everybody would show
    Purge to members: the override must be refused, at the override, naming the lock."""
    files = {"base.yaml": MINI.replace("{VISIBLE}", visible),
             "stores/s1.yaml": override("s1", "actions:\n  edit:\n    allow: \"true\"", policy="mini")}
    path = write_tree(tmp_path / "p", files)
    loaded = None
    try:
        loaded = policyengine.load(path)
    except PolicyError as err:
        assert [d.file.endswith("s1.yaml") and "locked visibility of action 'purge'" in d.message
                for d in err.diagnostics] == [True]
    # (what it does today: members see Purge, enabled, in store s1)
    assert loaded is None, loaded.evaluate({"store": {"id": "s1"}}, {"role": "member"})["purge"]
