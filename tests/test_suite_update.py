"""``policyengine test --update``: accept the actual results after an intended change, showing the diff first.

A copy of the shipped policies is changed on purpose; ``test`` fails (exit 4), ``test --update --dry-run`` shows
the diff and writes nothing, ``test --update`` shows the same diff, writes it and runs again (exit 0), and ``test``
passes. The suite files are edited in place: every line the update does not change, comments included, is kept
byte for byte.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from cli_support import run_cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the diff names the suite files relative to the working directory
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    return Path("policies")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines only in ``before`` and only in ``after`` (a small diff, order kept)."""
    old, new = before.splitlines(), after.splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


NOT_FOR_NEW = ("    allow: {when: can_act, reason: Read-only users can't change orders.}\n    effects:\n"
               "      - set: {order.status: Archived}",
               "    allow: {when: can_act, reason: Read-only users can't change orders.}\n    deny:\n"
               "      - {id: new, when: \"order.status == 'New'\", reason: New orders are not archived.}\n"
               "    effects:\n      - set: {order.status: Archived}")


def test_an_intended_change_is_accepted(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Archive is no longer offered for new orders: two cases of the shipped suites fail until updated."""
    edit(policies / "order-actions.yaml", *NOT_FOR_NEW)
    suites = sorted((policies / "tests").glob("*.yaml"))
    before = {p: p.read_text("utf-8") for p in suites}

    code, out, _ = run_cli(capsys, "test", str(policies))
    assert code == 4
    failed = re.search(r"^(\d+) failed, (\d+) passed", out.splitlines()[-1])
    assert failed is not None and int(failed.group(1)) > 0

    code, dry, _ = run_cli(capsys, "test", str(policies), "--update", "--dry-run")
    assert code == 4
    assert "(--dry-run: nothing written)\n" in dry
    assert {p: p.read_text("utf-8") for p in suites} == before

    code, out, err = run_cli(capsys, "test", str(policies), "--update")
    assert (code, err) == (0, "")
    diff = out[:out.index("updated ")]
    assert diff == dry[:dry.index("would update")]  # the same diff, shown before writing
    assert "--- a/policies/tests/order-actions.yaml\n+++ b/policies/tests/order-actions.yaml\n" in diff
    assert "-      archive: enabled\n+      archive: disabled\n" in diff  # the new order's menu
    assert out.endswith("59 passed (59 cases in 3 suites)\n")  # the suites ran again, after writing

    after = {p: p.read_text("utf-8") for p in suites}
    for path in suites:
        assert comments(after[path]) == comments(before[path])
        assert len(after[path].splitlines()) == len(before[path].splitlines())
        removed, added = changed_lines(before[path], after[path])
        assert all("archive" in line for line in removed + added), (removed, added)

    code, out, _ = run_cli(capsys, "test", str(policies))
    assert code == 0
    code, out, _ = run_cli(capsys, "test", str(policies), "--update")
    assert (code, out.splitlines()[0]) == (0, "nothing to update")


def test_renamed_reasons_and_operations(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reason or operation the suites expect and the policy no longer has stops the suites from loading (exit 3),
    with a pointer to --update, which accepts the new ones."""
    base = policies / "order-actions.yaml"
    edit(base, "reason: The order already has a shipment; resetting would re-process an order the warehouse has "
               "already worked.", "reason: The order has a shipment already.")
    edit(base, "        operation: stop_processing", "        operation: halt_processing")
    suites = sorted((policies / "tests").glob("*.yaml"))
    before = {p: p.read_text("utf-8") for p in suites}

    code, out, err = run_cli(capsys, "test", str(policies))
    assert (code, out) == (3, "")
    assert "policies/tests/order-actions.yaml:95:21: action 'reset' never gives this reason\n" in err
    assert err.endswith("4 problems found\nthe suites expect reasons, guards or effects the policies no longer give: "
                        "if the policies changed on purpose, `policyengine test --update` accepts what they give now "
                        "(it shows the diff first)\n")

    code, out, err = run_cli(capsys, "test", str(policies), "--update")
    assert (code, err) == (0, "")
    diff = out[:out.index("updated 4 expectations in 3 files\n")]
    assert diff.startswith("--- a/policies/tests/acme.yaml\n+++ b/policies/tests/acme.yaml\n@@ ")
    assert "-          reasons: [The order already has a shipment; resetting would re-process an order the " \
           "warehouse has already worked.]\n+          reasons: [The order has a shipment already.]\n" in diff
    assert "-        effects: [{set: {order.status: Archived}, operation: stop_processing}]\n" \
           "+        effects: [{set: {order.status: Archived}, operation: halt_processing}]\n" in diff
    after = {p: p.read_text("utf-8") for p in suites}
    for path in suites:
        assert comments(after[path]) == comments(before[path])
    removed, added = changed_lines(before[policies / "tests" / "order-actions.yaml"],
                                   after[policies / "tests" / "order-actions.yaml"])
    assert added == ["          reasons: [The order has a shipment already.]",
                     "        effects: [{set: {order.status: Archived}, operation: halt_processing}]"]
    assert len(removed) == 2
    code, _, _ = run_cli(capsys, "test", str(policies))
    assert code == 0


SUITE = """\
# A suite for --update: every comment here must survive.
apiVersion: policyengine/v1
kind: PolicyTestSuite
name: upd
fixtures:
  orders:
    new:   # a fresh order
      status: New
      has_shipment: false
      sent_to_warehouse: false
      store: {id: no-override-store, manual_fulfillment: false}
    open: {fixture: new, status: Open, sent_to_warehouse: true}
  users:
    member: {role: member}
cases:
  - name: shorthand state
    order: new
    user: member
    expect:
      archive: enabled   # the state, written alone
      edit: enabled

  - name: by the default rule
    order: new
    user: member
    default: hidden
    expect:
      reprocess: enabled
      edit: enabled
      reset: enabled
      delete: enabled
      # archive is left to the default rule

  - name: shared by the rows of a table
    user: member
    expect:
      archive: enabled
    table:
      - {name: new order, order: new}
      - {name: open order, order: open}

  - name: block lists and confirm
    order: new
    user: member
    expect:
      reset:
        state: enabled
        effects:
          - set: {order.status: New}   # reset starts over
            operation: restart_processing
      delete: {state: enabled, confirm: "Delete this order permanently? It is not deleted from the sales channel and may be imported again."}
"""  # noqa: E501 -- a one-line flow mapping is the layout under test


def test_every_kind_of_expectation(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = policies / "order-actions.yaml"
    # Archive: not for new orders; Reset: a renamed operation; Delete: a new confirmation
    edit(base, *NOT_FOR_NEW)
    edit(base, "        operation: restart_processing", "        operation: restart")
    edit(base, "confirm: Delete this order permanently? It is not deleted from the sales channel and may be imported "
               "again.", "confirm: 'Delete it? Really?'")
    suite = Path("upd.yaml")
    suite.write_text(SUITE, "utf-8")

    code, out, _ = run_cli(capsys, "test", str(policies), "--suites", str(suite))
    assert code == 3  # restart_processing is no operation of Reset any more: the suite does not load
    code, out, err = run_cli(capsys, "test", str(policies), "--suites", str(suite), "--update")
    assert (code, err) == (0, "")
    assert "updated 5 expectations in 1 file\n" in out
    assert out.endswith("5 passed (5 cases in 1 suite)\n")
    assert suite.read_text("utf-8") == SUITE.replace(
        "      archive: enabled   # the state, written alone",
        "      archive: disabled   # the state, written alone").replace(
        "      delete: enabled\n      # archive is left to the default rule\n",
        "      delete: enabled\n      archive: disabled\n      # archive is left to the default rule\n").replace(
        "      - {name: new order, order: new}", "      - {name: new order, order: new, archive: disabled}").replace(
        "          - set: {order.status: New}   # reset starts over\n            operation: restart_processing",
        "          - {set: {order.status: New}, operation: restart}").replace(
        'confirm: "Delete this order permanently? It is not deleted from the sales channel and may be imported '
        'again."}', "confirm: 'Delete it? Really?'}")


def test_fact_errors_are_not_updated(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = Path("bad.yaml")
    suite.write_text(SUITE.replace("    member: {role: member}", "    member: {role: member}\n"
                                   "    odd: {role: [member]}").replace("  - name: shorthand state\n    order: new\n"
                                                                        "    user: member",
                                                                        "  - name: shorthand state\n    order: new\n"
                                                                        "    user: odd"), "utf-8")
    code, out, err = run_cli(capsys, "test", str(policies), "--suites", str(suite), "--update")
    if code == 3:  # the suite loader refuses the value outright: nothing to update either
        assert "user.role" in err
        return
    assert code == 4
    assert out.startswith("nothing to update: the failures left are fact errors")


@pytest.mark.parametrize(("args", "message"), [
    (("--dry-run",), "--dry-run goes with --update"),
    (("--update", "--format", "json"), "--update prints a diff: use it with --format text"),
])
def test_usage_errors(policies: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    code, _, err = run_cli(capsys, "test", str(policies), *args)
    assert code == 2
    assert err == f"policyengine test: {message}\n"


def test_update_with_a_filter_touches_only_the_selected_cases(policies: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    edit(policies / "order-actions.yaml", "        operation: stop_processing", "        operation: halt_processing")
    code, out, _ = run_cli(capsys, "test", str(policies), "--update", "--filter", "acme/*")
    assert code == 0
    assert re.findall(r"^\+\+\+ b/(\S+)", out, re.M) == ["policies/tests/acme.yaml"]
    code, _, err = run_cli(capsys, "test", str(policies))
    assert code == 3  # the other suite still expects stop_processing
    assert err.startswith("policies/tests/order-actions.yaml:106:62: action 'archive' has no effect with operation "
                          "'stop_processing'\n")
    code, out, _ = run_cli(capsys, "test", str(policies), "--update", "--dry-run")
    assert code == 4
    assert re.findall(r"^\+\+\+ b/(\S+)", out, re.M) == ["policies/tests/order-actions.yaml"]
    assert textwrap.dedent("""\
        FAIL order-actions/Archive stops processing and keeps the order""") in out


TABLE = """\
apiVersion: policyengine/v1
kind: PolicyTestSuite
name: rows
cases:
  - name: a table checked by its default rule
    user: {role: member}
    default: enabled
    table:
      - name: new   # a block row
        order: {status: New, has_shipment: false, sent_to_warehouse: false, store: {id: x, manual_fulfillment: false}}
        schedule_process: hidden
        revalidate: hidden
        force_delete: hidden
      - {name: open, order: {status: Open, has_shipment: false, sent_to_warehouse: true, store: {id: x, manual_fulfillment: false}}, schedule_process: hidden, revalidate: hidden, force_delete: hidden}
"""  # noqa: E501 -- a one-line flow mapping is the layout under test


def test_rows_checked_by_the_default_rule_get_their_own_entries(policies: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    edit(policies / "order-actions.yaml", *NOT_FOR_NEW)
    suite = Path("rows.yaml")
    suite.write_text(TABLE, "utf-8")
    code, out, _ = run_cli(capsys, "test", str(policies), "--suites", str(suite), "--update")
    assert code == 0
    assert "updated 2 expectations in 1 file\n" in out
    assert suite.read_text("utf-8") == TABLE.replace(
        "        force_delete: hidden\n", "        force_delete: hidden\n        archive: disabled\n").replace(
        "revalidate: hidden, force_delete: hidden}", "revalidate: hidden, force_delete: hidden, delete: disabled}")


SHARED = """\
apiVersion: policyengine/v1
kind: PolicyTestSuite
name: shared
cases:
  - name: every row agrees
    user: {role: member}
    expect:
      archive: enabled   # shared by both rows
    table:
      - {name: one, order: {status: New, has_shipment: false, sent_to_warehouse: false, store: {id: x, manual_fulfillment: false}}}
      - {name: two, order: {status: New, has_shipment: true, sent_to_warehouse: true, store: {id: x, manual_fulfillment: false}}}
"""


def test_a_shared_expectation_every_row_fails_alike_is_rewritten_once(policies: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    edit(policies / "order-actions.yaml", *NOT_FOR_NEW)
    suite = Path("shared.yaml")
    suite.write_text(SHARED, "utf-8")
    code, out, _ = run_cli(capsys, "test", str(policies), "--suites", str(suite), "--update")
    assert code == 0
    assert "updated 1 expectation in 1 file\n" in out
    assert suite.read_text("utf-8") == SHARED.replace("archive: enabled   #", "archive: disabled   #")
