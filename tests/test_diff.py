"""``policyengine diff OLD NEW``: every decision that changes, grouped by action and change.

* through the CLI on the golden policy directories of ``tests/golden/diff/`` (``v1`` is the shipped default policy;
  ``v2-widen``, ``v2-narrow``, ``v2-facts``, ``v2-unknown`` and ``v1-globex`` change it; ``broken`` does not
  load), outputs snapshotted under ``tests/__snapshots__/test_diff/`` or asserted exactly, exit codes included;
* OLD and NEW as git revisions, in a git repository made inside ``tmp_path``;
* the property: for random small policies (hypothesis), the diff's set of ``(combination, action, old, new)`` is
  exactly the set difference of the two policies' own matrices, looked up over the union fact space.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import HtmlSnapshot, TextSnapshot, run_cli
from conftest import ROOT
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.analysis.diff import diff_engines, diff_policies, union_actions
from policyengine.analysis.matrix import Matrix, Outcome, build_matrix

GOLDEN = ROOT / "tests" / "golden" / "diff"


@pytest.fixture
def in_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)


# -- the CLI on the golden directories -----------------------------------------------------------------------------


@pytest.mark.usefixtures("in_golden")
def test_a_widening_diff_fails_with_fail_on_widen(capsys: pytest.CaptureFixture[str], snapshot: Any) -> None:
    code, out, err = run_cli(capsys, "diff", "v1", "v2-widen", "--fail-on-widen")
    assert code == 1
    assert err == "policyengine diff: --fail-on-widen: more permissive: delete, schedule_process\n"
    assert out.splitlines()[-1] == "summary: 2 actions change in 183 of 189 combinations: 2 more permissive (delete, schedule_process)"
    assert out == snapshot(extension_class=TextSnapshot)
    # Without the flag the same diff exits 0; the other way round it is narrowing, not widening.
    assert run_cli(capsys, "diff", "v1", "v2-widen")[0] == 0
    code, out, err = run_cli(capsys, "diff", "v2-widen", "v1", "--fail-on-widen")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == ("summary: 2 actions change in 183 of 189 combinations: "
                                    "2 more restrictive (delete, schedule_process)")


@pytest.mark.usefixtures("in_golden")
def test_the_widening_changes_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "diff", "v1", "v2-widen")
    assert out.splitlines()[:14] == [
        "OLD  v1 order-actions@1",
        "NEW  v2-widen order-actions@2",
        "compared: 189 of 312 combinations of 5 facts (the others are ruled out by the constraints of both sides: "
        "--include-impossible compares them too)",
        "",
        "Delete (delete)  more permissive",
        "  disabled→enabled: 42 combinations (wider)",
        "    when: order.has_shipment = false, order.sent_to_warehouse = true, user.role != viewer",
        "    old: disabled: The order was already sent to the warehouse; archive it first.",
        "    new: enabled: does delete_order()",
        "  reason changed: 21 combinations",
        "    when: order.has_shipment = false, order.sent_to_warehouse = true, user.role = viewer",
        "    old: disabled: Read-only users can't change orders. The order was already sent to the warehouse; archive it first.",
        "    new: disabled: Read-only users can't change orders.",
        "",
    ]


@pytest.mark.usefixtures("in_golden")
def test_a_narrowing_diff_passes_fail_on_widen(capsys: pytest.CaptureFixture[str], snapshot: Any) -> None:
    code, out, err = run_cli(capsys, "diff", "v1", "v2-narrow", "--fail-on-widen")
    assert (code, err) == (0, "")
    assert out == snapshot(extension_class=TextSnapshot)


@pytest.mark.usefixtures("in_golden")
def test_no_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "diff", "v1", "v1", "--fail-on-widen") == (0, (
        "OLD  v1 order-actions@1\n"
        "NEW  v1 order-actions@1\n"
        "compared: 189 of 312 combinations of 5 facts (the others are ruled out by the constraints of both sides: "
        "--include-impossible compares them too)\n"
        "\n"
        "summary: no decision changes (189 combinations compared)\n"), "")
    code, out, _ = run_cli(capsys, "diff", "v1", "v1", "--include-impossible")
    assert out.splitlines()[2:] == ["compared: all 312 combinations of 5 facts", "",
                                    "summary: no decision changes (312 combinations compared)"]


@pytest.mark.usefixtures("in_golden")
@pytest.mark.parametrize("args", [
    pytest.param(("v1", "v2-facts", "--format", "markdown"), id="facts-markdown"),
    pytest.param(("v1", "v2-unknown"), id="unknown-text"),
    pytest.param(("v1", "v1-globex", "--store", "globex", "--format", "csv"), id="globex-csv"),
    pytest.param(("v1", "v2-narrow", "--expand", "--format", "markdown"), id="narrow-expand-markdown"),
])
def test_diff_formats(capsys: pytest.CaptureFixture[str], snapshot: Any, args: tuple[str, ...]) -> None:
    code, out, err = run_cli(capsys, "diff", *args)
    assert (code, err) == (0, "")
    assert out == snapshot(extension_class=TextSnapshot)


@pytest.mark.usefixtures("in_golden")
def test_all_stores_json(capsys: pytest.CaptureFixture[str], snapshot: Any) -> None:
    import json

    code, out, err = run_cli(capsys, "diff", "v1", "v1-globex", "--all-stores", "--format", "json", "--fail-on-widen")
    assert code == 1
    assert err == "policyengine diff: --fail-on-widen: more permissive: store globex: request_cancellation\n"
    data = json.loads(out)
    assert data["summary"] == "1 of 2 policies change; more permissive: store globex"
    assert [d["store"] for d in data["diffs"]] == [None, "globex"]
    globex = data["diffs"][1]
    assert globex["new"] == "v1-globex order-actions@1 + store override globex@2"
    assert globex["old"] == "v1 order-actions@1 (store globex has no override)"
    assert [(a["action"]["id"], a["widens"], a["narrows"]) for a in globex["actions"]] == [
        ("delete", False, False), ("force_delete", False, True), ("request_cancellation", True, False)]
    assert globex["actions"][0]["details"] == [{
        "field": "confirm",
        "old": "Delete this order permanently? It is not deleted from the sales channel and may be imported again.",
        "new": "Delete this Globex order? Globex's finance team must approve deletions; is it approved?"}]
    assert out == snapshot(extension_class=TextSnapshot)


@pytest.mark.usefixtures("in_golden")
def test_html_is_self_contained(capsys: pytest.CaptureFixture[str], snapshot: Any) -> None:
    code, out, _ = run_cli(capsys, "diff", "v1", "v2-widen", "--format", "html", "--expand")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert "<script" not in out and "src=" not in out and "href=" not in out and "http" not in out
    assert out == snapshot(extension_class=HtmlSnapshot)


@pytest.mark.usefixtures("in_golden")
def test_a_side_that_does_not_load_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "diff", "v1", "broken")
    assert (code, out) == (3, "")
    assert err == (
        "policyengine diff: NEW (broken) does not load:\n"
        "broken/order-actions.yaml:100:39: order.status is never 'Archvied'; its declared values are: New, Pending, "
        "Queued, Bundled, Routed, Open, Partially Shipped, Shipped, Error, Skipped, Closed, Abandoned, Archived\n"
        "    at $.actions.archive.visible.when\n"
        "    hint: did you mean 'Archived'?\n"
        "1 problem found\n")
    code, out, err = run_cli(capsys, "diff", "broken", "v1", "--format", "json")
    assert code == 3
    assert '"side": "old"' in out
    assert err.startswith("policyengine diff: OLD (broken) does not load:\n")


@pytest.mark.usefixtures("in_golden")
def test_a_missing_path_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "diff", "v1", "no-such-dir-or-rev") == (
        3, "", "policyengine diff: NEW (no-such-dir-or-rev) does not load:\n"
               "no-such-dir-or-rev:1:1: no such file or directory (nor a git revision)\n1 problem found\n")


# -- git revisions -------------------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def commit(repo: Path, case: str, message: str) -> None:
    target = repo / "policies"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(GOLDEN / case, target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository: HEAD~1 is v1, HEAD is v2-widen, the working tree has v2-narrow (not committed)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    commit(root, "v1", "v1")
    commit(root, "v2-widen", "v2 widens")
    shutil.rmtree(root / "policies")
    shutil.copytree(GOLDEN / "v2-narrow", root / "policies")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.chdir(root)
    return root


def test_two_revisions(capsys: pytest.CaptureFixture[str], repo: Path, in_golden_output: str) -> None:
    code, out, err = run_cli(capsys, "diff", "HEAD~1", "HEAD", "--fail-on-widen")
    assert code == 1
    assert err == "policyengine diff: --fail-on-widen: more permissive: delete, schedule_process\n"
    lines = out.splitlines()
    assert lines[:2] == ["OLD  HEAD~1:policies order-actions@1", "NEW  HEAD:policies order-actions@2"]
    assert lines[2:] == in_golden_output.splitlines()[2:]  # the same diff as between the two directories


@pytest.fixture
def in_golden_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.chdir(GOLDEN)
        code, out, _ = run_cli(capsys, "diff", "v1", "v2-widen")
    assert code == 0
    return out


def test_revision_against_the_working_tree(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    code, out, _ = run_cli(capsys, "diff", "HEAD", "policies", "--fail-on-widen")
    assert code == 0  # v2-widen -> v2-narrow: narrower
    assert out.splitlines()[:2] == ["OLD  HEAD:policies order-actions@2", "NEW  policies order-actions@2"]
    # NEW defaults to the policies directory; REV:PATH names a directory at a revision.
    assert run_cli(capsys, "diff", "HEAD")[1] == out
    code, out2, _ = run_cli(capsys, "diff", "HEAD:policies", "policies")
    assert out2.splitlines()[0] == "OLD  HEAD:policies order-actions@2"
    assert out2.splitlines()[1:] == out.splitlines()[1:]


def test_revision_of_one_file_and_from_a_subdirectory(capsys: pytest.CaptureFixture[str], repo: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_cli(capsys, "diff", "HEAD~1:policies/order-actions.yaml", "HEAD:policies/order-actions.yaml")
    assert code == 0
    assert out.splitlines()[:2] == ["OLD  HEAD~1:policies/order-actions.yaml order-actions@1",
                                    "NEW  HEAD:policies/order-actions.yaml order-actions@2"]
    monkeypatch.chdir(repo / "policies")
    code, sub, _ = run_cli(capsys, "diff", "HEAD~1:./order-actions.yaml", "order-actions.yaml")
    assert code == 0
    assert sub.splitlines()[:2] == ["OLD  HEAD~1:policies/order-actions.yaml order-actions@1",
                                    "NEW  order-actions.yaml order-actions@2"]


def test_bad_revisions_exit_2(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    assert run_cli(capsys, "diff", "HEAD~5:policies", "policies") == (
        2, "", "policyengine diff: HEAD~5:policies: no such git revision 'HEAD~5'\n")
    code, out, err = run_cli(capsys, "diff", "HEAD:nope", "policies")
    assert (code, out) == (3, "")  # a missing path, as for every command: the policies do not load
    assert err == ("policyengine diff: OLD (HEAD:nope) does not load:\n"
                   "HEAD:nope:1:1: path 'nope' does not exist in 'HEAD'\n1 problem found\n")
    assert run_cli(capsys, "diff", "nope", "policies") == (
        3, "", "policyengine diff: OLD (nope) does not load:\nnope:1:1: no such file or directory (nor a git revision)\n"
               "1 problem found\n")


def test_a_revision_that_does_not_load_exits_3(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    commit(repo, "broken", "broken")
    code, out, err = run_cli(capsys, "diff", "HEAD~1", "HEAD")
    assert (code, out) == (3, "")
    assert err.splitlines()[:2] == [
        "policyengine diff: NEW (HEAD) does not load:",
        "HEAD:policies/order-actions.yaml:100:39: order.status is never 'Archvied'; its declared values are: New, "
        "Pending, Queued, Bundled, Routed, Open, Partially Shipped, Shipped, Error, Skipped, Closed, Abandoned, Archived"]


# -- the diff is the set difference of the matrices ----------------------------------------------------------------


def own_outcome(matrix: Matrix, index: dict[tuple[Any, ...], Any], facts: dict[str, Any], action: str) -> Outcome:
    """What ``matrix`` (a policy's own matrix over its own facts) says of ``action`` at ``facts`` (any superset of
    its facts): ``absent`` when the policy has no such action or does not declare one of the values."""
    ids = [a.id for a in matrix.actions]
    values = tuple(facts[a.name] for a in matrix.axes)
    if action not in ids or any(v not in a.values for v, a in zip(values, matrix.axes, strict=True)):
        return Outcome("absent")
    return index[values].outcomes[ids.index(action)].comparable


def check_set_difference(old: Any, new: Any, include_impossible: bool) -> None:
    diff = diff_policies(old, new, include_impossible=include_impossible)
    names = [a.name for a in diff.axes]
    actions = [a.id for a in union_actions(old, new)]
    matrices = [build_matrix(p, include_impossible=True) for p in (old, new)]
    indexes = [{c.values: c for c in m.combinations} for m in matrices]
    compared = set(diff.compared)
    entries: list[set[tuple[tuple[Any, ...], str, Outcome]]] = [set(), set()]
    for values in itertools.product(*(a.values for a in diff.axes)):
        facts = dict(zip(names, values, strict=True))
        decidable = [all(facts[a.name] in a.values for a in m.axes) for m in matrices]
        if all(decidable):
            possible = [i[tuple(facts[a.name] for a in m.axes)].possible for m, i in zip(matrices, indexes, strict=True)]
            assert (values in compared) == (include_impossible or any(possible)), facts
        if values not in compared:
            continue
        for action in actions:
            for side in (0, 1):
                entries[side].add((values, action, own_outcome(matrices[side], indexes[side], facts, action)))
    got = diff.entries()
    assert {(c, a, o) for c, a, o, _ in got} == entries[0] - entries[1]
    assert {(c, a, n) for c, a, _, n in got} == entries[1] - entries[0]
    assert len(got) == len(entries[0] - entries[1])
    # Each change's description covers its combinations and no other compared combination with another change
    # (a change to combinations that existed before may also cover combinations of a new value: those are
    # described apart, one line per new value).
    for action_diff in diff.actions:
        for change in action_diff.changes:
            for values in compared:
                if change.fresh is None and diff.fresh_of(values) is not None:
                    continue
                facts = dict(zip(names, values, strict=True))
                matched = any(c.matches(facts) for c in change.when)
                assert matched == (values in change.combinations), (change.kind, facts)
            assert all(diff.fresh_of(c) == change.fresh for c in change.combinations)
    if currently_in_test_context():
        for kind in sorted({c.kind for a in diff.actions for c in a.changes}):
            event(f"change: {kind}")
        event(f"fact changes: {bool(diff.fact_changes)}")
    assert diff.widens == any(
        (n.may_enable and not o.surely_enabled) or (n.may_show and not o.surely_visible) for _, _, o, n in got)


@pytest.mark.parametrize("case", ["v2-widen", "v2-narrow", "v2-facts", "v2-unknown"])
@pytest.mark.parametrize("include_impossible", [False, True], ids=["possible", "all"])
def test_golden_diffs_are_set_differences(case: str, include_impossible: bool) -> None:
    old = policyengine.load(GOLDEN / "v1").policy
    new = policyengine.load(GOLDEN / case).policy
    check_set_difference(old, new, include_impossible)
    check_set_difference(new, old, include_impossible)


def test_store_diffs_are_set_differences() -> None:
    old, new = policyengine.load(GOLDEN / "v1"), policyengine.load(GOLDEN / "v1-globex")
    check_set_difference(old.store_policy("globex"), new.store_policy("globex"), False)
    diff = diff_engines(old, new, store="globex")
    assert diff.widens and [a.action.id for a in diff.actions if a.widens] == ["request_cancellation"]


# Random small policies: up to four facts (two enums, two bools); both sides draw their own facts (so one may read a
# fact or declare a value the other does not), actions (so one may add or drop an action), conditions and
# constraints.
ENUMS = {"order.kind": ("p", "q", "r"), "user.tier": ("x", "y")}
BOOLS = ("order.flag", "user.vip")
ACTION_IDS = ("a1", "a2", "a3")
REASONS = ("R1", "R2", "R3")
OPERATIONS = ("op1", "op2")


@st.composite
def conditions(draw: Any, facts: dict[str, tuple[str, ...] | None], earlier: tuple[str, ...] = (), depth: int = 0) -> str:
    """A condition over ``facts`` (enum: its values; bool: None), maybe reading earlier actions' states."""
    names = sorted(facts)
    kinds = ["atom"] * 3 + (["and", "or", "not"] if depth < 2 else []) + (["action"] if earlier else []) + ["const"]
    kind = draw(st.sampled_from(kinds))
    if kind == "const":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "action":
        return f"actions.{draw(st.sampled_from(earlier))}.{draw(st.sampled_from(['enabled', 'disabled', 'visible', 'hidden']))}"
    if kind == "not":
        return f"not ({draw(conditions(facts, earlier, depth + 1))})"
    if kind in ("and", "or"):
        return f"({draw(conditions(facts, earlier, depth + 1))}) {kind} ({draw(conditions(facts, earlier, depth + 1))})"
    name = draw(st.sampled_from(names))
    values = facts[name]
    if values is None:
        return name if draw(st.booleans()) else f"not {name}"
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
    if len(chosen) == 1:
        return f"{name} {draw(st.sampled_from(['==', '!=']))} '{chosen[0]}'"
    return f"{name} {draw(st.sampled_from(['in', 'not in']))} [{', '.join(repr(v) for v in chosen)}]"


@st.composite
def policies(draw: Any, version: int) -> str:
    facts: dict[str, tuple[str, ...] | None] = {}
    for name, pool in ENUMS.items():
        if draw(st.booleans()):
            chosen = draw(st.sets(st.sampled_from(pool), min_size=1))
            facts[name] = tuple(v for v in pool if v in chosen)
    for name in BOOLS:
        if draw(st.booleans()) or not facts:
            facts[name] = None
    declared = {n: ({"type": "bool"} if v is None else {"type": "enum", "values": list(v)}) for n, v in facts.items()}
    ids = [i for i in ACTION_IDS if draw(st.booleans())] or ["a1"]
    actions: dict[str, Any] = {}
    for k, action_id in enumerate(ids):
        earlier = tuple(ids[:k])
        action: dict[str, Any] = {"label": draw(st.sampled_from(["A", "B"])),
                                  "allow": {"when": draw(conditions(facts, earlier)), "reason": draw(st.sampled_from(REASONS))}}
        if draw(st.booleans()):
            action["visible"] = {"when": draw(conditions(facts, earlier)), "reason": draw(st.sampled_from(REASONS))}
        guards = draw(st.lists(st.tuples(conditions(facts, earlier), st.sampled_from(REASONS)), max_size=2))
        if guards:
            action["deny"] = [{"id": f"g{j}", "when": when, "reason": reason} for j, (when, reason) in enumerate(guards)]
        effects = draw(st.lists(st.tuples(st.one_of(st.none(), conditions(facts, earlier)), st.sampled_from(OPERATIONS)),
                                max_size=2))
        if effects:
            action["effects"] = [{"operation": op, **({"when": when} if when is not None else {})} for when, op in effects]
        if draw(st.booleans()):
            action["confirm"] = draw(st.sampled_from(["Sure?", "Really?"]))
        actions[action_id] = action
    document: dict[str, Any] = {"apiVersion": "policyengine/v1", "kind": "ActionPolicy", "name": "random",
                                "version": version, "facts": declared, "actions": actions}
    constraints = draw(st.lists(conditions(facts), max_size=2))
    if constraints:
        document["constraints"] = {f"c{j}": when for j, when in enumerate(constraints)}
    return yaml.safe_dump(document, sort_keys=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(old=policies(1), new=policies(2), include_impossible=st.booleans())
def test_diff_is_the_set_difference_of_matrices(tmp_path_factory: pytest.TempPathFactory, old: str, new: str,
                                                include_impossible: bool) -> None:
    folder = tmp_path_factory.mktemp("random")
    loaded = []
    for name, text in (("old.yaml", old), ("new.yaml", new)):
        (folder / name).write_text(text)
        loaded.append(policyengine.load(folder / name, table_limit=0).policy)
    check_set_difference(loaded[0], loaded[1], include_impossible)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_edits_of_the_default_policy(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """Replace one action's allow condition, or one guard's, in the shipped default policy: still a set difference."""
    document = yaml.safe_load((GOLDEN / "v1" / "order-actions.yaml").read_text())
    facts = {"order.status": tuple(document["facts"]["order.status"]["values"]), "order.has_shipment": None,
             "order.sent_to_warehouse": None, "store.manual_fulfillment": None, "user.role": ("admin", "member", "viewer")}
    action = data.draw(st.sampled_from(sorted(document["actions"])))
    spec = document["actions"][action]
    when = data.draw(conditions(facts))
    if spec.get("deny") and data.draw(st.booleans()):
        spec["deny"][0]["when"] = when
    else:
        spec["allow"] = {"when": when, "reason": "Edited."}
    document["version"] = 2
    folder = tmp_path_factory.mktemp("edit")
    (folder / "new.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    old = policyengine.load(GOLDEN / "v1", table_limit=0).policy
    new = policyengine.load(folder / "new.yaml", table_limit=0).policy
    check_set_difference(old, new, data.draw(st.booleans()))
