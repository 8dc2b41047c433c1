"""Attacks on locks by someone who may only add or change store overrides (issue 9), each written as a test.

Every attack is tried on the frozen copy of the shipped base (tests/golden/overrides/order-actions.yaml) or a small
variant of it, and must be refused at load with a located diagnostic: through ``policyengine.load`` and through
``policyengine validate`` (the same diagnostics, exit 3). The shipped policies still load (tests/test_smoke.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Row, cli_blocks, printed, rows
from overrides_support import BASE_TEXT, base_version, make_order, override, where, write_tree

import policyengine
from policyengine import PolicyError
from policyengine.cli import main

V1 = base_version(1)
ADMIN, MEMBER, VIEWER = {"role": "admin"}, {"role": "member"}, {"role": "viewer"}
ACME = override("acme", "actions:\n  edit: {label: Change}", pin=1)
FORCE_DELETE_LOCK = "order-actions.yaml", BASE_TEXT, "locked", "  force_delete:\n"


def _tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> str:
    write_tree(tmp_path / "p", files)
    monkeypatch.chdir(tmp_path)
    return "p"


def _refused(path: str, capsys: pytest.CaptureFixture[str]) -> list[Row]:
    """The diagnostics of loading ``path``; ``policyengine validate`` must print the same and exit 3."""
    with pytest.raises(PolicyError) as info:
        policyengine.load(path)
    found = rows(info.value.diagnostics)
    assert main(["validate", path]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert cli_blocks(err) == printed(found)
    return found


def _lock(file: str, text: str, after: str) -> str:
    return where(file, text, "locked", after=after)


# -- 1. a policy version dropped under stores/ ---------------------------------------------------------------------

# Version 2, written by the attacker: Force Delete unlocked and open to everyone, and no store.id (which would turn
# store dispatch off). With `pin: 1` on the real overrides, it would become the default for every other store.
EVIL_V2 = base_version(2, replace={
    "    locked: [visible, allow]\n": "",
    "    visible: {when: is_admin, reason: Only account admins can force-delete orders.}\n": "    visible: true\n",
    "    allow: {when: is_admin, reason: Only account admins can force-delete orders.}\n": "    allow: true\n",
    "  store.id:\n    type: string\n    description: The store the order belongs to (read from order.store.id).\n": "",
})


@pytest.mark.parametrize("place", ["stores/v2.yaml", "stores/deep/er/v2.yml", "extra/v2.yaml"])
def test_a_version_outside_the_top_is_refused(place: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1, "stores/acme.yaml": ACME, place: EVIL_V2})
    here = "outside the policy layout" if place.startswith("extra") else "under stores/"
    assert _refused(path, capsys) == [
        (f"p/{place}", 8, 7, f"an ActionPolicy does not belong {here}: it belongs at the top of the policy directory",
         None),
    ]


def test_a_version_under_tests_is_never_read_by_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """load() reads only what decides; validate still flags the file of the wrong kind."""
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1, "stores/acme.yaml": ACME, "tests/v2.yaml": EVIL_V2})
    engine = policyengine.load(path)
    assert engine.versions == (1,)
    assert engine.evaluate(make_order(store="other"), VIEWER)["force_delete"].state == "hidden"
    assert main(["validate", path]) == 3
    _, err = capsys.readouterr()
    assert cli_blocks(err) == printed([("p/tests/v2.yaml", 8, 7, "an ActionPolicy does not belong under tests/: it "
                                                                  "belongs at the top of the policy directory", None)])


@pytest.mark.parametrize(("place", "kind", "belongs"), [
    ("acme.yaml", "StoreOverride", "under stores/"),
    ("stores/suite.yaml", "PolicyTestSuite", "under tests/"),
    ("suite.yaml", "PolicyTestSuite", "under tests/"),
    ("stores/invariants.yaml", "PolicyInvariants", "under invariants/"),
])
def test_every_kind_has_one_place(place: str, kind: str, belongs: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = {"StoreOverride": override("acme"), "PolicyTestSuite": "apiVersion: policyengine/v1\nkind: PolicyTestSuite\n",
            "PolicyInvariants": "apiVersion: policyengine/v1\nkind: PolicyInvariants\n"}[kind]
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1, place: text})
    here = "at the top of the policy directory" if "/" not in place else "under stores/"
    article = "a"
    assert _refused(path, capsys) == [
        (f"p/{place}", 2, 7, f"{article} {kind} does not belong {here}: it belongs {belongs}", None),
    ]


def test_a_broken_test_suite_or_invariant_does_not_stop_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _tree(tmp_path, monkeypatch, {
        "order-actions.yaml": V1, "stores/acme.yaml": ACME,
        "tests/broken.yaml": "apiVersion: policyengine/v1\nkind: PolicyTestSuite\nname: [",
        "invariants/broken.yaml": "apiVersion: policyengine/v1\nkind: PolicyInvariants\nnope: 1\n",
    })
    assert policyengine.load(path).stores == ("acme",)
    assert main(["validate", path]) == 3
    _, err = capsys.readouterr()
    files = [block.split(":")[0] for block, _ in cli_blocks(err)[:-1]]
    assert "p/tests/broken.yaml" in files and "p/invariants/broken.yaml" in files


def test_a_newer_version_at_the_top_may_not_weaken_a_lock_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    v2 = base_version(2, replace={"    allow: {when: is_admin, reason: Only account admins can force-delete orders.}\n":
                                  "    allow: {when: can_act, reason: Members may force-delete.}\n"})
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2})
    assert _refused(path, capsys) == [
        (*where("p/v2.yaml", v2, "can_act, reason: Members").rsplit(":", 2)[:1],
         int(where("p/v2.yaml", v2, "can_act, reason: Members").split(":")[1]),
         int(where("p/v2.yaml", v2, "can_act, reason: Members").split(":")[2]),
         "order-actions@2 widens the locked allow condition of action 'force_delete': with user.role='member' "
         "order-actions@2 would allow it, where order-actions@1 does not",
         f"order-actions@1 locks it at {_lock('p/v1.yaml', V1, '  force_delete:')}; if this is intended, say so in "
         "an unlocks entry with the reason"),
    ]
    # said explicitly, with a reason, it loads; validate shows it
    reviewed = v2.replace("\nfacts:\n", "\nunlocks:\n  - {action: force_delete, part: allow, reason: PROD-42 members "
                                        "may force-delete}\n\nfacts:\n", 1)
    (tmp_path / "p" / "v2.yaml").write_text(reviewed, "utf-8")
    engine = policyengine.load(path)
    assert engine.evaluate(make_order(store="x"), MEMBER)["force_delete"].state == "hidden"  # visible still locked
    assert main(["validate", path]) == 0
    out, _ = capsys.readouterr()
    assert "  order-actions@2 unlocks force_delete.allow: PROD-42 members may force-delete" in out.splitlines()


def test_a_newer_version_may_not_drop_a_lock_or_a_locked_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    v2 = base_version(2, replace={"    locked: [visible, allow]\n": "    locked: [visible]\n",
                                  "        reason: The order was already sent to the warehouse; archive it first.\n"
                                  "        locked: true\n":
                                  "        reason: The order was already sent to the warehouse; archive it first.\n"})
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2})
    found = _refused(path, capsys)
    assert [(r[0], r[3]) for r in found] == [
        ("p/v2.yaml", "order-actions@2 no longer locks guard 'sent-to-warehouse' of action 'delete', which "
                      f"order-actions@1 locks at {_lock('p/v1.yaml', V1, 'id: sent-to-warehouse')}"),
        ("p/v2.yaml", "order-actions@2 no longer locks the allow condition of action 'force_delete', which "
                      f"order-actions@1 locks at {_lock('p/v1.yaml', V1, '  force_delete:')}"),
    ]
    assert found[0][4] == ("keep it locked, or add an unlocks entry with the reason: unlocks: [{action: delete, "
                           "guard: sent-to-warehouse, reason: ...}]")


def test_an_unlock_of_nothing_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    v2 = base_version(2).replace("\nfacts:\n", "\nunlocks:\n  - {action: edit, part: allow, reason: typo}\n\nfacts:\n", 1)
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2})
    [(file, _, _, message, _)] = _refused(path, capsys)
    assert (file, message) == ("p/v2.yaml", "nothing to unlock: order-actions@1 does not lock edit.allow")


def test_a_version_without_store_id_while_overrides_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    v2 = base_version(2, replace={
        "  store.id:\n    type: string\n    description: The store the order belongs to (read from order.store.id).\n":
        ""})
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2, "stores/acme.yaml": ACME})
    assert _refused(path, capsys) == [
        ("p/v2.yaml", 13, 1, "order-actions@2 declares no store.id fact, but store overrides are loaded "
                             "(p/stores/acme.yaml): no order could be given its store's policy",
         "declare store.id (type: string) in every version"),
    ]


# -- 2. an older pin escapes a newer lock --------------------------------------------------------------------------

def test_a_pin_does_not_escape_a_newer_locked_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Version 2 adds a locked guard to Edit; a store pinned to version 1 (which lacks it) would edit archived
    orders: refused at the pin, naming the lock and a counterexample."""
    v2 = base_version(2, replace={"    allow: {when: can_act, reason: Read-only users can't change orders.}\n"
                                  "    effects:\n      - operation: open_edit_form\n":
                                  "    allow: {when: can_act, reason: Read-only users can't change orders.}\n"
                                  "    deny:\n      - id: archived\n        when: order.status == 'Archived'\n"
                                  "        reason: Archived orders are not edited.\n        locked: true\n"
                                  "    effects:\n      - operation: open_edit_form\n"})
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2, "stores/acme.yaml": ACME})
    assert _refused(path, capsys) == [
        ("p/stores/acme.yaml", 8, 8,
         "store override drops the locked guard 'archived' of action 'edit': with order.status='Archived', "
         "user.role='admin' order-actions@2's guard fires and the store enables the action",
         f"order-actions@2 locks it at {_lock('p/v2.yaml', v2, 'id: archived')}: a store keeps the latest "
         "version's locks, whatever version it pins"),
    ]


def test_a_pin_does_not_escape_a_newer_lock_through_an_effect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Version 2 locks Edit's new `archived` guard, which reads order.status. A store pinned to version 1 (where no
    lock reads it) may not add an action that sets order.status: applying it would un-archive an order and let the
    next decision escape version 2's lock."""
    v2 = base_version(2, replace={"    allow: {when: can_act, reason: Read-only users can't change orders.}\n"
                                  "    effects:\n      - operation: open_edit_form\n":
                                  "    allow: {when: can_act, reason: Read-only users can't change orders.}\n"
                                  "    deny:\n      - id: archived\n        when: order.status == 'Archived'\n"
                                  "        reason: Archived orders are not edited.\n        locked: true\n"
                                  "    effects:\n      - operation: open_edit_form\n"})
    body = "actions:\n  unarchive:\n    label: Unarchive\n    allow: can_act\n    effects:\n" \
           "      - set: {order.status: Open}\n"
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2, "stores/acme.yaml": override("acme", body, pin=1)})
    found = _refused(path, capsys)
    assert ("p/stores/acme.yaml", 14, 15,
            "a store may not add or change an effect that sets order.status: locked conditions of order-actions@2 "
            "read it (the lock on guard 'archived' of action 'edit'), so applying it would let a later decision "
            "escape the lock",
            f"order-actions@2 locks it at {_lock('p/v2.yaml', v2, 'id: archived')}: a store keeps the latest "
            "version's locks, whatever version it pins") in found
    # unpinned, the same action runs on version 2 and is refused by its own lock check
    path = _tree(tmp_path, monkeypatch, {"v1.yaml": V1, "v2.yaml": v2, "stores/acme.yaml": override("acme", body,
                                                                                                      based_on=2)})
    assert any("sets order.status" in row[3] for row in _refused(path, capsys))


# -- 3. set effects --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fact", "value", "message"), [
    ("order.sent_to_warehouse", "false", "effect sets order.sent_to_warehouse, which order-actions@1 does not declare "
                                         "settable"),
    ("user.role", "admin", "no effect may set user.role: user facts and store.id are never settable"),
    ("store.id", "globex", "no effect may set store.id: user facts and store.id are never settable"),
])
def test_a_store_may_not_set_what_the_base_does_not_declare(fact: str, value: str, message: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    body = f"actions:\n  unblock:\n    label: Unblock\n    allow: can_act\n    effects:\n      - set: {{{fact}: {value}}}\n"
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1, "stores/acme.yaml": override("acme", body)})
    [(file, line, column, found, _)] = _refused(path, capsys)
    assert (file, line, found) == ("p/stores/acme.yaml", 13, message)


def test_a_store_may_not_change_a_set_of_a_fact_a_lock_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Even a settable fact: Delete's locked guard reads order.sent_to_warehouse, so a store action that clears it
    would let the next decision delete an order the warehouse has."""
    base = base_version(1, replace={"\nfacts:\n": "\nsettable: [order.status, order.sent_to_warehouse]\n\nfacts:\n"})
    body = ("actions:\n  recall:\n    label: Recall\n    allow: can_act\n    effects:\n"
            "      - set: {order.sent_to_warehouse: false}\n")
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": base, "stores/acme.yaml": override("acme", body)})
    [(file, line, _, message, hint)] = _refused(path, capsys)
    assert (file, line) == ("p/stores/acme.yaml", 13)
    assert message == ("a store may not add or change an effect that sets order.sent_to_warehouse: locked conditions "
                       "read it (the lock on guard 'sent-to-warehouse' of action 'delete'), so applying it would let "
                       "a later decision escape the lock")
    assert hint == f"order-actions@1 locks it at {_lock('p/order-actions.yaml', base, 'id: sent-to-warehouse')}"
    # the base's own effects are kept by a store that changes something else
    ok = override("acme", "actions:\n  reprocess: {label: Retry}")
    (tmp_path / "p/stores/acme.yaml").write_text(ok, "utf-8")
    assert policyengine.load(path).stores == ("acme",)


def test_a_base_may_not_declare_user_facts_settable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = base_version(1, replace={"\nfacts:\n": "\nsettable: [order.status, user.role]\n\nfacts:\n"})
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": base})
    [(file, _, _, message, _)] = _refused(path, capsys)
    assert (file, message) == ("p/order-actions.yaml", "user.role can never be settable: user facts and store.id are "
                                                       "not for effects to change")


# -- 4. names with a trailing newline or control characters ---------------------------------------------------------

@pytest.mark.parametrize("body", [
    'actions:\n  purge:\n    label: Purge\n    allow: "true"\n    effects:\n      - operation: "delete_order\\n"\n',
    'conditions:\n  "is_admin\\n": "true"\n',
    'actions:\n  "force_delete\\n":\n    label: F\n    allow: "true"\n',
    'actions:\n  delete:\n    replace_deny:\n      "sent-to-warehouse\\n": {when: "false"}\n',
    'facts:\n  "order.evil\\n": {type: bool}\n',
], ids=["operation", "condition", "action", "guard", "fact"])
def test_names_with_a_trailing_newline_are_refused(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1, "stores/acme.yaml": override("acme", body)})
    found = _refused(path, capsys)
    assert len(found) == 1 and found[0][0] == "p/stores/acme.yaml"
    assert "\\n'" in found[0][3] and ("does not match" in found[0][3] or "is not a valid" in found[0][3])


def test_a_store_id_with_a_control_character_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": V1,
                                         "stores/acme.yaml": override("acme").replace("store: acme", 'store: "acme\\n"')})
    [(file, line, column, message, _)] = _refused(path, capsys)
    assert (file, line, column) == ("p/stores/acme.yaml", 3, 8)
    assert message.startswith("'acme\\n' does not match the required form")


# -- 5. no textual shortcut: literals differ, text does not -------------------------------------------------------

@pytest.mark.parametrize(("base", "store", "counterexample"), [
    ("user.role in ['admin']", "user.role in ['admin', 'member']", "user.role='member'"),
    ("user.role =~ '^admin$'", "user.role =~ '^(admin|member)$'", "user.role='member'"),
    ("user.role == 'admin' or 1.25 > 2.5", "user.role == 'admin' or 2.5 > 1.25", "user.role='member'"),
], ids=["list", "regex", "decimal"])
def test_a_redefinition_with_other_literals_is_proved(base: str, store: str, counterexample: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    policy = base_version(1, replace={"  is_admin: user.role == 'admin'\n": f'  is_admin: "{base}"\n'})
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": policy,
                                         "stores/acme.yaml": override("acme", f'conditions:\n  is_admin: "{store}"\n')})
    found = _refused(path, capsys)
    assert [r[3] for r in found] == [
        f"store override widens the locked allow condition of action 'force_delete': with {counterexample} the store "
        "would allow it, where order-actions@1 does not",
        f"store override widens the locked visibility of action 'force_delete': with {counterexample} the store "
        "would show it, where order-actions@1 hides it",
    ]
    assert {r[:3] for r in found} == {("p/stores/acme.yaml", 9, 3)}  # the redefined is_admin


def test_a_locked_guard_narrowed_through_its_list_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    policy = base_version(1, replace={"        when: order.has_shipment\n":
                                      "        when: \"order.status in ['Shipped', 'Partially Shipped']\"\n"})
    store = override("acme", "actions:\n  reset:\n    replace_deny:\n      has-shipment:\n"
                             "        when: \"order.status in ['Shipped']\"\n")
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": policy, "stores/acme.yaml": store})
    assert [(r[0], r[1], r[3]) for r in _refused(path, capsys)] == [
        # Reset's own effect sets order.status, which the lock reads: enabling Reset more often is refused too
        ("p/stores/acme.yaml", 9, "store override enables action 'reset', whose effects set facts locked conditions "
                                  "read (the lock on guard 'has-shipment' of action 'reset'), where order-actions@1 "
                                  "does not: with order.status='Partially Shipped', user.role='admin'"),
        ("p/stores/acme.yaml", 12, "store override weakens the locked guard 'has-shipment' of action 'reset': with "
                                   "order.status='Partially Shipped' order-actions@1's guard fires and the store's "
                                   "does not"),
    ]


def test_a_store_may_not_make_an_effect_on_a_locked_fact_apply_more_often(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The base's own Recall clears order.sent_to_warehouse (settable) for Error orders, for admins. A store may not
    redefine the condition the effect applies under, nor enable Recall for members: either would let Delete's
    locked guard be escaped on the next click."""
    base = base_version(1, replace={
        "\nfacts:\n": "\nsettable: [order.status, order.sent_to_warehouse]\n\nfacts:\n",
        "\nconditions:\n": "\nconditions:\n  recallable: \"order.status == 'Error'\"\n",
        "\nactions:\n": "\nactions:\n  recall:\n    label: Recall\n    allow: is_admin\n    effects:\n"
                        "      - {when: recallable, set: {order.sent_to_warehouse: false}}\n"})
    redefine = override("acme", "conditions:\n  recallable: \"true\"\n")
    path = _tree(tmp_path, monkeypatch, {"order-actions.yaml": base, "stores/acme.yaml": redefine})
    [(file, line, _, message, _)] = _refused(path, capsys)
    assert (file, line) == ("p/stores/acme.yaml", 9)  # the redefined recallable
    assert message.startswith("a store may not add or change an effect that sets order.sent_to_warehouse")
    enable = override("acme", "actions:\n  recall:\n    allow: can_act\n")
    (tmp_path / "p" / "stores" / "acme.yaml").write_text(enable, "utf-8")
    [(file, line, _, message, _)] = _refused(path, capsys)
    assert (file, line, message) == (
        "p/stores/acme.yaml", 9, "store override enables action 'recall', whose effects set facts locked conditions "
                                 "read (the lock on guard 'sent-to-warehouse' of action 'delete'), where "
                                 "order-actions@1 does not: with order.status='New', user.role='member'")
    relabel = override("acme", "actions:\n  recall:\n    label: Unsend\n")
    (tmp_path / "p" / "stores" / "acme.yaml").write_text(relabel, "utf-8")
    assert policyengine.load(path).stores == ("acme",)


def test_diff_shows_an_unlock_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    v2 = base_version(2, replace={
        "    locked: [visible, allow]\n": "    locked: [visible]\n",
        "\nfacts:\n": "\nunlocks:\n  - {action: force_delete, part: allow, reason: PROD-42 reviewed}\n\nfacts:\n"})
    write_tree(tmp_path, {"v1/order-actions.yaml": V1, "v2/order-actions.yaml": v2})
    monkeypatch.chdir(tmp_path)
    assert main(["diff", "v1", "v2"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("  locked changed")
    assert out[at:at + 3] == ["  locked changed", "    old: visible, allow",
                              "    new: visible (unlocks force_delete.allow: PROD-42 reviewed)"]
