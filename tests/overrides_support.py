"""Helpers shared by the store-override, version and bulk tests (tests/test_overrides.py, test_versions.py,
test_bulk.py): policy directories built in ``tmp_path``, StoreOverride documents, orders, and source positions.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies"
SHIPPED_BASE = SHIPPED / "order-actions.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden" / "overrides"
BASE = GOLDEN / "order-actions.yaml"
"""A frozen copy of the shipped base policy (order-actions@1): positions asserted against it stay put when the
product team edits policies/order-actions.yaml."""
BASE_TEXT = BASE.read_text("utf-8")

BASE_ACTIONS = ("reprocess", "edit", "reset", "archive", "delete", "force_delete", "schedule_process", "revalidate")

HAS_SHIPMENT = "The order already has a shipment; resetting would re-process an order the warehouse has already worked."
SENT = "The order was already sent to the warehouse; archive it first."
READ_ONLY = "Read-only users can't change orders."
ADMINS_ONLY = "Only account admins can force-delete orders."


def override(store: str, body: str = "", *, version: int = 1, based_on: int = 1, pin: int | None = None,
             compatible: tuple[int, ...] = (), policy: str = "order-actions") -> str:
    """A StoreOverride document for ``store`` with ``body`` (YAML text: facts, conditions, actions) appended."""
    base = [f"  policy: {policy}", f"  version: {based_on}"]
    if compatible:
        base.append(f"  compatible: [{', '.join(map(str, compatible))}]")
    if pin is not None:
        base.append(f"  pin: {pin}")
    head = ["apiVersion: policyengine/v1", "kind: StoreOverride", f"store: {store}", f"version: {version}", "base:",
            *base]
    return "\n".join(head) + "\n" + body.strip("\n") + ("\n" if body.strip() else "")


def base_version(version: int, *, text: str = BASE_TEXT, replace: Mapping[str, str] | None = None) -> str:
    """The frozen base policy as version ``version``, with each ``old -> new`` text replacement applied (each ``old``
    must occur exactly once, so a stale test fails loudly rather than testing nothing)."""
    assert text.count("\nversion: 1\n") == 1
    text = text.replace("\nversion: 1\n", f"\nversion: {version}\n")
    for old, new in (replace or {}).items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def write_tree(root: Path, files: Mapping[str, str | Path]) -> Path:
    """Write ``files`` (relative path -> text, or a file to copy) under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def make_order(status: str = "Error", *, store: Any = "acme", has_shipment: Any = False,
               sent_to_warehouse: Any = False, manual_fulfillment: Any = True, order_id: Any = None,
               **extra: Any) -> dict[str, Any]:
    """An order as a plain dict; ``extra`` adds top-level order fields (``channel="amazon"``)."""
    order: dict[str, Any] = {"status": status, "has_shipment": has_shipment, "sent_to_warehouse": sent_to_warehouse,
                             "store": {"id": store, "manual_fulfillment": manual_fulfillment}, **extra}
    if order_id is not None:
        order["id"] = order_id
    return order


def where(file: str, text: str, needle: str, *, after: str | None = None) -> str:
    """``file:line:col`` of the first ``needle`` in ``text`` (after the first ``after``, when given): the position
    the engine reports for a condition written there."""
    start = text.index(after) + len(after) if after is not None else 0
    index = text.index(needle, start)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{file}:{line}:{column}"


def policy_tree(tmp_path: Path, monkeypatch: Any, files: Mapping[str, str | Path]) -> str:
    """Write the policy directory ``p`` under ``tmp_path`` and chdir there, so diagnostics name ``p/<file>``."""
    write_tree(tmp_path / "p", files)
    monkeypatch.chdir(tmp_path)
    return "p"
