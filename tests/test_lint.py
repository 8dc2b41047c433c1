"""``policyengine lint``: every rule on a real policy directory, through the CLI, with its exact output.

Each rule has a case ``tests/golden/lint/<rule id>-<rule name>/`` (a policy, and store overrides where the rule is
about them) whose findings are all of that rule, and whose exact text output is ``expected.out`` next to it. The
shipped ``policies/`` must pass ``lint --strict``. Regenerate the ``expected.out`` files with
``PE_UPDATE_GOLDEN=1 pytest tests/test_lint.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import run_cli
from conftest import POLICIES

import policyengine
from policyengine.analysis.lint import MAX_SPACE, RULES, Analysis, lint
from policyengine.cli import EXIT_LOAD
from policyengine.proof import smt

GOLDEN = Path(__file__).parent / "golden" / "lint"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
UPDATE = bool(os.environ.get("PE_UPDATE_GOLDEN"))


def rule_of(case: str) -> str | None:
    head = case.split("-")[0].upper()
    return head if head in RULES else None


def test_every_rule_has_a_golden_case() -> None:
    assert {rule_of(c) for c in CASES} - {None} == set(RULES)
    for case in CASES:
        rule = rule_of(case)
        if rule is not None:
            assert case == f"{rule.lower()}-{RULES[rule].name}"


@pytest.mark.parametrize("case", CASES)
def test_golden_output(case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, err = run_cli(capsys, "lint", case)
    expected = GOLDEN / case / "expected.out"
    if UPDATE:
        expected.write_text(out, "utf-8")
    assert (code, err) == (0, "")
    assert out == expected.read_text("utf-8")


@pytest.mark.parametrize("case", CASES)
def test_golden_rules_and_strict(case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case reports its own rule only (and at least once); --strict fails exactly when there are findings."""
    monkeypatch.chdir(GOLDEN)
    code, out, _ = run_cli(capsys, "lint", "--format", "json", case)
    report = json.loads(out)
    assert code == 0
    rules = {f["rule"] for f in report["findings"]}
    expected = rule_of(case)
    if expected:
        assert rules == {expected}
    assert report["ok"] is (not report["findings"])
    strict, _, _ = run_cli(capsys, "lint", "--strict", case)
    assert strict == (1 if report["findings"] or report["skipped"] else 0)


def test_shipped_policies_pass_lint_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "lint", "--strict", str(POLICIES))
    assert (code, err) == (0, "")
    assert out.endswith("no findings; checked order-actions@1, store acme (acme@1), store globex (globex@2)\n")
    assert out.count("\n") == 1  # nothing skipped either: the shipped policies read finite facts only


def test_json_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "pe103-guard-never-fires")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is False
    assert report["policies"] == ["shop@1", "store acme (acme@1)"]
    assert report["counts"] == {"PE103": 4}
    assert report["skipped"] == []
    assert report["findings"][0] == {
        "rule": "PE103", "name": "guard-never-fires", "file": "pe103-guard-never-fires/policy.yaml", "line": 27,
        "column": 15,
        "message": "guard 'has-shipment' of action 'reset' only fires when the action is hidden",
        "hint": "remove the guard, or fix its condition", "stores": ["acme"],
        "docs": "docs/lint.md#pe103-guard-never-fires",
    }
    assert [(f["file"], f["line"]) for f in report["findings"]] == sorted((f["file"], f["line"]) for f in report["findings"])


def test_without_the_solver_non_finite_facts_are_skipped_never_guessed(capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    monkeypatch.setattr(smt, "z3", None)
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "solver-non-finite-facts")
    report = json.loads(out)
    assert report["findings"] == []
    missing = f"; {smt.INSTALL}"
    assert [(s["what"], s["reason"]) for s in report["skipped"]] == [
        ("condition 'big'", "reads order.total (number), which has no finite set of values" + missing),
        ("condition 'signed'", "reads order.total (number), which has no finite set of values" + missing),
        ("action 'refund'", "reads order.total (number), which has no finite set of values" + missing),
        ("action 'relist'", "reads order.channel (string), which has no finite set of values" + missing),
        ("action 'hold'", "reads order.tags (set), which has no finite set of values" + missing),
        ("action 'code'", "reads order.channel (string), which has no finite set of values" + missing),
    ]
    code, _, _ = run_cli(capsys, "lint", "--strict", "solver-non-finite-facts")
    assert code == 1  # could not decide: --strict (make check) fails


def test_disable_rules_by_id_or_name(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, _ = run_cli(capsys, "lint", "--strict", "--disable", "PE301", "pe301-unused-condition")
    assert (code, out) == (0, "no findings; checked shop@1, store acme (acme@1)\n")
    code, out, _ = run_cli(capsys, "lint", "--strict", "--disable", "unused-condition,pe302", "pe301-unused-condition")
    assert code == 0
    code, _, err = run_cli(capsys, "lint", "--disable", "PE999", "pe301-unused-condition")
    assert code == 2
    assert err.startswith("policyengine lint: --disable: unknown rule 'PE999' (rules: PE101, PE102")


def test_policies_that_do_not_load_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\n")
    code, out, err = run_cli(capsys, "lint", "--strict", str(tmp_path))
    assert code == EXIT_LOAD == 3
    assert "missing required key 'name'" in err


# -- the analysis itself ---------------------------------------------------------------------------------------

POLICY = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: shop
version: 1
facts:
  order.status: {type: enum, values: [New, Shipped]}
  order.has_shipment: {type: bool}
  order.flagged: {type: bool}
  user.role: {type: enum, values: [admin, member]}
constraints:
  shipped-has-shipment: {when: "order.status != 'Shipped' or order.has_shipment"}
  flagged-only-new: {when: "not order.flagged or order.status == 'New'"}
actions:
  reset:
    label: Reset
    allow: {when: "user.role == 'admin'", reason: Admins only.}
    deny:
      - {id: has-shipment, when: order.has_shipment, reason: Shipped.}
"""


def test_constraints_on_facts_no_condition_reads_are_applied(tmp_path: Path) -> None:
    """A constraint may read a fact no condition reads (order.flagged here); the analysis still applies it."""
    (tmp_path / "p.yaml").write_text(POLICY)
    engine = policyengine.load(tmp_path)
    analysis = Analysis(engine.policy)
    guard = engine.policy.actions[0].guards[0].when
    space = analysis.space([guard], ["order.status"])
    assert space.facts == ("order.status", "order.has_shipment")
    assert {space.project(r) for r in space.rows} == {("New", False), ("New", True), ("Shipped", True)}
    report = lint(engine)
    assert [f.message for f in report.findings] == [  # read by the constraints only
        "fact 'order.status' is not read by any condition", "fact 'order.flagged' is not read by any condition"]


def test_a_too_large_space_is_decided_by_the_solver_or_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = "".join(f"  order.f{i}: {{type: bool}}\n" for i in range(17))
    allow = " or ".join(f"order.f{i}" for i in range(17))
    (tmp_path / "p.yaml").write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\nname: big\nversion: 1\n"
                                     f"facts:\n{facts}actions:\n  go:\n    label: Go\n"
                                     f"    allow: {{when: \"{allow} and not order.f0\", reason: No.}}\n")
    report = lint(policyengine.load(tmp_path))
    assert (report.findings, report.skipped) == ((), ())
    monkeypatch.setattr(smt, "z3", None)
    report = lint(policyengine.load(tmp_path))
    assert report.findings == ()
    assert [s.reason for s in report.skipped] == [
        f"{2 ** 17} combinations of 17 facts (the limit is {MAX_SPACE}); {smt.INSTALL}"]


def test_findings_only_in_a_store_name_it_and_store_files_are_analysed() -> None:
    engine = policyengine.load(GOLDEN / "pe103-guard-never-fires")
    report = lint(engine)
    by_line = {(Path(f.file).name, f.line): f for f in report.findings}
    assert by_line["policy.yaml", 27].stores == ("acme",)
    assert by_line["acme.yaml", 13].stores == ()  # the store's own file says which store it is
    assert by_line["policy.yaml", 35].stores == ()  # found in the base policy: every store inherits it
