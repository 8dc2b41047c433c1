"""``policyengine impact``: every format, ``--fail-on`` and its exit codes, ``--against`` a git revision, usage
errors, and ``--log`` replaying a real decision log (masked facts counted as not replayable)."""

from __future__ import annotations

import json
import logging
import runpy
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_support import run_cli

import policyengine
from policyengine import sql as psql
from policyengine.service.decisionlog import DecisionLog, JsonLinesFormatter
from policyengine.service.view import EngineView

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/examples/impact_demo.py's database and changed policies, in a fresh directory."""
    where = tmp_path_factory.mktemp("impact")
    shutil.copytree(ROOT / "policies", where / "policies")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(where)
        runpy.run_path(str(ROOT / "docs" / "examples" / "impact_demo.py"), run_name="__main__")
    return where


def _args(demo: Path, *more: str) -> list[str]:
    return [str(demo / "policies-new"), "--against", str(demo / "policies"),
            "--db", f"sqlite:///{demo / 'impact-orders.sqlite'}", *more]


def test_json_is_the_api_result(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    only = ["edit", "delete", "force_delete", "request_cancellation"]
    code, out, err = run_cli(capsys, "impact", *_args(demo, "--format", "json", *(a for o in only for a in ("--action", o))))
    assert (code, err) == (0, "")
    old, new = policyengine.load(demo / "policies"), policyengine.load(demo / "policies-new")
    database = sa.create_engine(f"sqlite:///{demo / 'impact-orders.sqlite'}")
    orders = sa.table("orders", *(sa.column(c) for c in ("id", "status", "has_shipment", "sent_to_warehouse", "channel",
                                                           "store_id", "store_manual_fulfillment")))
    columns = {"order.status": orders.c.status, "order.has_shipment": orders.c.has_shipment,
               "order.sent_to_warehouse": orders.c.sent_to_warehouse, "order.channel": orders.c.channel,
               "store.id": orders.c.store_id, "store.manual_fulfillment": orders.c.store_manual_fulfillment}
    profiles = {r: {"role": r} for r in ("admin", "member", "viewer")}
    with database.connect() as conn:
        want = psql.impact(conn, old, new, orders, columns, orders.c.id, users=profiles, actions=only).to_dict()
    assert json.loads(out) == want
    delete = [a for a in want["actions"] if a["action"] == "delete" and a["profile"] == "member"][0]
    assert delete["transitions"] == [{"from": "disabled", "to": "enabled", "count": 17,
                                      "stores": {"globex": 6, "initech": 6, "acme": 5},
                                      "examples": ["SO-1006", "SO-1010", "SO-1011"]}]


def test_text_and_markdown(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "impact", *_args(demo, "--action", "edit", "--action", "delete"))
    assert code == 0
    assert out.splitlines()[3:] == [
        "5 of 6 action answers change over 60 orders (wider: something is newly enabled)",
        "Edit (admin, member):",
        "  enabled -> disabled: 10  stores: initech 5, globex 4, acme 1  e.g. SO-1008, SO-1012, SO-1014",
        "  decided -> undecided: 2  e.g. SO-1012, SO-1046",
        "Edit (viewer):",
        "  decided -> undecided: 2  e.g. SO-1012, SO-1046",
        "Delete (admin, member):",
        "  disabled -> enabled: 17  [wider]  stores: globex 6, initech 6, acme 5  e.g. SO-1006, SO-1010, SO-1011",
        "unchanged: Delete (viewer)"]
    code, out, _ = run_cli(capsys, "impact", *_args(demo, "--format", "markdown", "--action", "archive",
                                                    "--user", "admin={\"role\": \"admin\"}", "--examples", "1"))
    assert code == 0
    assert out.splitlines()[-3:] == [
        "| Action | Change | Orders | Stores | Examples |", "| --- | --- | ---: | --- | --- |",
        "| Archive | enabled \u2192 hidden | 6 | acme 2, globex 2, initech 2 | SO-1005 |"]


@pytest.mark.parametrize(("change", "actions", "code", "said"), [
    ("widen", (), 1, "delete (admin): disabled->enabled (17); delete (member): disabled->enabled (17); "
                     "force_delete (admin): hidden->enabled (20)"),
    ("hidden->enabled", ("force_delete",), 1, "force_delete (admin): hidden->enabled (20)"),
    ("undecided", ("edit",), 1, "edit (admin): decided->undecided (2)"),
    ("enabled->disabled", ("edit", "archive"), 1, "edit (admin): enabled->disabled (10)"),
    ("disabled->hidden", ("archive",), 1, "archive (viewer): disabled->hidden (6)"),
    ("hidden->disabled", ("archive", "delete", "force_delete"), 0, None),
])
def test_fail_on(demo: Path, capsys: pytest.CaptureFixture[str], change: str, actions: tuple[str, ...], code: int,
                 said: str | None) -> None:
    only = [arg for action in actions for arg in ("--action", action)]
    got, _, err = run_cli(capsys, "impact", *_args(demo, "--fail-on", change, *only))
    assert got == code
    if said is None:
        assert err == ""
    else:
        assert err.startswith(f"policyengine impact: --fail-on {change}: ") and said in err


def test_against_a_git_revision(demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # HEAD:policies of this repository: the same policies, nothing moves
    code, out, err = run_cli(capsys, "impact", "policies", "--against", "HEAD", "--fail-on", "widen",
                             "--db", f"sqlite:///{demo / 'impact-orders.sqlite'}")
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == ["OLD  HEAD:policies", "NEW  policies", f"over sqlite:///{demo / 'impact-orders.sqlite'}",
                                    "0 of 9 action answers change over 60 orders"]


def test_usage_and_load_errors(demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "impact", *_args(demo, "--fail-on", "enabled->enabled"))
    assert code == 2 and "--fail-on: not a change: 'enabled->enabled'" in err
    code, _, err = run_cli(capsys, "impact", *_args(demo, "--table", "nope"))
    assert code == 2 and "--db: cannot query the database" in err
    code, _, err = run_cli(capsys, "impact", "policies", "--against", str(tmp_path / "missing"), "--db", "sqlite://")
    assert code == 3 and "OLD" in err and "does not load" in err
    code, _, err = run_cli(capsys, "impact", *_args(demo, "--user", "admin"))
    assert code == 2 and "--user: expected NAME=JSON" in err


def test_replay_a_decision_log(demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A log written by the service's DecisionLog, one of its two records masked: replayed through both sides."""
    old = policyengine.load(demo / "policies")
    path = tmp_path / "decisions.jsonl"
    logger = logging.getLogger("test-impact-replay")
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonLinesFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        order = {"id": "SO-9", "status": "Error", "has_shipment": False, "sent_to_warehouse": True,
                 "channel": "shopify", "store": {"id": "globex", "manual_fulfillment": False}}
        user = {"role": "member"}
        for name, log in (("plain", DecisionLog(logger)), ("masked", DecisionLog(logger, mask=["user.*"]))):
            view = EngineView(old, log)
            log.log("evaluate", view, [(order, user)], [old.evaluate(order, user)], store=None, request_id=name,
                    started=time.perf_counter())
    finally:
        logger.removeHandler(handler)
        handler.close()
    code, out, _ = run_cli(capsys, "impact", str(demo / "policies-new"), "--against", str(demo / "policies"),
                           "--log", str(path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["total"] == 1 and data["not_replayable"] == {"count": 1, "why": {"user.role is masked": 1}}
    delete = next(a for a in data["actions"] if a["action"] == "delete")
    assert delete["transitions"] == [{"from": "disabled", "to": "enabled", "count": 1, "stores": {"globex": 1},
                                      "examples": ["plain"]}]
    code, out, _ = run_cli(capsys, "impact", str(demo / "policies-new"), "--against", str(demo / "policies"),
                           "--log", str(path), "--fail-on", "widen")
    assert code == 1 and "not replayable: 1 (user.role is masked: 1)" in out
