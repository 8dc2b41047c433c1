"""``make check`` (CI) fails when something could not be checked: an invariant or action the analyses could not
decide (``verify --strict``, ``lint --strict``), or coverage under the threshold (``test --fail-under 100``: a
guard that never fired, an action never checked, a store override no case tests).

Each scenario edits a copy of the shipped ``policies/`` as a product team would, then runs the very commands of the
Makefile's ``check`` target (read from the Makefile, so the test follows it) through the CLI.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from cli_support import run_cli

from policyengine.proof import smt

ROOT = Path(__file__).resolve().parent.parent

# A number fact in a Reset guard: "over 1,000 needs an admin" (the edit).
TOTAL_FACT = """\
  order.total:
    type: number
    description: The order total.
"""
TOTAL_GUARD = """\
      - id: big-order
        when: order.total > 1000 and user.role != 'admin'
        reason: Orders over 1,000 need an admin.
"""
# A string fact the solver cannot model in a Reset guard: a case-insensitive regex.
NOTE_FACT = """\
  order.note:
    type: string
    description: A note on the order.
"""
NOTE_GUARD = """\
      - id: marketplace
        when: order.note =~ '(?i)^amz'
        reason: Marketplace orders are reset at the marketplace.
"""
# The README's store: a real override for initech, with a guard of its own.
INITECH = """\
apiVersion: policyengine/v1
kind: StoreOverride
store: initech
version: 1
base: {policy: order-actions, version: 1}

actions:
  edit:
    deny:
      - id: shipped
        when: order.status == 'Shipped'
        reason: Initech's warehouse has shipped this order; edits would not reach it.
"""
INITECH_SUITE = """\
apiVersion: policyengine/v1
kind: PolicyTestSuite
name: initech
store: initech
cases:
  - name: a shipped order cannot be edited
    order: {status: Shipped, has_shipment: true, sent_to_warehouse: true, store: {manual_fulfillment: false}}
    user: {role: member}
    expect:
      edit: {state: disabled, guards: [shipped]}
  - name: an open order can be edited
    order: {status: Open, has_shipment: false, sent_to_warehouse: true, store: {manual_fulfillment: false}}
    user: {role: member}
    expect:
      edit: enabled
"""


def check_commands() -> list[list[str]]:
    """The ``policyengine`` commands of the Makefile's ``check`` target, as argument lists."""
    text = (ROOT / "Makefile").read_text("utf-8")
    recipe = re.search(r"^check:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe is not None
    commands = [line.strip().split() for line in recipe.group(1).splitlines()]
    assert all(c[0] == "$(BIN)/policyengine" for c in commands), commands
    return [c[1:] for c in commands]


def make_check(capsys: pytest.CaptureFixture[str], path: Path) -> list[tuple[str, int, str]]:
    """Run every command of ``make check`` on ``path``: ``(command, exit code, stdout + stderr)`` of each."""
    out = []
    for command in check_commands():
        args = [str(path) if a == "policies" else a for a in command]
        code, stdout, stderr = run_cli(capsys, *args)
        out.append((command[0], code, stdout + stderr))
    return out


def failing(results: list[tuple[str, int, str]]) -> list[str]:
    return [name for name, code, _ in results if code != 0]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    return target


def add_reset_guard(policies: Path, fact: str, guard: str) -> None:
    base = policies / "order-actions.yaml"
    text = base.read_text("utf-8")
    text = text.replace("  user.role:\n    type: enum\n", fact + "  user.role:\n    type: enum\n", 1)
    anchor = "        locked: true\n    destructive: true\n    confirm: Reset"
    assert anchor in text
    text = text.replace(anchor, "        locked: true\n" + guard + "    destructive: true\n    confirm: Reset", 1)
    base.write_text(text, "utf-8")


def test_the_check_target_is_strict_and_sets_a_coverage_threshold() -> None:
    commands = {c[0]: c for c in check_commands()}
    assert set(commands) == {"validate", "test", "lint", "verify"}
    assert "--strict" in commands["lint"] and "--strict" in commands["verify"]
    assert commands["test"][commands["test"].index("--fail-under") + 1] == "100"


def test_the_shipped_policies_pass_make_check(capsys: pytest.CaptureFixture[str]) -> None:
    results = make_check(capsys, ROOT / "policies")
    assert failing(results) == [], results
    test_output = dict((n, o) for n, _, o in results)["test"]
    assert "  total: guards 6/6 100%, actions 15/15 100%, policies with a case 3/3 100%\n" in test_output


@pytest.mark.skipif(not smt.available(), reason="needs the SMT solver (policyengine[smt])")
def test_a_number_fact_in_a_reset_guard_is_decided_by_the_solver(copy: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """With z3 installed, ``order.total > 1000`` is decided exactly: nothing is skipped, and the check passes."""
    add_reset_guard(copy, TOTAL_FACT, TOTAL_GUARD)
    code, out, _ = run_cli(capsys, "verify", str(copy), "--strict", "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["counts"] == {"holds": 12, "violated": 0, "vacuous": 0, "skipped": 0}
    reset = next(r for r in report["invariants"] if r["id"] == "reset-never-with-shipment")
    assert {c["method"] for c in reset["checks"]} == {"solver"}  # not enumerated: order.total has no finite domain
    code, out, _ = run_cli(capsys, "lint", str(copy), "--strict", "--format", "json")
    assert (code, json.loads(out)["skipped"]) == (0, [])


def test_without_the_solver_a_number_fact_fails_the_strict_check(copy: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without z3 the Reset invariants and Reset itself cannot be decided: skipped, so --strict exits 1."""
    add_reset_guard(copy, TOTAL_FACT, TOTAL_GUARD)
    monkeypatch.setattr(smt, "z3", None)
    code, out, _ = run_cli(capsys, "verify", str(copy), "--format", "json")
    report = json.loads(out)
    assert code == 0  # without --strict: a warning only
    assert report["counts"]["skipped"] == 4 and report["counts"]["violated"] == 0
    code, out, _ = run_cli(capsys, "verify", str(copy), "--strict")
    assert code == 1
    assert out.endswith("8 hold, 4 skipped\n")
    code, out, _ = run_cli(capsys, "lint", str(copy), "--strict")
    assert code == 1
    assert "skipped action 'reset': reads order.total (number)" in out


def test_a_guard_the_solver_cannot_model_fails_the_strict_check(copy: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A case-insensitive regex is beyond the solver's regex theory, installed or not: genuinely undecided."""
    add_reset_guard(copy, NOTE_FACT, NOTE_GUARD)
    code, out, _ = run_cli(capsys, "verify", str(copy))
    assert code == 0
    assert out.endswith("8 hold, 4 skipped\n")
    assert "SKIPPED reset-never-with-shipment" in out
    assert "the regex '(?i)^amz' uses flags (ignore case, multiline...) the solver's regex theory cannot express" in out
    code, out, err = run_cli(capsys, "verify", str(copy), "--strict")
    assert code == 1
    assert err == "policyengine verify: --strict: invariants 4 skipped (not decided) fail the check\n"
    code, out, err = run_cli(capsys, "lint", str(copy))
    assert (code, err) == (0, "")
    code, out, err = run_cli(capsys, "lint", str(copy), "--strict")
    assert code == 1
    assert err == "policyengine lint: --strict: 2 skipped items (not decidable exactly) fail the check\n"
    assert out.splitlines()[-1].startswith("no findings, 2 skipped (not decidable exactly)")


def test_a_new_store_with_no_test_case_fails_the_coverage_threshold(copy: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The README's ``initech`` as a real store override: the base suite's fixtures are not disturbed (they use
    ``no-override-store``), and the untested store fails ``--fail-under 100`` until a suite tests it."""
    (copy / "stores" / "initech.yaml").write_text(INITECH, "utf-8")
    code, out, err = run_cli(capsys, "test", str(copy), "--coverage")
    assert (code, err) == (0, "")  # no fixture errors: the base suite still runs on the base policy
    assert out.endswith("59 passed (59 cases in 3 suites)\n")
    # a store's coverage counts what its override changes: here one guard of one action
    assert "  order-actions@1 + store override initech@1 (no cases): none of its 1 guards and 1 conditions " \
           "exercised\n" in out
    assert "  total: guards 6/7 86%, actions 15/16 94%, policies with a case 3/4 75%\n" in out
    code, out, err = run_cli(capsys, "test", str(copy), "--fail-under", "100")
    assert code == 4
    assert err.splitlines() == [
        "guard coverage 86% is below --fail-under 100%",
        "actions checked 15/16 (94%) is below --fail-under 100%",
        "policies with a case 3/4 (75%) is below --fail-under 100%: no test case is decided by store initech",
    ]
    assert failing(make_check(capsys, copy)) == ["test"]
    # the store's small suite (its guard fired, its action checked) is all the gate asks of a one-guard override
    (copy / "tests" / "initech.yaml").write_text(INITECH_SUITE, "utf-8")
    code, out, err = run_cli(capsys, "test", str(copy), "--fail-under", "100")
    assert (code, err) == (0, "")
    assert "  total: guards 7/7 100%, actions 16/16 100%, policies with a case 4/4 100%\n" in out


def test_coverage_totals_in_json(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` carries the three figures ``--fail-under`` checks, and which policies no case tests."""
    (copy / "stores" / "initech.yaml").write_text(textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: StoreOverride
        store: initech
        version: 1
        base: {policy: order-actions, version: 1}
        actions:
          edit: {label: Modify}
        """), "utf-8")
    code, out, err = run_cli(capsys, "test", str(copy), "--fail-under", "100", "--format", "json")
    report = json.loads(out)
    assert code == 4 and report["ok"] is False
    assert report["coverage_total"] == {
        "guards": {"covered": 6, "total": 6, "percent": 100.0},
        "actions": {"covered": 15, "total": 16, "percent": pytest.approx(1500 / 16)},
        "policies with a case": {"covered": 3, "total": 4, "percent": 75.0, "missed": ["store initech"]},
    }
    assert err.splitlines()[-1] == ("policies with a case 3/4 (75%) is below --fail-under 100%: no test case is "
                                    "decided by store initech")
    code, _, err = run_cli(capsys, "test", str(copy), "--fail-under", "75")
    assert (code, err) == (0, "")  # 6/6 guards, 15/16 actions, 3/4 policies: all at least 75%
