"""``make demo``'s database part: a small SQLite database of example orders, and bulk actions computed by it.

Builds ``.venv/demo-orders.sqlite`` (tables ``stores`` and ``orders``: the facts live in two joined tables), then
asks the database, through :mod:`policyengine.sql`, which orders Reset and Archive apply to for a member, and why not
for the others; and checks the answer equals ``engine.bulk`` over the same rows read into Python.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

import policyengine
from policyengine import sql

ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / ".venv" / "demo-orders.sqlite"

metadata = sa.MetaData()
stores = sa.Table("stores", metadata, sa.Column("id", sa.Text, primary_key=True),
                  sa.Column("manual_fulfillment", sa.Boolean))
orders = sa.Table("orders", metadata, sa.Column("id", sa.Text, primary_key=True),
                  sa.Column("store_id", sa.Text, sa.ForeignKey("stores.id")), sa.Column("status", sa.Text),
                  sa.Column("has_shipment", sa.Boolean), sa.Column("sent_to_warehouse", sa.Boolean),
                  sa.Column("channel", sa.Text))
COLUMNS = {"order.status": orders.c.status, "order.has_shipment": orders.c.has_shipment,
           "order.sent_to_warehouse": orders.c.sent_to_warehouse, "order.channel": orders.c.channel,
           "store.id": stores.c.id, "store.manual_fulfillment": stores.c.manual_fulfillment}
SELECTION = orders.join(stores, orders.c.store_id == stores.c.id)


def example_orders() -> list[dict[str, object]]:
    """50 orders of three stores, the page's selection "all orders of the week": most waiting, some shipped."""
    statuses = ["Error", "New", "Open", "Shipped", "Pending", "Error", "Queued", "Partially Shipped", "Open", "Error"]
    rows = []
    for i in range(50):
        status = statuses[i % len(statuses)]
        shipped = status in ("Shipped", "Partially Shipped")
        rows.append({"id": f"SO-{1001 + i}", "store_id": ("acme", "globex", "no-override-store")[i % 3], "status": status,
                     "has_shipment": shipped, "sent_to_warehouse": shipped or status == "Open",
                     "channel": "amazon" if i % 7 == 0 else "shopify"})
    rows[-1]["status"] = "Weird"  # one bad row: skipped, never acted on
    return rows


def main() -> int:
    engine = policyengine.load(ROOT / "policies")
    DATABASE.unlink(missing_ok=True)
    database = sa.create_engine(f"sqlite:///{DATABASE}")
    with database.begin() as conn:
        metadata.create_all(conn)
        conn.execute(sa.insert(stores), [{"id": "acme", "manual_fulfillment": False},
                                         {"id": "globex", "manual_fulfillment": False},
                                         {"id": "no-override-store", "manual_fulfillment": True}])
        conn.execute(sa.insert(orders), example_orders())
    print(f"\n== bulk actions computed by the database ({DATABASE.relative_to(ROOT)}: 50 orders, 3 stores)")
    user = {"role": "member"}
    with database.connect() as conn:
        for action in ("reset", "archive"):
            result = sql.bulk(conn, engine, action, user, SELECTION, COLUMNS, orders.c.id)
            print(result.summary)
            same = result == engine.bulk(action, sql.fetch_orders(conn, engine, SELECTION, COLUMNS, orders.c.id), user)
            print(f"  (identical to engine.bulk over the same rows: {'yes' if same else 'NO'})")
            if not same:
                return 1
        plan = engine.plan("reset", user)
        query = sa.select(orders.c.id).select_from(SELECTION).where(sql.where(plan, COLUMNS)).order_by(orders.c.id)
        ids = [row[0] for row in conn.execute(query)]
        print(f"Orders Reset applies to, selected by the plan's WHERE clause: {len(ids)} ({', '.join(ids[:4])}, ...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
