"""Bulk order actions: one action over many selected orders, with the others grouped by why not.

Presentation-free: :class:`BulkResult` carries indexes, ids, groups and a one-line summary; the CLI and host apps
format them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .adapters import DefaultAdapter
from .decision import Decision

try:  # the optional C batch loop (policyengine/runtime/_batch.c) also reads the default adapter's order ids
    from ._batch import order_ids as _read_ids
except ImportError:  # pragma: no cover - depends on the machine that installed the package
    _read_ids = None  # type: ignore[assignment]

__all__ = ["BulkGroup", "BulkResult", "order_ids", "summarise", "why_not"]


@attrs.frozen(slots=True)
class BulkGroup:
    """Orders the action does not apply to, for one reason: input indexes and (where known) order ids."""

    reason: str
    indexes: tuple[int, ...]
    order_ids: tuple[str | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": len(self.indexes), "indexes": list(self.indexes),
                "order_ids": list(self.order_ids)}


@attrs.frozen(slots=True)
class BulkResult:
    """The bulk menu entry for one action: which orders it applies to and, for the others, why not."""

    action: str
    label: str
    total: int
    applicable: tuple[int, ...]
    """Input indexes of the orders the action is enabled for."""
    applicable_ids: tuple[str | None, ...]
    skipped: tuple[BulkGroup, ...]
    """The other orders grouped by reason, largest group first. Orders with bad facts are here too, never acted on."""
    summary: str
    """One line a page can show: "Reset 47 of 50 orders; 3 skipped: the order already has a shipment"."""
    decisions: tuple[Decision, ...] | None = None
    """With ``bulk(..., decisions=True)``: each order's decision for the action, in input order (index ``i`` is the
    order at input index ``i``), from the same evaluation: an applicable order's ``effects`` (which may depend on
    the order, as Reprocess's do), a skipped order's reasons and their ids. None when not asked for."""

    @property
    def by_order_id(self) -> dict[str, Decision]:
        """:attr:`decisions` by order id, for the orders that have one (an id given twice keeps its first order's
        decision). Raises ``ValueError`` when the result was made without ``decisions=True``."""
        if self.decisions is None:
            raise ValueError("this BulkResult has no per-order decisions: call bulk(..., decisions=True)")
        ids = _all_ids(self)
        out: dict[str, Decision] = {}
        for order_id, decision in zip(ids, self.decisions, strict=True):
            if order_id is not None:
                out.setdefault(order_id, decision)
        return out

    def to_dict(self, provenance: bool = True) -> dict[str, Any]:
        """The JSON form; with per-order decisions, ``decisions`` lists ``{"index", "order_id", "decision"}`` in
        input order (``decision`` is :meth:`Decision.to_dict`, ``provenance=False`` leaving out positions)."""
        out = {"action": self.action, "label": self.label, "total": self.total,
               "applicable": {"count": len(self.applicable), "indexes": list(self.applicable),
                              "order_ids": list(self.applicable_ids)},
               "skipped": [g.to_dict() for g in self.skipped], "summary": self.summary}
        if self.decisions is not None:
            shared: dict[int, dict[str, Any]] = {}  # one JSON form per distinct (shared) Decision object
            ids = _all_ids(self)
            out["decisions"] = [
                {"index": i, "order_id": ids[i],
                 "decision": shared.get(id(d)) or shared.setdefault(id(d), d.to_dict(provenance))}
                for i, d in enumerate(self.decisions)]
        return out


def _all_ids(result: BulkResult) -> list[str | None]:
    """Every order's id by input index, from the applicable and skipped groups."""
    ids: list[str | None] = [None] * result.total
    for i, order_id in zip(result.applicable, result.applicable_ids, strict=True):
        ids[i] = order_id
    for group in result.skipped:
        for i, order_id in zip(group.indexes, group.order_ids, strict=True):
            ids[i] = order_id
    return ids


def order_ids(adapter: Any, orders: Sequence[Any]) -> list[str | None]:
    """Each order's id through the adapter's ``order_ids`` (or ``order_id``), where it has one; None for an order
    whose id cannot be had. A host adapter that raises, or answers with a wrong count or non-text, costs the ids
    (bulk names those orders by position), never the result."""
    if _read_ids is not None and type(orders) is list and _default_ids(adapter):
        # the default adapter's ids read in C (plain dicts with a str or int id); the rest as order_id reads them
        ids, others = _read_ids(orders)
        for i in others:
            ids[i] = adapter.order_id(orders[i])
        return ids
    many, one = getattr(adapter, "order_ids", None), getattr(adapter, "order_id", None)
    if many is not None:
        try:
            ids = list(many(orders))
        except Exception:
            ids = []
        if len(ids) == len(orders) and all(type(i) is str or i is None for i in ids):
            return ids
    if one is None:
        return [None] * len(orders)
    out: list[str | None] = []
    for order in orders:
        try:
            value = one(order)
        except Exception:
            value = None
        out.append(value if type(value) is str else None)
    return out


def _default_ids(adapter: Any) -> bool:
    """Whether ``adapter`` reads ids as :class:`~.adapters.DefaultAdapter` does (neither method replaced)."""
    cls = type(adapter)
    own = getattr(adapter, "__dict__", None) or {}
    return (getattr(cls, "order_ids", None) is DefaultAdapter.order_ids and getattr(cls, "order_id", None)
            is DefaultAdapter.order_id and "order_ids" not in own and "order_id" not in own)


def why_not(decision: Decision) -> str | None:
    """None when the action applies to the order; otherwise the one reason its bulk group is named by."""
    if decision.state == "enabled":
        return None
    if decision.errors:
        return f"could not be decided: {decision.errors[0]}"
    return decision.reasons[0] if decision.reasons else decision.state


def _phrase(reason: str) -> str:
    text = reason.rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def summarise(action: str, label: str, total: int, groups: Mapping[str | None, Sequence[int]],
              ids: Sequence[str | None]) -> BulkResult:
    """A :class:`BulkResult` from the orders' input indexes grouped by :func:`why_not` of their decision (the group
    ``None`` is the orders the action applies to), each group in input order."""
    applicable = tuple(groups.get(None, ()))
    id_of = ids.__getitem__
    skipped = tuple(BulkGroup(reason, tuple(idx), tuple(map(id_of, idx)))
                    for reason, idx in sorted(((r, i) for r, i in groups.items() if r is not None),
                                              key=lambda kv: (-len(kv[1]), kv[1][0])))
    noun = "order" if total == 1 else "orders"
    summary = f"{label} {len(applicable)} of {total} {noun}"
    summary += "".join(f"; {len(g.indexes)} skipped: {_phrase(g.reason)}" for g in skipped)
    return BulkResult(action, label, total, applicable, tuple(map(id_of, applicable)), skipped, summary)
