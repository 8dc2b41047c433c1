"""``policyengine matrix --fact NAME=VALUE``: fix facts to preview a threshold, typed by each fact's declaration.

A copy of the shipped policies gets the issue's edit (a number fact ``order.total`` and a Reset guard "over 1,000
needs an admin") and a set fact; without ``--fact`` Reset is undecided for members, with ``--fact order.total=...``
every cell is decided. Bad input is a usage error (exit 2) naming the fact, with a did-you-mean.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import run_cli

import policyengine
from policyengine.analysis.matrix import build_matrix

ROOT = Path(__file__).resolve().parent.parent

FACTS = """\
  order.total:
    type: number
    description: The order total.
  order.tags:
    type: set
    description: Tags on the order.
"""
GUARDS = """\
      - id: big-order
        when: order.total > 1000 and user.role != 'admin'
        reason: Orders over 1,000 need an admin.
      - id: on-hold
        when: "'hold' in order.tags"
        reason: The order is on hold.
"""


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("matrix-facts") / "policies"
    shutil.copytree(ROOT / "policies", target, ignore=shutil.ignore_patterns("tests"))
    base = target / "order-actions.yaml"
    text = base.read_text("utf-8").replace("  user.role:\n    type: enum\n", FACTS + "  user.role:\n    type: enum\n", 1)
    anchor = "        locked: true\n    destructive: true\n    confirm: Reset"
    assert anchor in text
    base.write_text(text.replace(anchor, "        locked: true\n" + GUARDS + "    destructive: true\n    confirm: Reset"),
                    "utf-8")
    return target


def reset_states(capsys: pytest.CaptureFixture[str], policies: Path, *facts: str) -> dict[str, int]:
    """Reset's outcome -> how many combinations, from ``matrix --format json``."""
    args = [a for f in facts for a in ("--fact", f)]
    code, out, err = run_cli(capsys, "matrix", str(policies), "--format", "json", *args)
    assert (code, err) == (0, "")
    data = json.loads(out)
    states: dict[str, int] = {}
    for group in data["by_action"]["reset"]:
        states[group["state"]] = states.get(group["state"], 0) + group["count"]
    return states


def test_without_fact_values_reset_is_undecided(capsys: pytest.CaptureFixture[str], policies: Path) -> None:
    assert "undecided" in reset_states(capsys, policies)


@pytest.mark.parametrize(("total", "member_reset"), [("1500", "disabled"), ("1000", "enabled"), ("999.5", "enabled"),
                                                      ("1e4", "disabled")])
def test_a_fixed_total_decides_every_cell(capsys: pytest.CaptureFixture[str], policies: Path, total: str,
                                          member_reset: str) -> None:
    states = reset_states(capsys, policies, f"order.total={total}", "order.tags=[]")
    assert "undecided" not in states
    # and it is the member's Reset that the threshold decides
    member = reset_states(capsys, policies, f"order.total={total}", "order.tags=[]", "user.role=member",
                          "order.has_shipment=false")
    assert set(member) == {member_reset}


def test_fixed_facts_are_shown_and_leave_the_axes(capsys: pytest.CaptureFixture[str], policies: Path) -> None:
    code, out, _ = run_cli(capsys, "matrix", str(policies), "--fact", "order.total=1500", "--fact", "user.role=admin",
                           "--fact", "order.tags=[hold, vip]")
    assert code == 0
    lines = out.splitlines()
    assert "fixed (--fact): order.total = 1500, order.tags = [hold, vip], user.role = admin" in lines
    assert not any(line.startswith("held unknown") for line in lines)
    assert not any(line.strip().startswith("user.role ") for line in lines[:10])  # no longer an axis
    code, out, _ = run_cli(capsys, "matrix", str(policies), "--format", "json", "--fact", "order.total=1500",
                           "--fact", "user.role=admin", "--fact", "order.tags=[vip, hold]")
    data = json.loads(out)
    assert data["fixed"] == {"order.total": 1500, "order.tags": ["hold", "vip"], "user.role": "admin"}
    assert "user.role" not in [f["name"] for f in data["facts"]]
    assert data["held_unknown"] == []
    # on hold: Reset is disabled by the on-hold guard wherever it is not by the shipment
    reset = {g["state"] for g in data["by_action"]["reset"]}
    assert reset == {"disabled"}


def test_quoted_and_typed_values(capsys: pytest.CaptureFixture[str], policies: Path) -> None:
    # an enum value with a space, a bool, a quoted string value YAML would read as something else
    code, out, _ = run_cli(capsys, "matrix", str(policies), "--format", "json", "--fact",
                           "order.status=Partially Shipped", "--fact", "order.has_shipment=true", "--fact",
                           "store.id='no'", "--fact", "order.total=0", "--fact", "order.tags=['no']")
    assert code == 0
    assert json.loads(out)["fixed"] == {"order.status": "Partially Shipped", "order.has_shipment": True,
                                        "store.id": "no", "order.total": 0, "order.tags": ["no"]}


@pytest.mark.parametrize(("fact", "message"), [
    ("order.totl=1500", "--fact order.totl: order-actions@1 has no such fact; did you mean 'order.total'?"),
    ("order.total=abc", "--fact order.total: order.total is a number fact; 'abc' is not a number"),
    ("order.total=inf", "--fact order.total: order.total is a number fact; 'inf' is not a finite number"),
    ("user.role=Admin", "--fact user.role: 'Admin' is not a value of user.role (values: admin, member, viewer); "
                        "did you mean 'admin'?"),
    ("order.status=Clsed", "--fact order.status: 'Clsed' is not a value of order.status (values: New, Pending, "
                           "Queued, Bundled, Routed, Open, Partially Shipped, Shipped, Error, Skipped, Closed, "
                           "Abandoned, Archived); did you mean 'Closed'?"),
    ("order.has_shipment=yes", "--fact order.has_shipment: order.has_shipment is a bool fact; 'yes' is not true or "
                               "false"),
    ("order.tags=hold", "--fact order.tags: order.tags is a set fact; 'hold' is not a list of strings (write "
                        "[hold, vip], or [] for none; quote members YAML reads as something else: ['no'])"),
    ("order.tags=[no]", "--fact order.tags: order.tags is a set fact; '[no]' is not a list of strings (write "
                        "[hold, vip], or [] for none; quote members YAML reads as something else: ['no'])"),
    ("order.total", "--fact 'order.total': expected NAME=VALUE, for example --fact order.total=1500"),
])
def test_bad_facts_are_usage_errors(capsys: pytest.CaptureFixture[str], policies: Path, fact: str,
                                    message: str) -> None:
    code, out, err = run_cli(capsys, "matrix", str(policies), "--fact", fact)
    assert (code, out) == (2, "")
    assert err == f"policyengine matrix: {message}\n"


def test_a_fact_given_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str], policies: Path) -> None:
    code, _, err = run_cli(capsys, "matrix", str(policies), "--fact", "order.total=1", "--fact", "order.total=2")
    assert code == 2
    assert err == "policyengine matrix: --fact order.total: given twice\n"


def test_store_facts_are_fixed_against_the_store_policy(capsys: pytest.CaptureFixture[str], policies: Path) -> None:
    # acme declares order.channel; the base policy does not
    code, out, _ = run_cli(capsys, "matrix", str(policies), "--store", "acme", "--format", "json",
                           "--fact", "order.channel=amazon", "--fact", "order.total=5", "--fact", "order.tags=[]")
    assert code == 0
    assert json.loads(out)["fixed"]["order.channel"] == "amazon"
    code, _, err = run_cli(capsys, "matrix", str(policies), "--fact", "order.channel=amazon")
    assert code == 2 and "order-actions@1 has no such fact" in err


def test_the_python_api(policies: Path) -> None:
    engine = policyengine.load(policies)
    matrix = build_matrix(engine.policy, facts={"order.total": 2000, "order.tags": ["hold"]})
    assert matrix.fixed == (("order.total", 2000), ("order.tags", frozenset({"hold"})))
    assert matrix.held_unknown == ()
    assert all(o.state != "undecided" for c in matrix.combinations for o in c.outcomes)
    with pytest.raises(ValueError, match="not facts of order-actions@1: order.totl"):
        build_matrix(engine.policy, facts={"order.totl": 1})
    with pytest.raises(ValueError, match="order.total: expected a number, got str 'x'"):
        build_matrix(engine.policy, facts={"order.total": "x"})
