"""The counts-and-ids form of :func:`policyengine.sql.bulk`: :func:`bulk_counts`.

Most callers of a bulk page ask two things: how many orders each reason skips, and which orders the action applies
to. :func:`bulk_counts` answers exactly that in one pass (one hashed ``GROUP BY``, no row numbering, no sort, the
ids of the applicable rows only), where :func:`~policyengine.sql.bulk` also numbers every row and returns every
row's index and id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..runtime.bulk import _phrase
from ..runtime.plan import Failure, Problem, build_reasons, problem_text

__all__ = ["BulkCounts", "bulk_counts"]


@attrs.frozen(slots=True)
class BulkCounts:
    """How many orders the action applies to (and their ids), and how many each reason skips."""

    action: str
    label: str
    total: int
    applicable_ids: tuple[str | None, ...]
    """The ids (the id column as text) of the orders the action applies to, in no particular order."""
    skipped: tuple[tuple[str, int], ...]
    """(reason, count), the largest first (equal counts by reason), worded as :class:`~policyengine.BulkResult`'s."""

    @property
    def applicable(self) -> int:
        return len(self.applicable_ids)

    @property
    def summary(self) -> str:
        """As :attr:`BulkResult.summary <policyengine.BulkResult.summary>` (groups of equal size by reason)."""
        noun = "order" if self.total == 1 else "orders"
        text = f"{self.label} {self.applicable} of {self.total} {noun}"
        return text + "".join(f"; {n} skipped: {_phrase(reason)}" for reason, n in self.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "label": self.label, "total": self.total,
                "applicable": {"count": self.applicable, "order_ids": list(self.applicable_ids)},
                "skipped": [{"reason": r, "count": n} for r, n in self.skipped], "summary": self.summary}


def bulk_counts(connection: Connection, engine: Any, action: str, user: Any, selectable: Any, columns: Mapping[str, Any],
                id_column: Any, *, store: str | None = None) -> BulkCounts:
    """``engine.bulk(action, orders, user)``'s counts per reason and applicable ids over the rows of ``selectable``
    (as :func:`policyengine.sql.bulk` takes them), computed by the database in one pass: each row's reason is a
    CASE, the rows are grouped by it (and, for a bad fact, by the value, so that the text names it) and counted;
    only the applicable rows' ids are collected."""
    from .core import _require, _rows_of, _Translator, _with_defaults, engine_value, install, reason_codes, shown_values

    install(connection)
    plan = build_reasons(engine, action, user, store=store)
    columns = _with_defaults(plan.branches, columns)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    keys, code, failed = reason_codes(plan, translator, connection.dialect)  # the codes sql.bulk groups by
    problems = {item: n for item, n in keys.items() if isinstance(item, Problem)}
    raw_facts = sorted({p.fact.name for p in problems})
    # OFFSET 0: the row's reason is computed once, not inlined into each expression that reads it below
    inner = _rows_of(selectable, code.label("pe_code"), sa.cast(id_column, sa.Text()).label("pe_id"),
                     *(sa.type_coerce(columns[n], sa.types.NullType()).label(f"pe_raw_{i}") for i, n in enumerate(raw_facts)),
                     *([failed.label("pe_failed")] if failed is not None else [])).offset(0).subquery()
    shown = shown_values(inner, raw_facts, problems, failed is not None)  # as sql.bulk groups them
    postgres = connection.dialect.name == "postgresql"
    collect = sa.func.array_agg(inner.c.pe_id) if postgres else sa.func.json_group_array(inner.c.pe_id)
    query = sa.select(inner.c.pe_code, *shown, sa.func.count(), collect.filter(inner.c.pe_code == 0)) \
        .group_by(inner.c.pe_code, *shown)
    names = {n: item for item, n in keys.items()}
    specs = engine.declared_facts()
    counts: dict[str, int] = {}
    ids: list[str | None] = []
    total = 0
    for row in connection.execute(query):
        item = names[row[0]]
        total += row[-2]
        if item is None:
            ids.extend(row[-1] if postgres else json.loads(row[-1]))
            continue
        if isinstance(item, Problem):
            name = item.fact.name
            item = problem_text(item, engine_value(specs.get(name), row[1 + raw_facts.index(name)]))
        elif isinstance(item, Failure):
            item = item.prefix + row[1 + len(raw_facts)]
        counts[item] = counts.get(item, 0) + row[-2]  # two outcomes may share one text
    skipped = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return BulkCounts(action, plan.label, total, tuple(ids), skipped)
