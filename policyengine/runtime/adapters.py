"""How facts are read from the host application's objects.

An adapter turns each declared fact into a *getter*, ``getter(order, user) -> value``, once, when the engine is
built; evaluation then only calls getters. A getter signals a missing fact by raising ``KeyError``,
``AttributeError`` or ``LookupError``; any other exception is reported as the adapter failing. Either way the
engine fails closed, unless the fact declares a ``default:`` and is missing (see docs/api.md, "Bad facts at
evaluate time", and docs/host-apps.md, "Fact defaults").

The default adapter reads plain dicts (and any Mapping), attrs classes, dataclasses and other objects; the engine
inlines its reads into the generated evaluator, so they cost what ``order["status"]`` costs. A host app plugs in
its own by subclassing :class:`DefaultAdapter` and overriding :meth:`~DefaultAdapter.getter` for the facts it
computes itself, and marks the costly ones with :meth:`~DefaultAdapter.expensive`::

    class ShopAdapter(policyengine.DefaultAdapter):
        def getter(self, fact):
            if fact.name == "order.has_shipment":
                return lambda order, user: shipments.exists(order_id=order.id)
            return super().getter(fact)

        def expensive(self, fact):
            return fact.name == "order.has_shipment"   # a database query: read it only when needed

    engine = policyengine.load("policies", adapter=ShopAdapter())

An expensive fact is read lazily, only when a condition that needs it is evaluated, and the conditions of ``and`` /
``or`` are reordered so that cheap facts decide first; every fact is read at most once per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..ir.values import MISSING, safe_text
from ..pipeline.model import FactSpec

__all__ = ["Adapter", "DefaultAdapter", "Getter", "inline_path", "read_failure"]

Getter = Callable[[Any, Any], Any]
"""``getter(order, user) -> value`` for one fact."""


class Adapter(Protocol):
    """Maps each declared fact to a getter. Called once per fact when the engine is built, never per evaluation.

    Optional methods the engine uses when present: ``expensive(fact) -> bool`` (read the fact lazily, after the
    cheap ones), ``order_id(order) -> str | None`` (ids in bulk results) and ``order_ids(orders)`` (the same for
    many orders at once; bulk uses it when present).
    """

    def getter(self, fact: FactSpec) -> Getter:
        """A function reading ``fact`` from ``(order, user)``."""
        ...


def read_failure(exc: Exception) -> str:
    """What a getter's exception means for the fact: ``missing`` (a lookup failed), or the adapter failing (its
    text bounded, and never raising: an exception whose ``__str__`` raises is named by its class)."""
    if isinstance(exc, (LookupError, AttributeError)):
        return "missing"
    return f"the adapter failed: {type(exc).__name__}: {safe_text(exc)}"


def _step(obj: Any, key: str) -> Any:
    cls = type(obj)  # not obj.__class__: the object's to define (a lazy proxy's may raise)
    if cls is dict or issubclass(cls, Mapping):  # a dict first: no ABC check in the common case
        return obj[key]
    return getattr(obj, key)


def _as_id(value: Any) -> str | None:
    """An order id as text: a str as it is; anything else through ``str`` (None when that fails, or the value is
    an integer too long to print: an id is never that)."""
    if type(value) is str or value is None:
        return value
    try:
        if issubclass(type(value), int) and int.bit_length(value) > 256:
            return None
        text = str(value)
        return text if type(text) is str else None
    except Exception:
        return None


def inline_path(getter: Getter) -> tuple[str, ...] | None:
    """The source path of a default getter (``("order", "store", "id")``), which the engine may inline; None for a
    getter of the host's own."""
    path = getattr(getter, "__policyengine_path__", None)
    return tuple(path) if path is not None else None


class DefaultAdapter:
    """Reads ``fact.source`` (``("order", "store", "id")`` for ``store.id``) from dicts, Mappings and objects.

    A fact's source is its own dotted name when it starts with ``order`` or ``user``; other roots live under the
    order (``store.id`` is ``order["store"]["id"]``); a fact can name another path with ``from:``.
    """

    def getter(self, fact: FactSpec) -> Getter:
        root, *keys = fact.source
        first = 0 if root == "order" else 1
        getter: Any
        if len(keys) == 1:
            (key,) = keys

            def getter(order: Any, user: Any) -> Any:
                obj = user if first else order
                return obj[key] if obj.__class__ is dict else _step(obj, key)

        elif len(keys) == 2:
            key1, key2 = keys

            def getter(order: Any, user: Any) -> Any:
                obj = user if first else order
                mid = obj[key1] if obj.__class__ is dict else _step(obj, key1)
                return mid[key2] if mid.__class__ is dict else _step(mid, key2)

        else:

            def getter(order: Any, user: Any) -> Any:
                obj = user if first else order
                for key in keys:
                    obj = _step(obj, key)
                return obj

        getter.__policyengine_path__ = fact.source  # lets the engine inline this read into generated code
        return getter  # type: ignore[no-any-return]

    def expensive(self, fact: FactSpec) -> bool:
        """Whether reading ``fact`` is costly (a query, a remote call): such facts are read last and lazily."""
        return False

    def order_id(self, order: Any) -> str | None:
        """The order's id for bulk results (``order["id"]`` or ``order.id``), or None."""
        try:
            value = order.get("id") if type(order) is dict else _step(order, "id")
        except Exception:  # no id, or a lookup that fails in any way: the order is named by its position instead
            return None
        return _as_id(value)

    def order_ids(self, orders: Sequence[Any]) -> list[str | None]:
        """:meth:`order_id` of every order, in one pass (bulk asks it of every selected order)."""
        out: list[str | None] = []
        append = out.append
        order_id = self.order_id
        for order in orders:
            try:
                value = order.get("id") if type(order) is dict else MISSING
            except Exception:  # a key that collides with "id" and raises: order_id says None
                value = MISSING
            append(value if type(value) is str else order_id(order))
        return out
