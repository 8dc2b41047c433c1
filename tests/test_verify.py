"""``policyengine verify``: invariants proved over every possible order, for the base policy and each store override.

* Golden cases (``tests/golden/verify/<case>/``: a policy directory with its invariants) run through the CLI with
  their exact output (``expected.out`` / ``expected.err``) and exit code: violated invariants with counterexamples
  per store, vacuous and skipped ones, and every kind of mistake in an invariants file.
* The shipped ``policies/`` verify clean, and each shipped invariant is checked against an independent oracle
  (``engine.evaluate`` over the whole finite fact space, conditions evaluated by rule-engine itself).
* Mutating the shipped policy breaks the invariant that guards against it, with a counterexample.

Regenerate the expected outputs with ``PE_UPDATE_GOLDEN=1 pytest tests/test_verify.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import rule_engine
from cli_support import run_cli
from conftest import BASE_STORE, POLICIES, build_inputs, fact_space, oracle, set_path

import policyengine
from policyengine.analysis.verify import STATES, Clause, find_invariant_files, load_invariants, verify
from policyengine.proof import smt

GOLDEN = Path(__file__).parent / "golden" / "verify"
UPDATE = bool(os.environ.get("PE_UPDATE_GOLDEN"))
SHIPPED_INVARIANTS = POLICIES / "invariants" / "order-actions.yaml"

CASES = {  # case -> (extra arguments, exit code)
    "violated": ([], 1),
    "vacuous-and-skipped": ([], 1),
    "bad-invariants": ([], 3),
}


def check_golden(path: Path, text: str) -> None:
    if UPDATE:
        if text:
            path.write_text(text, "utf-8")
        elif path.exists():
            path.unlink()
    assert text == (path.read_text("utf-8") if path.exists() else "")


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_output(case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    args, expected_code = CASES[case]
    code, out, err = run_cli(capsys, "verify", *args, case)
    check_golden(GOLDEN / case / "expected.out", out)
    check_golden(GOLDEN / case / "expected.err", err)
    assert code == expected_code


def test_golden_cases_are_all_run() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(CASES)


def test_strict_fails_on_vacuous_or_skipped(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, _ = run_cli(capsys, "verify", "--strict", "--invariants", "admins.yaml", "vacuous-and-skipped")
    assert code == 0
    assert out.endswith("1 hold\n")
    code, out, _ = run_cli(capsys, "verify", "--strict", "vacuous-and-skipped")
    assert code == 1
    assert out.endswith("2 hold, 1 violated, 1 vacuous, 1 skipped\n")


def test_without_the_solver_number_invariants_are_skipped(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    monkeypatch.setattr(smt, "z3", None)
    code, out, _ = run_cli(capsys, "verify", "--format", "json", "vacuous-and-skipped")
    report = json.loads(out)
    assert code == 0  # nothing violated: a warning, but make check runs --strict
    assert report["counts"] == {"holds": 1, "violated": 0, "vacuous": 1, "skipped": 3}
    big = next(r for r in report["invariants"] if r["id"] == "no-big-refunds")["checks"][0]
    assert big["reason"] == ("reads order.total (number), which has no finite set of values; " + smt.INSTALL)
    code, _, _ = run_cli(capsys, "verify", "--strict", "vacuous-and-skipped")
    assert code == 1


def test_json_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    code, out, _ = run_cli(capsys, "verify", "--format", "json", "violated")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["counts"] == {"holds": 1, "violated": 3, "vacuous": 0, "skipped": 0}
    assert report["policies"] == ["shop@1", "store acme (acme@1)"]
    resume = next(r for r in report["invariants"] if r["id"] == "archived-can-resume")
    assert resume["status"] == "violated"
    assert resume["expect"] == "at least one of reprocess, reset is enabled"
    base, acme = resume["checks"]
    assert base == {"policy": "shop@1", "store": None, "status": "holds", "combinations": base["combinations"],
                    "matching": base["matching"], "counterexample": None, "reason": None, "method": "enumerated",
                    "caveats": []}
    assert acme["counterexample"] == {
        "facts": {"order.status": "Archived", "order.has_shipment": True, "user.role": "admin"},
        "witness": {"order.status": "Archived", "order.has_shipment": True, "user.role": "admin"},
        "failed": [{"expected": "at least one of reprocess, reset is enabled", "got": [
            {"action": "reprocess", "state": "hidden", "reasons": ["Not offered for store acme."]},
            {"action": "reset", "state": "disabled", "reasons": ["The order already has a shipment."]}]}],
    }


def test_counterexamples_force_the_violation() -> None:
    """Every possible order and user that has a counterexample's facts violates the invariant (minimal and true)."""
    engine = policyengine.load(GOLDEN / "violated")
    report = verify(engine, load_invariants(engine, find_invariant_files(GOLDEN / "violated")))
    seen = 0
    for result in report.results:
        for check in result.checks:
            if check.counterexample is None:
                continue
            store = check.store or BASE_STORE
            policy = engine.store_policy(check.store)
            facts = dict(check.counterexample.facts)
            for values in possible(policy):
                if all(values.get(k) == v for k, v in facts.items()):
                    seen += 1
                    assert violated(policy, engine, store, result.invariant, values), (result.invariant.id, values)
    assert seen > 0


def test_shipped_policies_verify(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "verify", str(POLICIES))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (f"verify: 12 invariants ({SHIPPED_INVARIANTS.relative_to(Path.cwd())}) against "
                        "order-actions@1, store acme (acme@1), store globex (globex@2)")
    assert all(line.startswith("  ok      ") for line in lines[1:-1])
    assert lines[-1] == "12 hold"


def test_shipped_invariants_cover_the_article() -> None:
    engine = policyengine.load(POLICIES)
    invariants = load_invariants(engine, [SHIPPED_INVARIANTS])
    ids = {inv.id for inv in invariants.invariants}
    assert {"delete-never-after-warehouse", "viewers-destroy-nothing", "archived-can-resume",
            "reset-never-with-shipment", "force-delete-admins-only", "schedule-process-manual-pending-only"} <= ids
    assert SHIPPED_INVARIANTS.read_text("utf-8").startswith(
        "# yaml-language-server: $schema=../../schemas/invariants.schema.json\n")


# -- an independent oracle ----------------------------------------------------------------------------------------

def thing_of(policy: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """What rule-engine evaluates: the facts as nested objects, named conditions and action states by name."""
    thing: dict[str, Any] = {}
    for name, value in values.items():
        set_path(thing, tuple(name.split(".")), value)
    result = oracle(policy, values)
    thing.update(result.conditions)
    thing["actions"] = {a: {"visible": s != "hidden", "hidden": s == "hidden", "enabled": s == "enabled",
                            "disabled": s == "disabled"} for a, s in result.states.items()}
    return thing


def possible(policy: Any) -> list[dict[str, Any]]:
    """Every combination of the policy's finite facts that its constraints allow (checked by rule-engine)."""
    out = []
    for values in fact_space(policy, tuple(policy.facts)):
        thing = thing_of(policy, values)
        if all(expr.rule.evaluate(thing) for expr in policy.constraints.values()):
            out.append(values)
    return out


def clause_holds(clause: Clause, policy: Any, states: Mapping[str, str]) -> bool:
    if clause.keyword == "all":
        actions = [a.id for a in policy.actions]
    elif clause.keyword == "destructive":
        actions = [a.id for a in policy.actions if a.spec.destructive]
    else:
        actions = list(clause.actions)
    ok = [states.get(a, "hidden") in STATES[clause.state] for a in actions]
    return {"every": all(ok), "any": any(ok), "none": not any(ok)}[clause.quantifier]


def matches(policy: Any, invariant: Any, values: Mapping[str, Any], thing: dict[str, Any] | None = None) -> bool:
    thing = thing if thing is not None else thing_of(policy, values)
    for expr, wanted in ((invariant.when, True), (invariant.unless, False)):
        if expr is not None and rule_engine.Rule(expr.text, context=policy.context).evaluate(thing) is not wanted:
            return False
    return True


def violated(policy: Any, engine: policyengine.Engine, store: str, invariant: Any, values: Mapping[str, Any]) -> bool:
    if not matches(policy, invariant, values):
        return False
    order, user = build_inputs(policy, values, store)
    states = {a: d.state for a, d in engine.evaluate(order, user).items()}
    return not all(clause_holds(c, policy, states) for c in invariant.clauses)


ORACLE_CASES = [
    pytest.param(POLICIES, SHIPPED_INVARIANTS, None, {"holds": 11}, id="shipped-base"),
    pytest.param(POLICIES, SHIPPED_INVARIANTS, "acme", {"holds": 11}, id="shipped-acme"),
    pytest.param(POLICIES, SHIPPED_INVARIANTS, "globex", {"holds": 12}, id="shipped-globex"),
    pytest.param(GOLDEN / "violated", GOLDEN / "violated" / "invariants" / "shop.yaml", None,
                 {"holds": 2, "violated": 2}, id="violated-base"),
    pytest.param(GOLDEN / "violated", GOLDEN / "violated" / "invariants" / "shop.yaml", "acme",
                 {"holds": 1, "violated": 3}, id="violated-acme"),
]


@pytest.mark.parametrize(("path", "file", "store", "expected"), ORACLE_CASES)
def test_verify_agrees_with_an_oracle(path: Path, file: Path, store: str | None, expected: dict[str, int]) -> None:
    engine = policyengine.load(path)
    invariants = load_invariants(engine, [file])
    report = verify(engine, invariants)
    policy = engine.store_policy(store)
    combos = []
    for values in possible(policy):
        order, user = build_inputs(policy, values, store or BASE_STORE)
        states = {a: d.state for a, d in engine.evaluate(order, user).items()}
        combos.append((values, thing_of(policy, values), states))
    label = engine.policy.spec.label if store is None else f"store {store} ({engine.store_override(store).override.label})"
    checked: dict[str, int] = {}
    for result in report.results:
        check = next((c for c in result.checks if c.target == label), None)
        if check is None:
            continue  # for_stores leaves this policy out
        inv = result.invariant
        matching = [(v, states) for v, thing, states in combos if matches(policy, inv, v, thing)]
        bad = [v for v, states in matching if not all(clause_holds(c, policy, states) for c in inv.clauses)]
        assert check.status == ("violated" if bad else "holds" if matching else "vacuous"), inv.id
        checked[check.status] = checked.get(check.status, 0) + 1
    assert checked == expected


# -- mutations of the shipped policy are caught --------------------------------------------------------------------

MUTATIONS = [
    pytest.param("delete-never-after-warehouse", """      - id: sent-to-warehouse
        when: order.sent_to_warehouse
""", """      - id: sent-to-warehouse
        when: order.sent_to_warehouse and order.has_shipment
""", id="delete-guard-weakened"),
    pytest.param("force-delete-admins-only", "visible: {when: is_admin, reason: Only account admins",
                 "visible: {when: can_act, reason: Only account admins", id="force-delete-shown-to-members"),
    pytest.param("viewers-destroy-nothing", """  reset:
    label: Reset
    description: Reverts all processing, rule actions and manual edits; processing restarts as if just imported.
    allow: {when: can_act,""", """  reset:
    label: Reset
    description: Reverts all processing, rule actions and manual edits; processing restarts as if just imported.
    allow: {when: true,""", id="viewers-may-reset"),
    pytest.param("archive-not-offered-twice", """visible: {when: "order.status != 'Archived'", reason: The order""",
                 """visible: {when: "true", reason: The order""", id="archive-always-shown"),
]


@pytest.mark.parametrize(("invariant", "old", "new"), MUTATIONS)
def test_a_mutated_policy_breaks_its_invariant(invariant: str, old: str, new: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    base = target / "order-actions.yaml"
    text = base.read_text("utf-8")
    assert text.count(old) == 1
    base.write_text(text.replace(old, new), "utf-8")
    code, out, _ = run_cli(capsys, "verify", "--format", "json", str(target))
    assert code == 1
    report = json.loads(out)
    statuses = {r["id"]: r["status"] for r in report["invariants"]}
    assert statuses[invariant] == "violated"
    result = next(r for r in report["invariants"] if r["id"] == invariant)
    assert result["checks"][0]["counterexample"]["facts"]


# -- loading ------------------------------------------------------------------------------------------------------

def test_no_invariants_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(POLICIES / "order-actions.yaml", tmp_path)
    code, out, err = run_cli(capsys, "verify", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"policyengine verify: no PolicyInvariants file under {tmp_path} (add one, or pass --invariants)\n"


def test_invariants_from_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "checks").mkdir()
    shutil.copy(POLICIES / "order-actions.yaml", tmp_path / "policies")
    (tmp_path / "checks" / "inv.yaml").write_text(
        "apiVersion: policyengine/v1\nkind: PolicyInvariants\ninvariants:\n"
        "  - {id: admins-see-force-delete, when: \"user.role == 'admin'\", expect: {force_delete: visible}}\n")
    code, out, _ = run_cli(capsys, "verify", str(tmp_path / "policies"), "--invariants", str(tmp_path / "checks"))
    assert (code, out.splitlines()[1:]) == (0, ["  ok      admins-see-force-delete", "1 hold"])
    # The shipped invariants name store globex, which this directory does not have: an error, not a silent pass.
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "policies"), "--invariants", str(SHIPPED_INVARIANTS))
    assert code == 3
    assert "no store override for 'globex' is loaded (loaded: none)" in err


def test_a_file_of_another_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", str(POLICIES), "--invariants", str(POLICIES / "order-actions.yaml"))
    assert code == 3
    assert "order-actions.yaml:8:7: expected a PolicyInvariants file, got ActionPolicy" in err


def test_schema_problems_are_load_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(POLICIES / "order-actions.yaml", tmp_path)
    (tmp_path / "invariants").mkdir()
    (tmp_path / "invariants" / "inv.yaml").write_text("""\
apiVersion: policyengine/v1
kind: PolicyInvariants
invariants:
  - id: a
    expect: {delete: not-enable}
  - id: b
    expect: {every: [reset], any: [delete], is: enabled}
  - id: c
    expect: {every: destructive}
  - id: d
    for_stores: everywhere
    expect: {delete: hidden}
""")
    code, out, err = run_cli(capsys, "verify", str(tmp_path))
    assert (code, out) == (3, "")
    name = f"{tmp_path}/invariants/inv.yaml"
    assert [line for line in err.splitlines() if not line.startswith("    at ")] == [
        f"{name}:5:22: 'not-enable' is not one of: enabled, disabled, hidden, visible, not-enabled, not-disabled",
        "    hint: did you mean 'not-enabled'?",
        f"{name}:7:14: key 'every' is not allowed here",
        f"{name}:7:30: key 'any' is not allowed here",
        f"{name}:9:5: missing required key 'is'",
        f"{name}:11:17: 'everywhere' is not one of: all, base",
        "5 problems found",
    ]
