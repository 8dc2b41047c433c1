"""Generated store overrides for bench/stores_bench.py and tests: the four shapes of issue 16 (a guard, a renamed
action, a hidden action, a new action), one small file per store, against ``policies/order-actions.yaml``."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "policies" / "order-actions.yaml"

STATUSES = ("New", "Pending", "Queued", "Bundled", "Routed", "Open", "Error", "Skipped", "Closed", "Abandoned")
GUARDED = ("edit", "archive", "delete", "reprocess")
HIDDEN = ("force_delete", "schedule_process", "revalidate", "archive")
RENAMED = ("archive", "edit", "reprocess", "delete")

_HEAD = """apiVersion: policyengine/v1
kind: StoreOverride
store: {store}
version: 1
base:
  policy: order-actions
  version: 1

actions:
"""


def override_text(i: int) -> str:
    """The override of store number ``i``: shape ``i % 4``, its details varied with ``i`` (a few repeat, so
    identical overrides occur, as they would in a real fleet)."""
    store = f"s{i:05d}"
    shape = i % 4
    j = i // 4
    if shape == 0:
        body = (f"  {GUARDED[j % len(GUARDED)]}:\n    deny:\n      - id: store-rule\n"
                f"        when: order.status == '{STATUSES[j % len(STATUSES)]}'\n"
                f"        reason: Store {store} does not allow this for {STATUSES[j % len(STATUSES)]} orders.\n")
    elif shape == 1:
        body = f"  {RENAMED[j % len(RENAMED)]}:\n    label: Renamed for {store}\n"
    elif shape == 2:
        body = f"  {HIDDEN[j % len(HIDDEN)]}:\n    hidden: true\n"
    else:
        body = (f"  notify_{j % 7}:\n    label: Notify warehouse ({store})\n"
                f"    visible: {{when: \"order.sent_to_warehouse\", reason: Only for orders the warehouse has.}}\n"
                f"    allow: {{when: can_act, reason: Read-only users can't change orders.}}\n"
                f"    effects:\n      - operation: notify_warehouse\n")
    return _HEAD.format(store=store) + body


def write_tree(directory: Path, count: int, *, only: int | None = None) -> Path:
    """A policy tree at ``directory``: the shipped base and ``count`` generated overrides under ``stores/`` (or,
    with ``only``, just the override of store number ``only``)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(BASE, directory / BASE.name)
    stores = directory / "stores"
    stores.mkdir(exist_ok=True)
    for i in ([only] if only is not None else range(count)):
        (stores / f"s{i:05d}.yaml").write_text(override_text(i))
    return directory
