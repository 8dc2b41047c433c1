"""``policyengine matrix``: the exhaustive decision table, grouped for people.

* through the CLI, on the shipped policies and on the golden policy directories of ``tests/golden/diff/``, every
  format snapshotted (``tests/__snapshots__/test_matrix/``; regenerate with ``pytest --snapshot-update`` and review);
* the matrix agrees with ``engine.evaluate`` on every combination (it decides with the interpreter, the engine with
  its generated fast path);
* every description is exact: a row's (an outcome's) cubes cover its combinations and no combination of another
  row (outcome), except combinations the constraints rule out (don't-cares);
* cube covers over random spaces are exact (hypothesis), and simple cases come out as people would write them.
"""

from __future__ import annotations

import itertools
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cli_support import HtmlSnapshot, TextSnapshot, run_cli
from conftest import POLICIES, ROOT, build_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.analysis.matrix import Axis, Cube, Matrix, Outcome, build_matrix, cover, describe_cubes
from policyengine.proof import smt

GOLDEN = ROOT / "tests" / "golden" / "diff"


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def in_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)


# -- the CLI on the shipped policies -------------------------------------------------------------------------------


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize("args", [
    pytest.param(("policies",), id="base-text"),
    pytest.param(("policies", "--by", "action"), id="base-by-action"),
    pytest.param(("policies", "--store", "acme", "--by", "action"), id="acme-by-action"),
    pytest.param(("policies", "--store", "globex", "--format", "markdown"), id="globex-markdown"),
])
def test_matrix_of_shipped_policies(capsys: pytest.CaptureFixture[str], snapshot: Any, args: tuple[str, ...]) -> None:
    code, out, err = run_cli(capsys, "matrix", *args)
    assert (code, err) == (0, "")
    assert out == snapshot(extension_class=TextSnapshot)


@pytest.mark.usefixtures("in_root")
def test_base_matrix_header_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "matrix", "policies")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "order-actions@1 (base policy)"
    assert lines[1] == ("189 possible combinations of 5 facts (312 in all; 123 ruled out by 4 constraints left out: "
                        "--include-impossible shows them)")
    assert "not read by any condition: store.id (string)" in lines


@pytest.mark.usefixtures("in_root")
def test_include_impossible_shows_every_combination(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "matrix", "policies", "--include-impossible", "--expand", "--format", "csv")
    assert code == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 312
    code, out, _ = run_cli(capsys, "matrix", "policies", "--exclude-impossible", "--expand", "--format", "csv")
    assert len(out.splitlines()[1:]) == 189
    # A Shipped order without a shipment cannot happen, so it is not listed by default.
    assert not any(r.startswith(tuple(f"{i},Shipped,false," for i in range(400))) for r in out.splitlines())


@pytest.mark.usefixtures("in_root")
def test_unknown_store_is_decided_by_the_base_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "matrix", "policies", "--store", "no-override-store")
    assert code == 0
    assert out.splitlines()[0] == "order-actions@1 (store no-override-store has no override: the base policy decides)"
    _, base, _ = run_cli(capsys, "matrix", "policies")
    assert out.splitlines()[1:] == base.splitlines()[1:]


# -- the CLI on the golden directories -----------------------------------------------------------------------------


@pytest.mark.usefixtures("in_golden")
@pytest.mark.parametrize("args", [
    pytest.param(("v1", "--format", "csv"), id="v1-csv"),
    pytest.param(("v1", "--format", "markdown", "--by", "action", "--include-impossible"), id="v1-markdown-all"),
    pytest.param(("v2-unknown", "--by", "action"), id="v2-unknown-by-action"),
    pytest.param(("v2-facts", "--by", "action", "--format", "csv"), id="v2-facts-by-action-csv"),
])
def test_matrix_of_golden_policies(capsys: pytest.CaptureFixture[str], snapshot: Any, args: tuple[str, ...]) -> None:
    code, out, err = run_cli(capsys, "matrix", *args)
    assert (code, err) == (0, "")
    assert out == snapshot(extension_class=TextSnapshot)


@pytest.mark.usefixtures("in_golden")
def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "matrix", "v1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["policy"], data["combinations"], data["possible"]) == ("order-actions@1", 312, 189)
    assert [f["name"] for f in data["facts"]] == ["order.status", "order.has_shipment", "order.sent_to_warehouse",
                                                  "store.manual_fulfillment", "user.role"]
    assert sum(r["count"] for r in data["rows"]) == 189
    assert data["by_action"]["edit"] == [
        {"when": [{"user.role": ["admin", "member"]}], "description": "user.role != viewer", "count": 126,
         "state": "enabled", "reasons": [], "effects": [{"set": {}, "operation": "open_edit_form"}]},
        {"when": [{"user.role": ["viewer"]}], "description": "user.role = viewer", "count": 63,
         "state": "disabled", "reasons": ["Read-only users can't change orders."], "effects": []},
    ]
    assert data["constraints"][0] == {"id": "shipment-means-sent", "when": "not order.has_shipment or order.sent_to_warehouse",
                                      "description": "The warehouse only reports shipments for orders it was sent.",
                                      "applied": True}


@pytest.mark.usefixtures("in_golden")
def test_json_expand_lists_every_combination(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "matrix", "v1", "--format", "json", "--expand")
    listed = json.loads(out)["combinations_list"]
    assert len(listed) == 312
    assert sum(c["possible"] for c in listed) == 189
    shipped = next(c for c in listed if c["facts"] == {"order.status": "Shipped", "order.has_shipment": False,
                                                       "order.sent_to_warehouse": True,
                                                       "store.manual_fulfillment": False, "user.role": "admin"})
    assert (shipped["possible"], shipped["broken"]) == (False, ["shipped-has-shipment"])


class _Checker(HTMLParser):
    """Collects start tags and attributes, and checks that every non-void element is closed in order."""

    VOID = {"meta", "br", "link", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack[-5:], tag)
        self.stack.pop()


@pytest.mark.usefixtures("in_golden")
def test_html_is_one_self_contained_page(capsys: pytest.CaptureFixture[str], snapshot: Any, tmp_path: Path) -> None:
    target = tmp_path / "matrix.html"
    code, out, err = run_cli(capsys, "matrix", "v1", "--format", "html", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    page = target.read_text("utf-8")
    checker = _Checker()
    checker.feed(page)
    assert checker.stack == []
    tags = {t for t, _ in checker.tags}
    assert {"html", "head", "style", "body", "table"} <= tags
    assert not tags & {"script", "link", "img", "iframe", "object"}  # nothing to fetch, nothing to run
    assert not any(k in ("src", "href") for _, a in checker.tags for k in a)
    assert "http://" not in page and "https://" not in page
    assert "Read-only users can&#x27;t change orders." in page
    assert page == snapshot(extension_class=HtmlSnapshot)


# -- exit codes ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("in_golden")
def test_a_policy_that_does_not_load_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "matrix", "broken")
    assert (code, out) == (3, "")
    assert err == (
        "broken/order-actions.yaml:100:39: order.status is never 'Archvied'; its declared values are: New, Pending, "
        "Queued, Bundled, Routed, Open, Partially Shipped, Shipped, Error, Skipped, Closed, Abandoned, Archived\n"
        "    at $.actions.archive.visible.when\n"
        "    hint: did you mean 'Archived'?\n"
        "1 problem found\n")


@pytest.mark.usefixtures("in_root")
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "matrix", "policies", "--version", "7") == (
        2, "", "policyengine matrix: --version 7: not loaded (loaded versions: 1)\n")
    assert run_cli(capsys, "matrix", "policies", "--version", "1", "--store", "acme") == (
        2, "", "policyengine matrix: --version and --store: a store runs on its own version; give one of them\n")


# -- the matrix itself ---------------------------------------------------------------------------------------------


def golden_engine(name: str) -> policyengine.Engine:
    return policyengine.load(GOLDEN / name)


def shipped() -> list[tuple[str, policyengine.Engine, str | None]]:
    engine = policyengine.load(POLICIES)
    cases: list[tuple[str, policyengine.Engine, str | None]] = [("base", engine, None)]
    cases += [(store, engine, store) for store in engine.stores]
    cases += [(name, golden_engine(name), None) for name in ("v2-widen", "v2-narrow", "v2-facts", "v2-unknown")]
    return cases


SHIPPED = shipped()


@pytest.mark.parametrize(("engine", "store"), [(e, s) for _, e, s in SHIPPED], ids=[n for n, _, _ in SHIPPED])
@pytest.mark.parametrize("include_impossible", [False, True], ids=["possible", "all"])
def test_descriptions_are_exact(engine: policyengine.Engine, store: str | None, include_impossible: bool) -> None:
    matrix = build_matrix(engine.store_policy(store), include_impossible=include_impossible)
    shown = matrix.shown
    assert len(shown) == (matrix.total if include_impossible else matrix.possible)
    for combination in shown:
        facts = matrix.assignment(combination)
        rows = [r for r in matrix.rows if any(c.matches(facts) for c in r.when)]
        assert [r.outcomes for r in rows] == [combination.outcomes], facts
        for k, summary in enumerate(matrix.by_action):
            groups = [g for g in summary.groups if any(c.matches(facts) for c in g.when)]
            assert [g.outcome for g in groups] == [combination.outcomes[k]], (summary.action.id, facts)
    assert sum(r.count for r in matrix.rows) == len(shown)
    assert len({r.outcomes for r in matrix.rows}) == len(matrix.rows)  # identical rows are collapsed


@pytest.mark.parametrize(("engine", "store"), [(e, s) for n, e, s in SHIPPED if n != "v2-unknown"],
                         ids=[n for n, _, _ in SHIPPED if n != "v2-unknown"])
def test_matrix_agrees_with_evaluate(engine: policyengine.Engine, store: str | None) -> None:
    policy = engine.store_policy(store)
    matrix = build_matrix(policy, store=store, include_impossible=True)
    assert matrix.held_unknown == ()
    for combination in matrix.combinations:
        order, user = build_inputs(policy, matrix.assignment(combination), store or "no-override-store")
        decisions = engine.evaluate(order, user, strict=True)
        expected = tuple(Outcome(d.state, d.reasons, d.effects if d.enabled else ()) for d in decisions.values())
        assert combination.outcomes == expected


def test_facts_that_cannot_be_enumerated_are_held_unknown() -> None:
    matrix = build_matrix(golden_engine("v2-unknown").policy)
    assert matrix.held_unknown == (("order.total", "number"),)
    assert matrix.not_read == (("store.id", "string"),)
    assert [a.name for a in matrix.axes] == ["order.status", "order.has_shipment", "order.sent_to_warehouse",
                                             "store.manual_fulfillment", "user.role"]
    delete = next(s for s in matrix.by_action if s.action.id == "delete")
    outcomes = {describe_cubes(g.when, matrix.axes): g.outcome for g in delete.groups}
    # The SMT solver describes the undecided cell by the condition that decides it.
    assert outcomes["order.sent_to_warehouse = false, user.role != viewer"] == Outcome(
        "undecided", (), (), ("enabled", "disabled"), ("order.total",),
        (("enabled", "not (order.total > 1000)"), ("disabled", "order.total > 1000")))
    assert outcomes["order.sent_to_warehouse = true, user.role != viewer"] == Outcome(
        "disabled", ("The order was already sent to the warehouse; archive it first.",), (), (), ("order.total",))
    # Nothing else depends on order.total: every other action is decided.
    others = [g.outcome.state for s in matrix.by_action if s.action.id != "delete" for g in s.groups]
    assert "undecided" not in others


def test_without_the_solver_held_unknown_cells_are_plainly_undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smt, "z3", None)
    matrix = build_matrix(golden_engine("v2-unknown").policy)
    delete = next(s for s in matrix.by_action if s.action.id == "delete")
    outcomes = {describe_cubes(g.when, matrix.axes): g.outcome for g in delete.groups}
    assert outcomes["order.sent_to_warehouse = false, user.role != viewer"] == Outcome(
        "undecided", (), (), ("enabled", "disabled"), ("order.total",))


def test_actions_summary_reads_like_the_policy(engine: policyengine.Engine) -> None:
    matrix = build_matrix(engine.policy)
    summary = {s.action.id: [(g.outcome.state, describe_cubes(g.when, matrix.axes), g.count) for g in s.groups]
               for s in matrix.by_action}
    assert summary["force_delete"] == [("enabled", "user.role = admin", 63),
                                       ("hidden", "user.role != admin", 126)]
    assert summary["revalidate"] == [
        ("hidden", "store.manual_fulfillment = false or order.status != Error", 180),
        ("enabled", "order.status = Error, store.manual_fulfillment = true, user.role != viewer", 6),
        ("disabled", "order.status = Error, store.manual_fulfillment = true, user.role = viewer", 3),
    ]
    # schedule_process: Pending orders only exist in manual-fulfillment stores (a constraint), so the description
    # need not say so.
    assert summary["schedule_process"] == [("hidden", "order.status != Pending", 180),
                                           ("enabled", "order.status = Pending, user.role != viewer", 6),
                                           ("disabled", "order.status = Pending, user.role = viewer", 3)]


# -- cube covers ---------------------------------------------------------------------------------------------------

STATUS = Axis("order.status", "enum", ("New", "Pending", "Open", "Shipped", "Closed"))
SHIPMENT = Axis("order.has_shipment", "bool", (False, True))
ROLE = Axis("user.role", "enum", ("admin", "member", "viewer"))
AXES = (STATUS, SHIPMENT, ROLE)


def points(**fixed: tuple[Any, ...]) -> list[dict[str, Any]]:
    domains = [fixed.get(a.name.split(".")[-1], a.values) for a in AXES]
    return [dict(zip((a.name for a in AXES), combo, strict=True)) for combo in itertools.product(*domains)]


@pytest.mark.parametrize(("on", "expected"), [
    (points(), "any combination"),
    (points(status=("New", "Pending")), "order.status in {New, Pending}"),
    (points(status=("New", "Pending", "Open", "Shipped")), "order.status != Closed"),
    (points(status=("New", "Pending", "Open")), "order.status not in {Shipped, Closed}"),
    (points(role=("viewer",), has_shipment=(True,)), "order.has_shipment = true, user.role = viewer"),
    (points(status=("Open",)) + points(role=("admin",)), "user.role = admin or order.status = Open"),
    ([], "no combination"),
])
def test_cover_reads_as_people_write(on: list[dict[str, Any]], expected: str) -> None:
    assert describe_cubes(cover(AXES, on), AXES) == expected


def test_dont_cares_shorten_descriptions() -> None:
    # Shipped orders always have a shipment: "has_shipment = true" is then described without the status.
    on = points(has_shipment=(True,), status=("Open", "Shipped")) + points(has_shipment=(True,), status=("New",))
    impossible = points(has_shipment=(False,), status=("Shipped",))
    assert describe_cubes(cover(AXES, on), AXES) == "order.status not in {Pending, Closed}, order.has_shipment = true"
    on = points(status=("Shipped",), has_shipment=(True,))
    assert describe_cubes(cover(AXES, on, impossible), AXES) == "order.status = Shipped"


@st.composite
def spaces(draw: Any) -> tuple[tuple[Axis, ...], list[dict[str, Any]], list[dict[str, Any]]]:
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    axes = tuple(Axis(f"f.a{i}", "enum", tuple(f"v{j}" for j in range(n))) for i, n in enumerate(sizes))
    every = [dict(zip((a.name for a in axes), combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]
    labels = draw(st.lists(st.sampled_from("ond"), min_size=len(every), max_size=len(every)))
    on = [p for p, lab in zip(every, labels, strict=True) if lab == "o"]
    dc = [p for p, lab in zip(every, labels, strict=True) if lab == "d"]
    return axes, on, dc


@settings(max_examples=300, deadline=None)
@given(spaces())
def test_cover_is_exact(space: tuple[tuple[Axis, ...], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    axes, on, dc = space
    cubes = cover(axes, on, dc)
    every = [dict(zip((a.name for a in axes), combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]
    for point in every:
        covered = any(c.matches(point) for c in cubes)
        if point in on:
            assert covered, point
        elif point not in dc:
            assert not covered, point
    # Irredundant: every cube covers some combination no other cube does.
    for k, cube in enumerate(cubes):
        own = [p for p in on if cube.matches(p)]
        assert any(not any(c.matches(p) for j, c in enumerate(cubes) if j != k) for p in own)
    assert len(cubes) <= len(on)


def test_cube_terms_and_matrix_entries(engine: policyengine.Engine) -> None:
    matrix: Matrix = build_matrix(engine.policy)
    assert Cube().describe(matrix.axes) == "any combination"
    entries = matrix.entries()
    assert len(entries) == matrix.possible * len(matrix.actions)


UNREAD_CONSTRAINT = """\
apiVersion: policyengine/v1
kind: ActionPolicy
name: tiny
version: 1
facts:
  order.paid: {type: bool}
  order.refunded: {type: bool}
  order.note: {type: string}
constraints:
  refund-needs-payment: {when: not order.refunded or order.paid, description: Only paid orders are refunded.}
actions:
  ship:
    label: Ship
    allow: {when: order.paid, reason: Not paid.}
    deny:
      - {id: noted, when: "order.note == 'hold'", reason: On hold.}
"""


def test_unread_facts_and_constraints_over_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A constraint reading a fact no decision reads cannot rule a decision out: it is listed, not applied."""
    path = tmp_path / "tiny.yaml"
    path.write_text(UNREAD_CONSTRAINT)
    matrix = build_matrix(policyengine.load(path).policy)
    assert [a.name for a in matrix.axes] == ["order.paid"]
    assert matrix.not_read == (("order.refunded", "bool"),)
    assert matrix.held_unknown == (("order.note", "string"),)
    assert [c.applied for c in matrix.constraints] == [False]
    code, out, _ = run_cli(capsys, "matrix", str(path))
    assert code == 0
    assert out.splitlines()[1:] == [
        "2 possible combinations of 1 fact (2 in all; 0 ruled out by 0 constraints left out: --include-impossible shows them)",
        "  order.paid  bool  false, true",
        "held unknown (not enumerable): order.note (string); decisions that depend on them are undecided",
        "not read by any condition: order.refunded (bool)",
        "",
        "2 distinct rows in 2 lines ('*': any value; a row with several lines holds wherever any of them does)",
        "",
        "#  paid  | ship",
        "-" * 25,
        "1  false | disabled [1,2]",
        "2  true  | undecided [3]",
        "",
        "[1] Not paid.",
        "[2] more reasons may apply, depending on order.note",
        "[3] enabled when not (order.note == 'hold'); disabled when order.note == 'hold'",
    ]
