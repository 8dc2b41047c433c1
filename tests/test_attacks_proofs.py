"""Attacks on the lock proofs through what the solver reads differently from the runtime (issue 20), each a test.

Points 1 and 2: escape sequences that z3 would parse inside a string constant (``\\u{41}``), and code points beyond
z3's alphabet (U+2FFFF). Every attack below loaded before issue 20 and gave a viewer Force Delete (or let a member
Delete an order sent to the warehouse); each is now refused at load, through ``policyengine.load``, ``policyengine
validate`` and a live reload, with its located diagnostic. Where the solver models the string exactly the refusal
carries a counterexample, which really widens the lock when evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import refused
from overrides_support import BASE_TEXT, make_order, override, policy_tree, where, write_tree

import policyengine
from policyengine.proof import smt
from policyengine.service.live import LivePolicies

pytestmark = pytest.mark.skipif(not smt.available(), reason="policyengine[smt] is installed by make test")

VIEWER, MEMBER = {"role": "viewer"}, {"role": "member"}
LOCK = where("p/order-actions.yaml", BASE_TEXT, "locked", after="  force_delete:\n")
GUARD_LOCK = where("p/order-actions.yaml", BASE_TEXT, "locked", after="      - id: sent-to-warehouse\n")
ALLOW = "store override widens the locked allow condition of action 'force_delete': with {values}, user.role='member' " \
        "the store would allow it, where order-actions@1 does not"
SHOW = "store override widens the locked visibility of action 'force_delete': with {values}, user.role='member' the " \
       "store would show it, where order-actions@1 hides it"
CANNOT = "cannot prove this keeps the lock on the {what} of action 'force_delete': {why}"

ESCAPES = {  # name: (override body, the counterexample's facts as describe() shows them)
    "store-id": ("conditions:\n  is_admin: user.role == 'admin' or store.id != 'acm\\\\u{65}'\n", "store.id='acme'"),
    "literal": ("facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' or order.note == "
                "'\\\\u{41}' and order.note != 'A'\n", "order.note='\\\\u{41}'"),
    "set-member": ("facts:\n  order.tags: {type: set}\nconditions:\n  is_admin: user.role == 'admin' or '\\\\x41' in "
                   "order.tags and not 'A' in order.tags\n", "order.tags=frozenset({'\\\\x41'})"),
    "substring": ("facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' or '\\\\u{41}' in "
                  "order.note and not 'A' in order.note\n", "order.note='\\\\u{41}'"),
}

BEYOND = {  # name: (override body, why the proof cannot conclude)
    "default": ("facts:\n  order.note: {type: string, default: \"\\U00030000\"}\nconditions:\n  is_admin: user.role == "
                "'admin' or not order.note =~ '^[\\x00-\\U0002ffff]*$'\n",
                "the regex '^[\\x00-\\U0002ffff]*$' has a range ending at U+2FFFF, which the solver cannot tell from "
                "other code points beyond U+2FFFE"),
    "literal": ("facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' or order.note == "
                "'\\U00030000' and order.note.length == 1 and order.note != '\\U0002ffff'\n",
                "the string '\\U00030000' holds the code point U+30000, which the solver cannot tell from other code "
                "points beyond U+2FFFE (its characters stop at U+2FFFF)"),
    "class": ("facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' or order.note =~ "
              "'^[^\\U00030000]$' and order.note > '\\U0002fffe'\n",
              "the character U+30000 lies beyond what the solver tells apart (its characters stop at U+2FFFF)"),
    "two-facts": ("facts:\n  order.a: {type: string}\n  order.b: {type: string}\nconditions:\n  is_admin: user.role == "
                  "'admin' or order.a > '\\U0002fffe' and order.b > '\\U0002fffe' and order.a.length == 1 and "
                  "order.b.length == 1 and order.a != order.b\n",
                  "it compares two strings that both come from facts, which the solver cannot model exactly (its "
                  "characters stop at U+2FFFF, so code points beyond read alike)"),
}


def _tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    return policy_tree(tmp_path, monkeypatch, {"order-actions.yaml": BASE_TEXT, "stores/acme.yaml": override("acme", body)})


def _is_admin_at(body: str) -> tuple[int, int]:
    text = override("acme", body)
    spot = where("x", text, "is_admin")
    return int(spot.split(":")[1]), int(spot.split(":")[2])


def _order(values: dict[str, Any]) -> dict[str, Any]:
    order = make_order(status="Error")
    for name, value in values.items():
        if name.startswith("order."):
            order[name.removeprefix("order.")] = value
    return order


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_an_escape_sequence_is_text_for_the_proof_as_for_the_runtime(name: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    body, values = ESCAPES[name]
    path = _tree(tmp_path, monkeypatch, body)
    line, column = _is_admin_at(body)
    hint = f"the base policy locks it at {LOCK}"
    assert refused(path, capsys) == [("p/stores/acme.yaml", line, column, ALLOW.format(values=values), hint),
                                     ("p/stores/acme.yaml", line, column, SHOW.format(values=values), hint)]


def test_the_counterexample_of_an_escape_really_widens_the_lock(tmp_path: Path) -> None:
    """The refused override, loaded without its lock (the base with nothing locked), enables Force Delete for a
    member on exactly the counterexample the proof printed: the runtime compares the escape as text."""
    body, _ = ESCAPES["literal"]
    unlocked = BASE_TEXT.replace("    locked: [visible, allow]\n", "", 1)
    root = write_tree(tmp_path / "p", {"order-actions.yaml": unlocked, "stores/acme.yaml": override("acme", body)})
    engine = policyengine.load(root)
    assert engine.evaluate(_order({"order.note": "\\u{41}"}), MEMBER)["force_delete"].state == "enabled"
    assert engine.evaluate(_order({"order.note": "A"}), MEMBER)["force_delete"].state == "hidden"


def test_an_escape_in_a_locked_guard_is_text_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    body = ("facts:\n  order.note: {type: string}\nactions:\n  delete:\n    replace_deny:\n      sent-to-warehouse: "
            "{when: \"order.sent_to_warehouse and not (order.note == '\\\\\\\\u{78}' and order.note != 'x')\"}\n")
    path = _tree(tmp_path, monkeypatch, body)
    line, column = (int(p) for p in where("x", override("acme", body), "\"order.sent").split(":")[1:])
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", line, column, "store override weakens the locked guard 'sent-to-warehouse' of action "
         "'delete': with order.note='\\\\u{78}', order.sent_to_warehouse=true order-actions@1's guard fires and the "
         "store's does not", f"the base policy locks it at {GUARD_LOCK}"),
    ]


def test_a_narrowing_with_escapes_still_loads_and_decides_as_proved(tmp_path: Path) -> None:
    body = "conditions:\n  is_admin: user.role == 'admin' and store.id != 'acm\\\\u{65}'\n"
    root = write_tree(tmp_path / "p", {"order-actions.yaml": BASE_TEXT, "stores/acme.yaml": override("acme", body)})
    engine = policyengine.load(root)
    assert engine.evaluate(make_order(), {"role": "admin"})["force_delete"].state == "enabled"
    assert engine.evaluate(make_order(), VIEWER)["force_delete"].state == "hidden"


@pytest.mark.parametrize("name", sorted(BEYOND))
def test_code_points_beyond_the_solver_are_refused_not_assumed_away(name: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    body, why = BEYOND[name]
    path = _tree(tmp_path, monkeypatch, body)
    line, column = _is_admin_at(body)
    hint = f"locked at {LOCK}; add a deny guard instead, which can only narrow"
    assert refused(path, capsys) == [
        ("p/stores/acme.yaml", line, column, CANNOT.format(what="allow condition", why=why), hint),
        ("p/stores/acme.yaml", line, column, CANNOT.format(what="visibility", why=why), hint)]


def test_a_default_beyond_the_alphabet_is_read_as_the_solvers_last_character(tmp_path: Path) -> None:
    """``[\\x00-\\U0010ffff]`` covers every runtime string, and the solver reads it so: a default of U+30000 is
    covered, and an override that relies on it loads, deciding as the proof says."""
    body = ("facts:\n  order.note: {type: string, default: \"\\U00030000\"}\nconditions:\n  is_admin: user.role == "
            "'admin' and order.note =~ '(?s)^[\\x00-\\U0010ffff]*$'\n")
    root = write_tree(tmp_path / "p", {"order-actions.yaml": BASE_TEXT, "stores/acme.yaml": override("acme", body)})
    engine = policyengine.load(root)
    assert engine.evaluate(make_order(), {"role": "admin"})["force_delete"].state == "enabled"
    assert engine.evaluate(_order({"order.note": "\U00030001"}), VIEWER)["force_delete"].state == "hidden"


def test_a_live_reload_refuses_the_attack_and_keeps_serving_the_last_good_set(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "p", {"order-actions.yaml": BASE_TEXT, "stores/acme.yaml": override("acme")})
    with LivePolicies(root, watch=False) as live:
        for body, _ in (ESCAPES["store-id"], BEYOND["default"]):
            (root / "stores" / "acme.yaml").write_text(override("acme", body), encoding="utf-8")
            record = live.reload()
            assert not record.ok
            assert [d.message.split(":")[0] for d in record.diagnostics] == [
                "store override widens the locked allow condition of action 'force_delete'",
                "store override widens the locked visibility of action 'force_delete'"] if "store.id" in body else [
                "cannot prove this keeps the lock on the allow condition of action 'force_delete'",
                "cannot prove this keeps the lock on the visibility of action 'force_delete'"]
            assert live.engine.evaluate(make_order(), VIEWER)["force_delete"].state == "hidden"


def test_the_solver_work_budget_refuses_at_the_line_that_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Point 6: each override's proofs share a deterministic work budget (z3 resource units); past it the rest are
    refused, located. A narrowing that loads with the budget is refused with a tiny one, alike on every run."""
    from policyengine import locks

    body = "facts:\n  order.note: {type: string}\nconditions:\n  is_admin: user.role == 'admin' and order.note != 'x'\n"
    path = _tree(tmp_path, monkeypatch, body)
    assert policyengine.load(path).stores == ("acme",)
    monkeypatch.setattr(locks, "SOLVER_RLIMIT", 1)
    line, column = _is_admin_at(body)
    hint = f"locked at {LOCK}; add a deny guard instead, which can only narrow"
    found = refused(path, capsys)
    assert [row[:3] + (row[4],) for row in found] == [("p/stores/acme.yaml", line, column, hint)] * 2
    whys = {"the solver's work budget is spent", "the solver's work budget for these proofs (1 units) is spent"}
    assert {row[3] for row in found} <= {CANNOT.format(what=what, why=why) for what in ("allow condition", "visibility")
                                         for why in whys}
