"""Locks, verify and lint on the shipped policies with an ``order.total`` guard added (issue 15).

The base locks "orders over 1,000 need an admin to delete" (``order.total > 1000 and not is_admin``): a store that
weakens it (a higher threshold, or admins redefined) is rejected with a counterexample that really widens it when
evaluated; one that strengthens it (a lower threshold, an extra condition) is accepted. Every shipped invariant,
and one about the new guard, is decided.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_support import run_cli
from conftest import POLICIES

import policyengine
from policyengine.analysis.lint import lint
from policyengine.analysis.verify import find_invariant_files, load_invariants, verify
from policyengine.proof import smt

pytestmark = pytest.mark.skipif(not smt.available(), reason="policyengine[smt] is installed by make test")

GUARD = """\
      - id: large-order
        when: order.total > 1000 and not is_admin
        reason: Orders over 1,000 are deleted by an admin.
        locked: true
"""

INVARIANT = """\
  - id: large-orders-deleted-by-admins
    description: Only admins can delete orders over 1,000.
    when: order.total > 1000 and user.role != 'admin'
    expect: {delete: not-enabled}
"""


def shipped_with_total(tmp_path: Path, delete_patch: str = "", conditions: str = "") -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    base = root / "order-actions.yaml"
    text = base.read_text()
    text = text.replace("  user.role:\n", "  order.total:\n    type: number\n    description: The order total.\n"
                                          "  user.role:\n", 1)
    anchor = "        reason: The order was already sent to the warehouse; archive it first.\n        locked: true\n"
    assert anchor in text
    base.write_text(text.replace(anchor, anchor + GUARD))
    invariants = root / "invariants" / "order-actions.yaml"
    invariants.write_text(invariants.read_text() + INVARIANT)
    store = root / "stores" / "acme.yaml"
    text = store.read_text()
    if delete_patch:
        text = text.replace("  delete:\n    deny:\n", f"  delete:\n{delete_patch}    deny:\n")
    if conditions:
        text = text.replace("conditions:\n", f"conditions:\n{conditions}")
    store.write_text(text)
    return root


def replaced(when: str) -> str:
    return f"    replace_deny:\n      large-order:\n        when: \"{when}\"\n"


def acme_order(total: object, role: str) -> tuple[dict[str, object], dict[str, object]]:
    order = {"status": "New", "has_shipment": False, "sent_to_warehouse": False, "channel": "shopify", "total": total,
             "store": {"id": "acme", "manual_fulfillment": False}}
    return order, {"role": role}


@pytest.mark.parametrize("when", ["order.total > 2000 and not is_admin", "order.total >= 1000.01 and not is_admin",
                                  "order.total > 1000 and user.role == 'viewer'"])
def test_a_store_weakening_a_locked_number_guard_is_rejected_with_a_counterexample(tmp_path: Path, when: str) -> None:
    root = shipped_with_total(tmp_path, replaced(when))
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(root)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message.startswith("store override weakens the locked guard 'large-order' of action 'delete': "
                                         "with order.total=")
    total = float(re.search(r"order\.total=([-0-9.]+)", diagnostic.message).group(1))
    role = re.search(r"user\.role='(\w+)'", diagnostic.message).group(1)
    # The counterexample really widens: the base's guard fires, the store's (loaded without the lock) does not.
    base = policyengine.load(root / "order-actions.yaml")
    assert "large-order" in [s.id for s in base.evaluate(*acme_order(total, role))["delete"].source]
    unlocked = root / "order-actions.yaml"
    unlocked.write_text(unlocked.read_text().replace(GUARD, GUARD.replace("        locked: true\n", "")))
    store = policyengine.load(root)
    assert "large-order" not in [s.id for s in store.evaluate(*acme_order(total, role))["delete"].source]


def test_redefining_a_named_condition_a_number_lock_reads_is_rejected(tmp_path: Path) -> None:
    root = shipped_with_total(tmp_path, conditions="  is_admin: user.role in ['admin', 'member']\n")
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(root)
    messages = [d.message for d in caught.value.diagnostics]
    assert any("weakens the locked guard 'large-order'" in m and "user.role='member'" in m for m in messages)


@pytest.mark.parametrize("when", ["order.total > 500 and not is_admin", "order.total >= 1000 and not is_admin",
                                  "order.total > 1000 or order.total < -5", "not (order.total <= 1000) and not is_admin"])
def test_a_store_strengthening_a_locked_number_guard_is_accepted(tmp_path: Path, when: str) -> None:
    engine = policyengine.load(shipped_with_total(tmp_path, replaced(when)))
    decisions = engine.evaluate(*acme_order(1500, "member"))
    assert decisions["delete"].state == "disabled"


def test_a_lock_proof_that_relies_on_arithmetic_is_refused(tmp_path: Path) -> None:
    """Decimal rounds past 28 digits, which the solver does not model: an equivalent-looking guard computed with
    arithmetic is not accepted as a proof (a store could hide a widening in the rounding)."""
    root = shipped_with_total(tmp_path, replaced("order.total * 2 > 2000 and not is_admin"))
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(root)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message.startswith("cannot prove this keeps the lock on guard 'large-order' of action 'delete': "
                                         "the proof assumes arithmetic is computed exactly")


def test_without_the_solver_a_number_lock_is_refused_as_unprovable(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smt, "z3", None)
    root = shipped_with_total(tmp_path, replaced("order.total > 500 and not is_admin"))
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(root)
    # Every lock is proved on every load (issue 9), so each override is refused, not only the one that changed it.
    assert sorted(Path(d.file).name for d in caught.value.diagnostics) == ["acme.yaml", "globex.yaml"]
    for diagnostic in caught.value.diagnostics:
        assert "cannot prove this keeps the lock on guard 'large-order'" in diagnostic.message
        assert "install policyengine[smt]" in diagnostic.message


def test_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", str(shipped_with_total(tmp_path, replaced("order.total > 5000"))))
    assert code == 3
    assert "weakens the locked guard 'large-order' of action 'delete': with order.total=" in err


def test_all_invariants_are_decided_and_lint_decides_everything(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = shipped_with_total(tmp_path, replaced("order.total > 900 and not is_admin"))
    engine = policyengine.load(root)
    report = verify(engine, load_invariants(engine, find_invariant_files(root)))
    assert report.counts == {"holds": 13, "violated": 0, "vacuous": 0, "skipped": 0}
    large = next(r for r in report.results if r.invariant.id == "large-orders-deleted-by-admins")
    assert {c.method for c in large.checks} == {"solver"}
    assert lint(engine).skipped == ()
    code, out, _ = run_cli(capsys, "verify", "--strict", str(root))
    assert code == 0 and out.endswith("13 hold\n")


def test_a_violated_number_invariant_has_a_counterexample_that_evaluates(tmp_path: Path) -> None:
    root = shipped_with_total(tmp_path)
    invariants = root / "invariants" / "order-actions.yaml"
    invariants.write_text(invariants.read_text().replace("when: order.total > 1000 and user.role != 'admin'",
                                                         "when: order.total > 999 and user.role != 'admin'"))
    engine = policyengine.load(root)
    report = verify(engine, load_invariants(engine, find_invariant_files(root)))
    large = next(r for r in report.results if r.invariant.id == "large-orders-deleted-by-admins")
    check = next(c for c in large.checks if c.status == "violated")
    witness = dict(check.counterexample.witness)
    assert 999 < witness["order.total"] <= 1000
    facts = dict(check.counterexample.facts)
    assert "order.total" in facts and "order.sent_to_warehouse" in facts


def test_lint_decides_whether_a_store_change_over_numbers_changes_anything(tmp_path: Path) -> None:
    root = shipped_with_total(tmp_path)
    globex = root / "stores" / "globex.yaml"
    globex.write_text(globex.read_text().replace("actions:\n", """actions:
  reset:
    deny:
      - {id: never, when: "order.total > 1000 and order.total < 10", reason: Never.}
  edit:
    deny:
      - {id: large, when: "order.total > 5000", reason: Large orders are edited by finance.}
""", 1))
    report = lint(policyengine.load(root))
    assert report.skipped == ()
    changes_nothing = [f.message for f in report.findings if f.rule == "PE501"]
    assert changes_nothing == ["store globex's change to action 'reset' changes no decision: it decides every possible "
                               "order as order-actions@1 does"]
