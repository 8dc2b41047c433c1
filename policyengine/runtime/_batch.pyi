"""Type stub of the optional C batch loop (policyengine/runtime/_batch.c)."""

from typing import Any

def lookup_all(pairs: list[Any], flat: tuple[Any, ...], paths: tuple[tuple[Any, ...], ...],
               indexes: tuple[dict[Any, int], ...], classes: tuple[type, ...],
               user: Any = ...) -> tuple[list[Any], list[int], list[Any]]:
    """The table entry of each (order, user) pair (or, given ``user``, of each order with that user) whose facts are
    all read through plain dicts and valid; None, and its index in the misses, for every other one (and in the keys,
    what the Python path decides that miss from, or None). An index may also map Ellipsis to the position of the
    fact's declared default: a key missing from a plain dict then reads as that value."""

def lookup_stores(pairs: list[Any], tables: dict[str, Any], fallback: Any, store_path: tuple[Any, ...],
                  paths: tuple[tuple[Any, ...], ...], indexes: tuple[dict[Any, int], ...], classes: tuple[type, ...],
                  user: Any, store: str | None) -> tuple[list[Any], list[int], list[Any]]:
    """:func:`lookup_all` where each pair's table is its store's: ``tables[store id]`` (a list of rows read as the
    call's paths read them, a ``(shape, rows)`` pair for a store read its own way, or None: a miss), ``fallback`` for
    a store without an entry. ``user`` None: ``pairs`` are pairs; ``store``: only pairs of that store are answered.
    A miss's key is ``(store id, key)``, or None."""

def shape(paths: tuple[tuple[Any, ...], ...], indexes: tuple[dict[Any, int], ...], classes: tuple[type, ...]) -> Any:
    """A store policy's own way of reading its facts, checked once, for its ``(shape, rows)`` entry in
    :func:`lookup_stores`' tables."""

def order_ids(orders: list[Any]) -> tuple[list[str | None], list[int]]:
    """Each plain-dict order's id as text (an exact str, or an exact int's decimal text; None without one), and the
    indexes of every other order, left to the Python path."""
