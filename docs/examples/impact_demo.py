"""docs/impact.md's example: a small SQLite database of orders (``impact-orders.sqlite``) and a changed copy of
the shipped policies (``policies-new/``), both written into the current directory.

The change: Delete is allowed for Error orders even when they were sent to the warehouse, Archive is hidden for
Closed orders, Edit now refuses orders with a shipment (and so reads ``order.has_shipment``, NULL on two rows),
and globex's store override is dropped.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

STATUSES = ["Error", "New", "Open", "Shipped", "Closed", "Error", "Queued", "Partially Shipped", "Open", "Error"]


def orders() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i in range(60):
        status = STATUSES[i % len(STATUSES)]
        shipped = status in ("Shipped", "Partially Shipped")
        store = ("acme", "globex", "initech")[i % 3]
        has_shipment = None if i in (11, 45) else shipped  # two rows the warehouse never reported on
        rows.append((f"SO-{1001 + i}", status, has_shipment, shipped or status in ("Open", "Error", "Closed"),
                     "amazon" if i % 7 == 0 else "shopify", store, store == "initech"))
    return rows


def change(policies: Path, new: Path) -> None:
    """Write the changed copy of ``policies`` to ``new``."""
    shutil.rmtree(new, ignore_errors=True)
    shutil.copytree(policies, new, ignore=shutil.ignore_patterns("tests", "invariants"))
    base = new / "order-actions.yaml"
    text = base.read_text()
    text = text.replace("        when: order.sent_to_warehouse\n",
                        "        when: order.sent_to_warehouse and order.status != 'Error'\n", 1)
    text = text.replace("visible: {when: \"order.status != 'Archived'\"",
                        "visible: {when: \"order.status not in ['Archived', 'Closed']\"")
    text = text.replace("      - operation: open_edit_form\n", "      - operation: open_edit_form\n"
                        "    deny:\n      - id: shipped-edit\n        when: order.has_shipment\n"
                        "        reason: Shipped orders are not edited.\n", 1)
    base.write_text(text)
    (new / "stores" / "globex.yaml").unlink()


def main() -> None:
    database = Path("impact-orders.sqlite")
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT, has_shipment BOOLEAN, "
                     "sent_to_warehouse BOOLEAN, channel TEXT, store_id TEXT, store_manual_fulfillment BOOLEAN)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", orders())
    change(Path("policies"), Path("policies-new"))
    print(f"wrote {database} (60 orders) and policies-new/")


if __name__ == "__main__":
    main()
