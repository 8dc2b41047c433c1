"""The second day (issue 25): performing an action server-side, knowing the stores that exist, suites that fail
as pytest failures, and YAML mistakes in suites reported as what they are. Through the API and the CLI."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

import policyengine
from policyengine.errors import PolicyError
from policyengine.perform import ActionEffects, ActionNotAllowed, ActionRefused, ConfirmationRequired, UnknownAction
from policyengine.testing import check_suites

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(ROOT / "policies")


def _order(**over: Any) -> dict[str, Any]:
    order: dict[str, Any] = {"id": "SO-1", "status": "Error", "has_shipment": False, "sent_to_warehouse": False,
                             "store": {"id": "globex", "manual_fulfillment": True}}
    order.update(over)
    return order


# -- perform ---------------------------------------------------------------------------------------------------

def test_perform_asks_to_confirm_then_returns_the_effects(engine: policyengine.Engine) -> None:
    with pytest.raises(ConfirmationRequired) as info:
        engine.perform("reset", _order(), {"role": "member"})
    assert info.value.confirm == engine.evaluate(_order(), {"role": "member"})["reset"].confirm
    assert isinstance(info.value, PolicyError)
    done = engine.perform("reset", _order(), {"role": "member"}, confirm=True)
    assert isinstance(done, ActionEffects)
    assert (done.action, done.operations, dict(done.sets), done.fields()) == (
        "reset", ("restart_processing",), {"order.status": "New"}, {"status": "New"})
    assert (done.policy, done.store_override, done.store_known) == ("order-actions@1", "globex@2", True)


def test_perform_refuses_with_reasons_and_ids(engine: policyengine.Engine) -> None:
    with pytest.raises(ActionNotAllowed) as info:
        engine.perform("reset", _order(), {"role": "viewer"}, confirm=True)
    err = info.value
    assert (err.action, err.state, err.reasons, err.reason_ids) == (
        "reset", "disabled", ("Read-only users can't change orders.",), ("reset.allow",))
    assert str(err) == "Reset is disabled: Read-only users can't change orders."
    with pytest.raises(ActionNotAllowed) as hidden:
        engine.perform("force_delete", _order(), {"role": "admin"})
    assert hidden.value.state == "hidden"
    assert hidden.value.reasons == ("Globex never force-deletes orders.",)


def test_perform_fails_closed_on_a_bad_fact(engine: policyengine.Engine) -> None:
    with pytest.raises(ActionNotAllowed) as info:
        engine.perform("archive", _order(status="Shiped"), {"role": "admin"})
    assert info.value.errors and info.value.errors[0].fact == "order.status"


def test_perform_an_unknown_action(engine: policyengine.Engine) -> None:
    with pytest.raises(UnknownAction) as info:
        engine.perform("rest", _order(), {"role": "admin"})
    assert isinstance(info.value, ActionRefused)
    assert str(info.value).startswith("unknown action 'rest'; the policy's actions: reprocess, edit, reset")


def test_perform_without_effects_returns_an_empty_list(engine: policyengine.Engine) -> None:
    done = engine.perform("edit", _order(), {"role": "member"})
    assert done.operations == ("open_edit_form",) and dict(done.sets) == {}


# -- the stores that exist ---------------------------------------------------------------------------------------

def test_store_known(engine: policyengine.Engine) -> None:
    assert engine.stores == ("acme", "globex")
    assert engine.store_known(_order())
    assert not engine.store_known(_order(store={"id": "Globex", "manual_fulfillment": True}))
    assert not engine.store_known({"status": "New"})
    done = engine.perform("edit", _order(store={"id": "initech", "manual_fulfillment": False}), {"role": "admin"})
    assert (done.store_override, done.store_known) == (None, False)


def test_evaluate_warns_on_a_store_without_an_override(capsys: pytest.CaptureFixture[str]) -> None:
    order = '{"status": "New", "has_shipment": false, "sent_to_warehouse": false, ' \
            '"store": {"id": "Acme", "manual_fulfillment": false}}'
    code, out, err = run_cli(capsys, "evaluate", "policies", "--user", '{"role": "admin"}', "--order", order)
    assert code == 0 and out.startswith("order-actions@1\n")
    assert err == ("policyengine evaluate: warning: store 'Acme' has no store override, so the base policy decided "
                   "(stores with one: acme, globex); did you mean 'acme'?\n")
    code, _, err = run_cli(capsys, "evaluate", "policies", "--user", '{"role": "admin"}', "--order",
                           order.replace("Acme", "acme"))
    assert (code, err) == (0, "")


# -- suites ------------------------------------------------------------------------------------------------------

SPLIT_CASE = """\
  - name: Split reason
    order: {fixture: new, total: 1500}
    user: member
    expect:
      delete: {state: disabled, reasons: [Orders over 1,000 can only be deleted by an account admin.]}
"""


@pytest.fixture
def split_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "docs" / "examples" / "recipes", tmp_path / "recipes", symlinks=False)
    suite = tmp_path / "recipes" / "tests" / "initech.yaml"
    suite.write_text(suite.read_text("utf-8") + SPLIT_CASE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return Path("recipes")


def test_a_reasons_list_split_at_its_commas(split_suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "test", str(split_suite))
    assert (code, out) == (3, "")
    assert err == textwrap.dedent("""\
        recipes/tests/initech.yaml:46:43: this reason was split at its commas into 2 items (a comma ends an item inside [...])
            at $.cases[4].expect.delete.reasons[0]
            hint: quote it: reasons: ["Orders over 1,000 can only be deleted by an account admin."]
        1 problem found
        """)
    assert "--update" not in err


def test_check_suites_raises_assertion_error_when_a_suite_does_not_load(split_suite: Path) -> None:
    with pytest.raises(AssertionError) as info:
        check_suites(split_suite)
    assert str(info.value).splitlines() == [
        "the policy test suites do not load",
        "recipes/tests/initech.yaml:46:43: this reason was split at its commas into 2 items (a comma ends an item "
        "inside [...])",
        "    at $.cases[4].expect.delete.reasons[0]",
        '    hint: quote it: reasons: ["Orders over 1,000 can only be deleted by an account admin."]',
        "1 problem found",
    ]


def test_check_suites_raises_assertion_error_when_the_policies_do_not_load(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "bad.yaml").write_text("apiVersion: policyengine/v1\nkind: ActionPolicy\n", encoding="utf-8")
    with pytest.raises(AssertionError) as info:
        check_suites("p")
    assert str(info.value).startswith("the policy test suites do not load\np/bad.yaml:1:1: missing required key")


# -- policyengine.sql over an Enum column that stores member names ----------------------------------------------

def _enum_table(values_callable: bool) -> tuple[Any, Any]:
    import enum

    import sqlalchemy as sa

    class Status(enum.Enum):
        open = "Open"
        shipped = "Shipped"
        closed = "Closed"

    kind = sa.Enum(Status, values_callable=lambda e: [m.value for m in e]) if values_callable else sa.Enum(Status)
    meta = sa.MetaData()
    table = sa.Table("orders", meta, sa.Column("id", sa.String, primary_key=True), sa.Column("status", kind),
                     sa.Column("total", sa.Numeric(12, 2)))
    db = sa.create_engine("sqlite://")
    meta.create_all(db)
    with db.begin() as connection:
        connection.execute(table.insert(), [{"id": "SO-1", "status": Status.shipped, "total": 5},
                                            {"id": "SO-2", "status": Status.closed, "total": 5}])
    return db, table


@pytest.mark.parametrize("values_callable", [False, True])
def test_sql_warns_when_an_enum_column_stores_member_names(values_callable: bool) -> None:
    import warnings

    from policyengine import sql
    from policyengine.sql.enum_names import EnumNamesWarning

    db, table = _enum_table(values_callable)
    engine = policyengine.load(ROOT / "docs" / "examples" / "refunds.yaml")
    columns = {"order.status": table.c.status, "order.total": table.c.total}
    with db.connect() as connection, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sql.bulk(connection, engine, "refund", {"role": "admin"}, table, columns, table.c.id)
    found = [w for w in caught if issubclass(w.category, EnumNamesWarning)]
    if values_callable:
        assert (result.summary, found) == ("Refund 2 of 2 orders", [])
        return
    assert result.summary.startswith("Refund 0 of 2 orders; 1 skipped: could not be decided: order.status:")
    assert [str(w.message) for w in found] == [
        "policyengine.sql: every row of the column for order.status holds an enum member name ('shipped'), not a "
        "declared value ('Shipped'): SQLAlchemy's Enum(Status) stores member names, so every row fails closed. "
        "Declare the column Enum(Status, values_callable=lambda e: [m.value for m in e]) to store the values "
        "(docs/host-apps.md)"]
    assert found[0].filename == __file__  # points at the caller's line


# -- make demo installs what the demo needs --------------------------------------------------------------------

def test_make_demo_installs_the_core_and_sqlalchemy_only(tmp_path: Path) -> None:
    import ast
    import subprocess
    import sys

    for name in ("Makefile", "pyproject.toml", "setup.py", "policyengine/runtime/_batch.c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    demo = subprocess.run(["make", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    test = subprocess.run(["make", "-n", "test"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "pip install --quiet -e '.[demo]'" in demo and "[test" not in demo
    assert "pip install --quiet -e '.[test,smt,serve,sql,studio]'" in test
    assert 'demo = ["SQLAlchemy>=2.0"]\n' in (ROOT / "pyproject.toml").read_text("utf-8")  # tomllib: 3.11+
    # what the demo runs imports nothing beyond the standard library, SQLAlchemy and policyengine
    tree = ast.parse((ROOT / "examples" / "sql_demo.py").read_text("utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert imported - set(sys.stdlib_module_names) == {"sqlalchemy", "policyengine"}


# -- matrix snapshots: stable keys, one line per change ---------------------------------------------------------

def test_a_new_fact_with_a_default_adds_matrix_lines_and_renames_none(tmp_path: Path) -> None:
    from policyengine.testing import decision_matrix, matrix_changes

    base = (ROOT / "policies" / "order-actions.yaml").read_text("utf-8")
    (tmp_path / "old.yaml").write_text(base, encoding="utf-8")
    new = base.replace("  user.role:\n", "  order.on_hold: {type: bool, default: false}\n  user.role:\n", 1)
    new = new.replace("""    deny:
      - id: has-shipment""", """    deny:
      - id: on-hold
        when: order.on_hold
        reason: The order is on hold.
      - id: has-shipment""", 1)
    assert new != base and "id: on-hold" in new
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    old_matrix = decision_matrix(tmp_path / "old.yaml")
    new_matrix = decision_matrix(tmp_path / "new.yaml")
    assert old_matrix["decisions"].items() <= new_matrix["decisions"].items()  # no key renamed, no decision changed
    changes = matrix_changes(old_matrix, new_matrix)
    assert changes and all(": (none) -> " in line and "order.on_hold=true" in line for line in changes)
    assert changes[0] == ("order.has_shipment=false, order.on_hold=true, user.role=admin | reset: (none) -> "
                          "disabled (reset.deny.on-hold) [order.status := New + restart_processing]")


def test_matrix_changes_shows_old_and_new_state_on_one_line(tmp_path: Path) -> None:
    from policyengine.testing import decision_matrix, matrix_changes

    base = (ROOT / "policies" / "order-actions.yaml").read_text("utf-8")
    (tmp_path / "old.yaml").write_text(base, encoding="utf-8")
    changed = base.replace("when: is_admin, reason: Only account admins", "when: can_act, reason: Only account admins")
    assert changed != base
    (tmp_path / "new.yaml").write_text(changed, encoding="utf-8")
    lines = matrix_changes(decision_matrix(tmp_path / "old.yaml"), decision_matrix(tmp_path / "new.yaml"))
    assert lines == ["user.role=member | force_delete: hidden (force_delete.visible) -> enabled [delete_order]"]


# -- the second day, end to end: a one-line override and its small suite pass the coverage gate -----------------

def test_a_one_line_override_with_a_small_suite_passes_fail_under_100(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "policies" / "stores" / "initech.yaml").write_text(textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: StoreOverride
        store: initech
        version: 1
        base: {policy: order-actions, version: 1}
        actions:
          archive:
            deny:
              - {id: still-routing, when: "order.status == 'Routed'", reason: Let the order finish routing first.}
        """), encoding="utf-8")
    (tmp_path / "policies" / "tests" / "initech.yaml").write_text(textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: PolicyTestSuite
        name: initech
        store: initech
        fixtures:
          orders:
            routed: {status: Routed, has_shipment: false, sent_to_warehouse: false,
                     store: {id: initech, manual_fulfillment: false}}
        cases:
          - name: Archive waits for routing
            order: routed
            user: {role: member}
            expect: {archive: {state: disabled, guards: [still-routing]}}
          - name: Archive once routed
            order: {fixture: routed, status: Open}
            user: {role: member}
            expect: {archive: enabled}
          - name: Viewers still cannot archive
            order: {fixture: routed, status: Open}
            user: {role: viewer}
            expect: {archive: disabled}
        """), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "test", "policies", "--coverage", "--fail-under", "100")
    assert (code, err) == (0, "")
    assert ("  order-actions@1 + store override initech@1 (3 cases): guards 1/1 100%, conditions 1/1 100%, actions 1/1"
            in out.splitlines())
