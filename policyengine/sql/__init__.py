"""Query plans in the database, on SQLAlchemy 2 Core (``pip install policyengine[sql]``): SQLite and PostgreSQL.

* :func:`where` turns an :meth:`Engine.plan <policyengine.Engine.plan>` into a boolean SQL expression;
* :func:`reason` is a SQL expression giving each row's bulk reason (NULL where the action applies);
* :func:`bulk` computes :meth:`Engine.bulk <policyengine.Engine.bulk>`'s :class:`~policyengine.BulkResult` in the
  database: one ``GROUP BY`` query, counts, reasons, row indexes and ids aggregated per group;
* :func:`fetch_orders` reads the rows as the orders ``evaluate`` sees (what the others are exact against).

``columns`` maps fact names (``"order.status"``, ``"store.manual_fulfillment"``...) to column expressions, so facts
may live in joined tables. How facts are stored (docs/plans.md): bool as BOOLEAN (SQLite: the integers 0 and 1),
enum and string as text, number as NUMERIC (exact decimals in PostgreSQL), set as ``text[]`` in PostgreSQL and as
a JSON array of strings in SQLite. Anything else in a column (NULL, an undeclared enum value, a wrong type where
SQLite allows one) is a bad fact, and the SQL fails closed exactly as ``evaluate`` does.
"""

from __future__ import annotations

from .core import Columns, ColumnTypeError, StoreFailsClosedWarning, bulk, engine_value, fetch_orders, install, reason, where
from .counts import BulkCounts, bulk_counts
from .impact import ActionImpact, Impact, Transition, Undecided, impact
from .replay import Replay, replay_log

__all__ = ["ActionImpact", "BulkCounts", "ColumnTypeError", "Columns", "Impact", "Replay", "StoreFailsClosedWarning",
           "Transition", "Undecided", "bulk", "bulk_counts", "engine_value", "fetch_orders", "impact", "install", "reason",
           "replay_log", "where"]
