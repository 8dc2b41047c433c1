"""YAML policy tests (``policyengine test``) and the pytest helper (``policyengine.testing``).

Everything runs through the CLI on real directories: the shipped suites in ``policies/tests/``, a failing suite
and the bad suites under ``tests/golden/suites/``. Bad suites are data-driven like ``test_diagnostics``: each
``tests/golden/suites/bad/<case>.yaml`` must produce exactly the diagnostics listed under ``<case>`` in
``tests/golden/suites/bad/expected.yaml`` (through the API, and through the CLI with exit 3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import run_cli

import policyengine
from policyengine import PolicyError
from policyengine.cli import EXIT_LOAD, EXIT_OK, EXIT_TESTS, EXIT_USAGE
from policyengine.pipeline.validate import SCHEMAS
from policyengine.testing import check_suites, decision_matrix, format_matrix
from policyengine.toolkit.suites import load_suites, run_suites, run_tests

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "suites"
BAD = GOLDEN / "bad"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load((BAD / "expected.yaml").read_text("utf-8"))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the output are relative to the working directory: run from the repository root."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(ROOT / "policies")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "test", *args)


# -- the shipped suites ---------------------------------------------------------------------------------------


def test_shipped_suites_pass_with_every_guard_fired(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "policies", "--coverage")
    assert (code, err) == (EXIT_OK, "")
    assert out == textwrap.dedent("""\
        acme (policies/tests/acme.yaml): 20 passed
        globex (policies/tests/globex.yaml): 13 passed
        order-actions (policies/tests/order-actions.yaml): 26 passed

        coverage: guards that fired, conditions seen with every possible outcome, actions checked
          order-actions@1 (26 cases): guards 2/2 100%, conditions 20/20 100%, actions 8/8
          order-actions@1 + store override acme@1 (20 cases): guards 3/3 100%, conditions 5/5 100%, actions 4/4
          order-actions@1 + store override globex@2 (13 cases): guards 1/1 100%, conditions 3/3 100%, actions 3/3
          total: guards 6/6 100%, actions 15/15 100%, policies with a case 3/3 100%

        59 passed (59 cases in 3 suites)
        """)  # noqa: E501


def test_shipped_suites_cover_every_action_and_guard_of_every_policy() -> None:
    run = run_tests(ROOT / "policies")
    assert run.ok and run.failed == 0
    assert {s.name for s in run.suites} == {"order-actions", "acme", "globex"}
    assert [c.store for c in run.coverage] == [None, "acme", "globex"]
    for cov in run.coverage:
        assert cov.cases > 0
        assert [g for g in cov.guards if not g.fired] == [], cov.policy
        assert [a.action for a in cov.actions if not a.checked] == [], cov.policy
        # every action is seen in each state some order can put it in
        assert all(a.states for a in cov.actions)


def test_shipped_suites_pass_with_fail_under_100(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--fail-under", "100")
    assert code == EXIT_OK
    assert out.endswith("59 passed (59 cases in 3 suites)\n")


def test_every_shipped_suite_names_its_schema() -> None:
    for file in sorted((ROOT / "policies" / "tests").glob("*.yaml")):
        assert file.read_text("utf-8").startswith("# yaml-language-server: $schema=../../schemas/test.schema.json\n")
    assert (ROOT / "schemas" / "test.schema.json").is_file()
    assert SCHEMAS["PolicyTestSuite"] == "test.schema.json"


def test_verbose_lists_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--filter", "globex/Delete*", "-v")
    assert code == EXIT_OK
    assert out == textwrap.dedent("""\
        globex (policies/tests/globex.yaml): 2 passed
        ok   globex/Delete asks for the finance team's approval/not sent yet
        ok   globex/Delete asks for the finance team's approval/the warehouse guard still applies

        2 passed (2 cases in 1 suite)
        """)


# -- a failing suite ------------------------------------------------------------------------------------------

FAILING = "tests/golden/suites/failing.yaml"

FAILING_OUTPUT = """\
failing (tests/golden/suites/failing.yaml): 4 failed, 1 passed
FAIL failing/reset of a shipped order  [tests/golden/suites/failing.yaml:23]
  decided by order-actions@1
  reset: state  [tests/golden/suites/failing.yaml:27:14]
    expected: enabled
    actual:   disabled (The order already has a shipment; resetting would re-process an order the warehouse has already worked.)
  delete: reasons  [tests/golden/suites/failing.yaml:28:15]
    expected: ["Read-only users can't change orders."]
    actual:   ["The order was already sent to the warehouse; archive it first."]
FAIL failing/a member's menu  [tests/golden/suites/failing.yaml:30]
  decided by order-actions@1
  reprocess: effects  [tests/golden/suites/failing.yaml:35:18]
    expected: [resume_processing]
    actual:   [retry_last_step]
  reset: confirm  [tests/golden/suites/failing.yaml:37:14]
    expected: no confirmation
    actual:   "Reset is destructive. All processing, rule actions and manual edits on this order are lost."
  archive: state (by the default rule)  [tests/golden/suites/failing.yaml:33:14]
    expected: hidden
    actual:   enabled
  delete: state (by the default rule)  [tests/golden/suites/failing.yaml:33:14]
    expected: hidden
    actual:   enabled
FAIL failing/force delete/new order  [tests/golden/suites/failing.yaml:42]
  decided by order-actions@1
  force_delete: label  [tests/golden/suites/failing.yaml:42:58]
    expected: "Force delete"
    actual:   "Force Delete"
FAIL failing/force delete/shipped order  [tests/golden/suites/failing.yaml:43]
  decided by order-actions@1
  delete: guards  [tests/golden/suites/failing.yaml:43:82]
    expected: []
    actual:   ["sent-to-warehouse"]
  force_delete: state  [tests/golden/suites/failing.yaml:43:61]
    expected: unavailable (disabled or hidden)
    actual:   enabled

4 failed, 1 passed (5 cases in 1 suite)
"""


def test_failing_suite_prints_expected_vs_actual_per_action(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "policies", "--suites", FAILING)
    assert (code, err) == (EXIT_TESTS, "")
    assert out == FAILING_OUTPUT


def test_failing_suite_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--suites", FAILING, "--format", "json", "--filter", "failing/reset*")
    assert code == EXIT_TESTS
    report = json.loads(out)
    assert (report["ok"], report["passed"], report["failed"]) == (False, 0, 1)
    (result,) = report["results"]
    assert result["id"] == "failing/reset of a shipped order"
    assert (result["file"], result["line"]) == (FAILING, 23)
    assert result["mismatches"] == [
        {"action": "reset", "check": "state", "expected": "enabled", "actual": "disabled",
         "where": f"{FAILING}:27:14", "default_rule": False},
        {"action": "delete", "check": "reasons", "expected": ["Read-only users can't change orders."],
         "actual": ["The order was already sent to the warehouse; archive it first."],
         "where": f"{FAILING}:28:15", "default_rule": False},
    ]


def test_filter_selects_cases_by_glob(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--suites", FAILING, "--filter", "failing/force delete/shipped*", "--filter", "*/passes")
    assert code == EXIT_TESTS
    assert out == textwrap.dedent("""\
        failing (tests/golden/suites/failing.yaml): 1 failed, 1 passed
        FAIL failing/force delete/shipped order  [tests/golden/suites/failing.yaml:43]
          decided by order-actions@1
          delete: guards  [tests/golden/suites/failing.yaml:43:82]
            expected: []
            actual:   ["sent-to-warehouse"]
          force_delete: state  [tests/golden/suites/failing.yaml:43:61]
            expected: unavailable (disabled or hidden)
            actual:   enabled

        1 failed, 1 passed (2 cases in 1 suite)
        """)
    # a suite name selects the whole suite, a case name every row of its table
    code, out, _ = cli(capsys, "--filter", "order-actions", "--filter", "acme/Shipped orders are not edited at ACME")
    assert code == EXIT_OK
    assert out.endswith("30 passed (30 cases in 2 suites)\n")


def test_filter_matching_nothing_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--filter", "nothing*")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == ("policyengine test: no case matches --filter nothing* (case ids are suite/case; suites: acme, "
                   "globex, order-actions)\n")


def test_junit_xml_records_each_case_and_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    code, _, _ = cli(capsys, "--suites", FAILING, "--junit", str(report))
    assert code == EXIT_TESTS
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "4", "0")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("file"), suite.get("tests"), suite.get("failures")) == \
        ("failing", FAILING, "5", "4")
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("line"), c.find("failure") is not None) for c in cases] == [
        ("passes", "17", False),
        ("reset of a shipped order", "23", True),
        ("a member's menu", "30", True),
        ("force delete [new order]", "42", True),
        ("force delete [shipped order]", "43", True),
    ]
    assert all(c.get("classname") == "failing" and c.get("file") == FAILING for c in cases)
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == ("reset: state: expected enabled, got disabled (The order already has a shipment; "
                                      "resetting would re-process an order the warehouse has already worked.) "
                                      "(and 1 more)")
    assert failure.text == "failing/reset of a shipped order (tests/golden/suites/failing.yaml:23)\n" + \
        FAILING_OUTPUT.split("FAIL failing/reset of a shipped order  [tests/golden/suites/failing.yaml:23]\n")[1] \
        .split("FAIL ")[0]


def test_junit_xml_of_the_shipped_suites_has_no_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    code, _, _ = cli(capsys, "--junit", str(report))
    assert code == EXIT_OK
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures")) == ("59", "0")
    assert [s.get("name") for s in root.findall("testsuite")] == ["acme", "globex", "order-actions"]
    assert not root.findall(".//failure")


# -- coverage of a suite that misses guards -------------------------------------------------------------------


def test_coverage_lists_guards_that_never_fired(capsys: pytest.CaptureFixture[str],
                                                engine: policyengine.Engine) -> None:
    code, out, err = cli(capsys, "--suites", "tests/golden/suites/partial-coverage.yaml", "--coverage")
    assert (code, err) == (EXIT_OK, "")
    where = {f"{a.id}.{g.spec.id}": g.when.where for a in engine.policy.actions for g in a.guards}
    cond = {name: expr.where for name, expr in engine.policy.conditions.items()}
    allow = {a.id: a.allow.where for a in engine.policy.actions}
    assert out == textwrap.dedent(f"""\
        partial (tests/golden/suites/partial-coverage.yaml): 1 passed

        coverage: guards that fired, conditions seen with every possible outcome, actions checked
          order-actions@1 (1 case): guards 0/2 0%, conditions 0/20 0%, actions 2/8
            never fired:      reset.deny.has-shipment  {where['reset.has-shipment']}  `order.has_shipment`
            never fired:      delete.deny.sent-to-warehouse  {where['delete.sent-to-warehouse']}  `order.sent_to_warehouse`
            never false:      conditions.can_act  {cond['can_act']}  `user.role in ['admin', 'member']`
            never true:       conditions.is_admin  {cond['is_admin']}  `user.role == 'admin'`
            never true:       conditions.manual_store  {cond['manual_store']}  `store.manual_fulfillment`
            never false:      reset.allow  {allow['reset']}  `can_act`
            never false:      delete.allow  {allow['delete']}  `can_act`
            never checked:    reprocess, edit, archive, force_delete, schedule_process, revalidate
          order-actions@1 + store override acme@1 (no cases): none of its 3 guards and 5 conditions exercised
          order-actions@1 + store override globex@2 (no cases): none of its 1 guards and 3 conditions exercised
          total: guards 0/6 0%, actions 2/15 13%, policies with a case 1/3 33%

        1 passed (1 case in 1 suite)
        """)


def test_fail_under_fails_a_suite_that_misses_guards(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--suites", "tests/golden/suites/partial-coverage.yaml", "--fail-under", "50")
    assert code == EXIT_TESTS
    assert err.splitlines() == [
        "guard coverage 0% is below --fail-under 50%",
        "actions checked 2/15 (13%) is below --fail-under 50%",
        "policies with a case 1/3 (33%) is below --fail-under 50%: no test case is decided by store acme, store globex",
    ]


def test_coverage_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--suites", "tests/golden/suites/partial-coverage.yaml", "--coverage", "--format", "json")
    assert code == EXIT_OK
    base = json.loads(out)["coverage"][0]
    assert (base["policy"], base["store"], base["cases"]) == ("order-actions@1", None, 1)
    assert [(g["guard"], g["fired"], g["can_fire"]) for g in base["guards"]["items"]] == \
        [("has-shipment", 0, True), ("sent-to-warehouse", 0, True)]
    can_act = next(c for c in base["conditions"]["items"] if c["name"] == "conditions.can_act")
    assert (can_act["true"], can_act["false"], can_act["possible"], can_act["covered"]) == (1, 0, [False, True], False)
    # force_delete.allow is only evaluated when Force Delete is shown (to admins): it can never be false
    allow = next(c for c in base["conditions"]["items"] if c["name"] == "force_delete.allow")
    assert allow["possible"] == [True]


# -- bad suites -----------------------------------------------------------------------------------------------


def _expected(case: str, file: str) -> list[tuple[str, int, int, str, str | None]]:
    kinds = ", ".join(SCHEMAS)
    return [(file, e["line"], e["column"], e["message"].replace("{kinds}", kinds), e.get("hint")) for e in EXPECTED[case]]


def test_every_bad_suite_has_expectations() -> None:
    files = {p.stem for p in BAD.glob("*.yaml")} - {"expected"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_suite_diagnostics(case: str, engine: policyengine.Engine) -> None:
    file = f"tests/golden/suites/bad/{case}.yaml"
    with pytest.raises(PolicyError) as info:
        load_suites(engine, file)
    got = [(d.file, d.line, d.column, d.message, d.hint) for d in info.value.diagnostics]
    assert got == _expected(case, file)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_suite_diagnostics_through_the_cli(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    file = f"tests/golden/suites/bad/{case}.yaml"
    code, out, err = cli(capsys, "policies", "--suites", file)
    assert (code, out) == (EXIT_LOAD, "")
    lines = [line for line in err.splitlines() if not line.startswith("    at ")]
    expected = []
    for f, line, column, message, hint in _expected(case, file):
        expected.append(f"{f}:{line}:{column}: {message}")
        expected += [f"    hint: {hint}"] if hint else []
    count = len(EXPECTED[case])
    # expectations the policies could give after a change (a reason, guard or effect they do not give) end with a
    # pointer to `test --update`; other problems do not
    note = ["the suites expect reasons, guards or effects the policies no longer give: if the policies changed on "
            "purpose, `policyengine test --update` accepts what they give now (it shows the diff first)"]
    updatable = case in ("effect-never-sets", "unknown-guard", "unknown-operation", "unknown-reason")
    assert lines == [*expected, f"{count} problem{'s' if count != 1 else ''} found", *(note if updatable else [])]


def test_a_bad_suite_in_the_policy_directory_does_not_stop_loading_but_fails_validate_and_test(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """load() reads only what decides (issue 9); validate and the toolkit still check the suites, and fail."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    shutil.copy(BAD / "bad-state.yaml", policies / "tests" / "typo.yaml")
    assert policyengine.load(policies).stores == ("acme", "globex")
    for command in (["validate", str(policies)], ["test", str(policies)]):
        code, out, err = run_cli(capsys, *command)
        assert code == EXIT_LOAD, command
        first = err.splitlines()[0]
        assert first.startswith(f"{policies / 'tests' / 'typo.yaml'}:19:14: "), (command, first)
        assert "    hint: did you mean 'enabled'?" in err.splitlines()


def test_duplicate_suite_names_in_a_directory(tmp_path: Path, engine: policyengine.Engine) -> None:
    for name in ("a.yaml", "b.yaml"):
        shutil.copy(GOLDEN / "partial-coverage.yaml", tmp_path / name)
    with pytest.raises(PolicyError) as info:
        load_suites(engine, tmp_path)
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.column, d.message, d.hint) == (
        str(tmp_path / "b.yaml"), 4, 7, f"a second suite named 'partial' (first in {tmp_path / 'a.yaml'})",
        "suite names are unique: they prefix the case ids")


def test_no_suites_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "policies", "--suites", str(tmp_path))
    assert code == EXIT_LOAD
    assert err == f"{tmp_path}:1:1: no test suites (kind: PolicyTestSuite) found\n1 problem found\n"
    code, _, err = cli(capsys, "policies", "--suites", "policies/order-actions.yaml")
    assert code == EXIT_LOAD
    assert err.splitlines()[0] == ("policies/order-actions.yaml:8:7: not a test suite (kind 'ActionPolicy'); "
                                   "expected kind PolicyTestSuite")


# -- the suite format's semantics -------------------------------------------------------------------------------


def test_fixtures_merge_and_rows_inherit(engine: policyengine.Engine) -> None:
    (suite,) = load_suites(engine, ROOT / "policies" / "tests" / "order-actions.yaml")
    cases = {c.id: c for c in suite.cases}
    revalidate = cases["order-actions/Revalidate appears for orders in Error of manual-fulfillment stores"]
    assert revalidate.order == {"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
                                "store": {"id": "no-override-store", "manual_fulfillment": True}}
    assert revalidate.user == {"role": "member"}
    row = cases["order-actions/Delete is disabled once the order was sent to the warehouse/archiving does not make it "
                "deletable"]
    assert (row.order["status"], row.order["sent_to_warehouse"]) == ("Archived", True)
    assert row.user == {"role": "member"}  # from the case
    assert row.where == "policies/tests/order-actions.yaml:128"


def test_a_store_suite_fills_in_the_order_store(engine: policyengine.Engine) -> None:
    (suite,) = load_suites(engine, ROOT / "policies" / "tests" / "acme.yaml")
    case = suite.cases[0]
    assert (case.store, case.policy_store) == ("acme", "acme")
    assert case.order["store"] == {"id": "acme", "manual_fulfillment": False}


def test_default_rule_expands_to_every_unlisted_action(engine: policyengine.Engine) -> None:
    (suite,) = load_suites(engine, ROOT / "policies" / "tests" / "order-actions.yaml")
    menu = suite.cases[0]
    assert [(e.action, e.state, e.implicit) for e in menu.expectations] == [
        ("reprocess", "enabled", False), ("edit", "enabled", False), ("reset", "enabled", False),
        ("archive", "enabled", False), ("delete", "enabled", False), ("force_delete", "hidden", True),
        ("schedule_process", "hidden", True), ("revalidate", "hidden", True)]
    assert menu.expectations[-1].where == "policies/tests/order-actions.yaml:38:14"
    # without `default:`, unlisted actions are not checked
    assert [e.action for e in suite.cases[1].expectations] == ["reprocess", "edit"]


# -- the pytest helper ----------------------------------------------------------------------------------------


def test_decision_matrix_equals_the_snapshot(snapshot: Any) -> None:
    matrix = decision_matrix(ROOT / "policies")
    assert matrix["policy"] == "order-actions@1"
    # the policy's constraints rule out impossible orders (a shipment never sent, a Pending automatic order...)
    assert len(decision_matrix(ROOT / "policies", shape="rows")["rows"]) == 189
    # one entry per action and combination of the facts that action reads, keyed by both
    assert matrix["decisions"]["order.has_shipment=true, user.role=member | reset"] == \
        "disabled (reset.deny.has-shipment) [order.status := New + restart_processing]"
    assert matrix["actions"]["reset"]["reads"] == ["order.has_shipment", "user.role"]
    assert matrix["reasons"]["reset.deny.has-shipment"].startswith("The order already has a shipment")
    assert matrix == snapshot


def test_store_decision_matrix_equals_the_snapshot(snapshot: Any, engine: policyengine.Engine) -> None:
    matrix = decision_matrix(engine, store="acme")
    assert (matrix["policy"], matrix["store"]) == ("order-actions@1 + store override acme@1", "acme")
    assert matrix["axes"]["order.channel"] == ["shopify", "amazon", "woocommerce"]
    assert matrix == snapshot


def test_decision_matrix_is_stable_across_processes(engine: policyengine.Engine) -> None:
    code = ("import json, policyengine.testing as t; "
            "print(json.dumps(t.decision_matrix('policies', store='acme')))")
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == decision_matrix(engine, store="acme")


def test_decision_matrix_options(engine: policyengine.Engine) -> None:
    admins = decision_matrix(engine, facts={"user.role": "admin"}, shape="rows")
    assert "user.role" not in admins["axes"] and admins["fixed"] == {"user.role": "admin"}
    assert all(row["force_delete"].startswith("enabled") for row in admins["rows"].values())
    everything = decision_matrix(engine, all_combinations=True, shape="rows")
    assert len(everything["rows"]) == 312
    text = format_matrix(admins)
    assert text.splitlines()[0] == "# order-actions@1 with {'user.role': 'admin'}"
    assert ("order.status=Open, order.has_shipment=false, order.sent_to_warehouse=true, "
            "store.manual_fulfillment=false\n  reprocess: enabled [retry_last_step]\n") in text
    snapshot_shape = decision_matrix(engine, facts={"user.role": "admin"})
    assert snapshot_shape["decisions"]["(any) | force_delete"] == "enabled [delete_order]"
    lines = format_matrix(snapshot_shape).splitlines()
    assert "order.sent_to_warehouse=true | delete: disabled (delete.deny.sent-to-warehouse) [delete_order]" in lines
    assert "# reason delete.deny.sent-to-warehouse: The order was already sent to the warehouse; archive it first." \
        in lines
    with pytest.raises(ValueError, match="shape must be"):
        decision_matrix(engine, shape="table")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no store override for 'no-override-store'"):
        decision_matrix(engine, store="no-override-store")
    with pytest.raises(ValueError, match=r"not facts of order-actions@1: user\.rol"):
        decision_matrix(engine, facts={"user.rol": "admin"})


def test_check_suites_raises_with_the_cli_report() -> None:
    assert check_suites(ROOT / "policies").passed == 59
    with pytest.raises(AssertionError) as info:
        check_suites(ROOT / "policies", suites=FAILING)
    message = str(info.value)
    assert message.startswith("4 of 5 policy test cases failed\nFAIL failing/reset of a shipped order  "
                              "[tests/golden/suites/failing.yaml:23]\n  decided by order-actions@1\n")
    assert "  force_delete: state  [tests/golden/suites/failing.yaml:43:61]\n" in message


def test_the_pytest_plugin_in_a_host_project(tmp_path: Path) -> None:
    """A host app's own test run: the plugin's fixtures, a syrupy snapshot written once and matched on a second
    run in another process (another hash seed), and the YAML suites run as a pytest test."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "pytest.ini").write_text("[pytest]\npolicyengine_policies = policies\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["policyengine.testing"]\n')
    (tmp_path / "test_policies.py").write_text(textwrap.dedent("""\
        import pytest

        def test_matrix(policy_matrix, snapshot):
            assert policy_matrix() == snapshot

        @pytest.mark.parametrize("store", ["acme", "globex"])
        def test_store_matrix(policy_matrix, snapshot, store):
            assert policy_matrix(store=store) == snapshot

        def test_yaml_suites(policy_tests):
            assert policy_tests().passed == 59
            assert policy_tests("acme/*").passed == 20
        """))

    def pytest_run(seed: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=tmp_path,
                              capture_output=True, text=True, env={**host_env, "PYTHONHASHSEED": seed})

    # A host's own run, not a worker of ours: pytest-xdist's variables would make syrupy keep its report quiet.
    host_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}

    first = pytest_run("1", "--snapshot-update")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 snapshots generated" in first.stdout
    second = pytest_run("2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 snapshots passed" in second.stdout
    ambr = (tmp_path / "__snapshots__" / "test_policies.ambr").read_text("utf-8")
    # one amber line per action and combination: a diff names both
    assert "'order.has_shipment=true, user.role=member | reset': 'disabled (reset.deny.has-shipment) " \
           "[order.status := New + restart_processing]'," in ambr
    assert "'reset.deny.has-shipment': 'The order already has a shipment; resetting would re-process an order the " \
           "warehouse has already worked.'," in ambr
    assert len(ambr) < 150_000


def test_run_suites_results_are_plain_frozen_objects(engine: policyengine.Engine) -> None:
    suites = load_suites(engine, FAILING)
    run = run_suites(engine, suites, ["failing/force delete/*"])
    assert [r.case.id for r in run.results] == ["failing/force delete/new order", "failing/force delete/shipped order"]
    (mismatch,) = run.results[0].mismatches
    assert (mismatch.action, mismatch.check, mismatch.expected, mismatch.actual) == \
        ("force_delete", "label", "Force delete", "Force Delete")
    with pytest.raises(AttributeError):
        mismatch.action = "x"  # type: ignore[misc]
