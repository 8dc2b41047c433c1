"""Type stub of the optional C batch loop (policyengine/runtime/_batch.c)."""

from typing import Any

def lookup_all(pairs: list[Any], flat: tuple[Any, ...], paths: tuple[tuple[Any, ...], ...],
               indexes: tuple[dict[Any, int], ...], classes: tuple[type, ...],
               user: Any = ...) -> tuple[list[Any], list[int], list[Any]]:
    """The table entry of each (order, user) pair (or, given ``user``, of each order with that user) whose facts are
    all read through plain dicts and valid; None, and its index in the misses, for every other one (and in the keys,
    what the Python path decides that miss from, or None). An index may also map Ellipsis to the position of the
    fact's declared default: a key missing from a plain dict then reads as that value."""
