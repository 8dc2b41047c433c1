"""The complete decision matrix of the shipped policies, snapshot-tested so any behaviour change is a reviewable diff.

One file per policy that decides orders: the base policy (orders of stores without an override) and each store
override in ``policies/``, written by the public helpers ``policyengine.testing.decision_matrix`` (every
combination, impossible ones included) and ``format_matrix``. One line per action and combination of the facts
that action reads::

    order.has_shipment=true, user.role=member | reset: disabled (reset.deny.has-shipment) [order.status := New + restart_processing]

so a diff line names the combination and the action that changed. Reasons appear by their stable ids (the header
gives each id's text), effects in ``[...]``. Regenerate with ``pytest --snapshot-update`` and review the diff.

Also here: the snapshot forms do not move when a policy file changes without changing a decision (a comment), and
one changed decision is one changed line.
"""

from __future__ import annotations

import difflib
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import POLICIES, fact_space_size, store_ids, store_policy
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import policyengine
from policyengine.testing import decision_matrix, format_matrix


class TextSnapshot(SingleFileSnapshotExtension):
    """The matrix as a plain .txt file, so reviewers read it (and its diffs) as text."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


STORES = store_ids(policyengine.load(POLICIES))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _check(engine: policyengine.Engine, store: str | None) -> str:
    matrix = decision_matrix(engine, store=store, all_combinations=True)
    text = format_matrix(matrix)
    lines = _lines(text)
    assert len(lines) == len(set(lines)) == len(matrix["decisions"])
    # every action has one line per combination of the facts it reads, and no more
    policy = store_policy(engine, store)
    for action, meta in matrix["actions"].items():
        mine = [line for line in lines if line.split(": ", 1)[0].endswith(f" | {action}")]
        size = 1
        for fact in meta["reads"]:
            size *= len(matrix["axes"][fact])
        assert len(mine) == size, action
    assert fact_space_size(policy) >= 312
    assert len(text) < 60_000  # the per-combination form was 160-510 KB
    return text


def test_decision_matrix(engine: policyengine.Engine, snapshot: Any) -> None:
    """The base policy: orders of every store without an override."""
    assert _check(engine, None) == snapshot(extension_class=TextSnapshot)


@pytest.mark.parametrize("store", STORES)
def test_store_decision_matrix(engine: policyengine.Engine, snapshot: Any, store: str) -> None:
    matrix = _check(engine, store)
    assert matrix != _check(engine, None)
    assert matrix == snapshot(extension_class=TextSnapshot)


def test_every_line_agrees_with_evaluate(engine: policyengine.Engine) -> None:
    """A line stands for every combination that agrees with it on the facts its action reads."""
    matrix = decision_matrix(engine, store="acme", all_combinations=True)
    axes = matrix["axes"]
    seen = 0
    for values in itertools.product(*axes.values()):
        combo = dict(zip(axes, values, strict=True))
        facts = {name: value == "true" if value in ("true", "false") else value for name, value in combo.items()}
        decisions = policyengine.testing.decision_matrix(engine, store="acme", facts=facts)
        for action, meta in matrix["actions"].items():
            key = ", ".join(f"{name}={combo[name]}" for name in meta["reads"]) or "(any)"
            assert decisions["decisions"][f"(any) | {action}"] == matrix["decisions"][f"{key} | {action}"]
            seen += 1
        if seen > 400:  # a sample is enough: the full product is what the snapshot test covers
            break


# -- snapshot stability -----------------------------------------------------------------------------------------

SHIPPED = {"id": "o-1", "status": "Shipped", "has_shipment": True, "sent_to_warehouse": True, "channel": "amazon",
           "store": {"id": "acme", "manual_fulfillment": False}}
ADMIN = {"role": "admin"}


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("tests", "invariants"))
    return target


def test_a_comment_line_does_not_change_the_snapshot_forms(tmp_path: Path) -> None:
    before = _copy(tmp_path, "before")
    after = _copy(tmp_path, "after")
    for path in (after / "order-actions.yaml", after / "stores" / "acme.yaml"):
        path.write_text("# a comment that moves every line below it\n" + path.read_text("utf-8"), "utf-8")
    old, new = policyengine.load(before), policyengine.load(after)
    assert old.revision != new.revision
    for order in (SHIPPED, {**SHIPPED, "store": {"id": "globex", "manual_fulfillment": True}, "status": "Error"},
                  {**SHIPPED, "has_shipment": "yes"}):
        a, b = old.evaluate(order, ADMIN), new.evaluate(order, ADMIN)
        assert a.to_dict() != b.to_dict()  # revision and positions moved...
        assert a.to_dict(provenance=False) == b.to_dict(provenance=False)  # ...the snapshot form did not
        snap = a.to_dict(provenance=False)
        assert "revision" not in snap and all("where" not in s for d in snap["actions"] for s in d["source"])
        assert any(s["condition"] for d in snap["actions"] for s in d["source"])  # the conditions are kept
    for store in (None, "acme"):
        assert format_matrix(decision_matrix(old, store=store)) == format_matrix(decision_matrix(new, store=store))


def test_changing_one_decision_changes_one_line_naming_combination_and_action(tmp_path: Path) -> None:
    before = _copy(tmp_path, "before")
    after = _copy(tmp_path, "after")
    base = after / "order-actions.yaml"
    text = base.read_text("utf-8")
    # Archive is offered for every status but Archived; hide it for Closed orders too. Archive reads order.status
    # and user.role, so exactly the three (Closed, role) lines change ...
    old_visible = "visible: {when: \"order.status != 'Archived'\", reason: The order is already archived.}"
    assert old_visible in text
    base.write_text(text.replace(old_visible, "visible: {when: \"order.status != 'Archived' and order.status != "
                                              "'Closed'\", reason: The order is already archived.}"), "utf-8")
    old = format_matrix(decision_matrix(policyengine.load(before), facts={"user.role": "admin"}))
    new = format_matrix(decision_matrix(policyengine.load(after), facts={"user.role": "admin"}))
    # ... and with the role fixed, exactly one: one decision, one line, naming the combination and the action
    changed = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-order.status=Closed | archive: enabled [order.status := Archived + stop_processing]",
                       "+order.status=Closed | archive: hidden (archive.visible)"]
