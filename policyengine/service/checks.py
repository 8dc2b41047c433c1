"""Hand-written checks of the two hottest request bodies (``/v1/evaluate`` and ``/v1/evaluate/batch``; issue 24).

Each answers True only for a body its JSON Schema in :data:`~.api.SCHEMAS` accepts, and costs a few dict lookups
(a batch pair: one more), where even the compiled validator walks every keyword. False means "not sure": the
service then runs the compiled and the full validator as for every other body, so errors still name the field. The
batch check hands the pairs' (order, user) it has read to the handler, which would read them again otherwise.
The bodies are parsed JSON, so ``type(x) is dict`` is exactly the schema's ``"type": "object"``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import chain
from typing import Any

from .api import MAX_ITEMS

__all__ = ["FAST_CHECKS", "batch_ok", "batch_pairs", "evaluate_ok"]

_EVALUATE = frozenset({"order", "user", "store", "strict"})
_BATCH = frozenset({"pairs", "store", "strict"})
_PAIR = frozenset({"order", "user"})
_ORDER_USER = operator.itemgetter("order", "user")


def _options_ok(body: dict[str, Any]) -> bool:
    store = body.get("store")
    return (store is None or type(store) is str) and type(body.get("strict", False)) is bool


def evaluate_ok(body: Any) -> bool:
    """Whether ``body`` is a valid ``EvaluateRequest`` (False: unknown, ask the schema)."""
    return (type(body) is dict and type(body.get("order")) is dict and type(body.get("user")) is dict
            and body.keys() <= _EVALUATE and _options_ok(body))


def batch_pairs(body: Any) -> list[tuple[Any, Any]] | None:
    """The (order, user) of each pair when ``body`` is a valid ``BatchRequest`` (None: unknown, ask the schema)."""
    if type(body) is not dict or not body.keys() <= _BATCH or not _options_ok(body):
        return None
    pairs = body.get("pairs")
    if type(pairs) is not list or len(pairs) > MAX_ITEMS:
        return None
    # each step a loop in C (map, set): a pair costs tens of nanoseconds. Two entries, both of them found, are
    # exactly {order, user}.
    if not pairs:
        return []
    if set(map(type, pairs)) != {dict} or set(map(len, pairs)) != {2}:
        return None
    try:
        values = list(map(_ORDER_USER, pairs))
    except KeyError:
        return None
    return values if set(map(type, chain.from_iterable(values))) == {dict} else None


def batch_ok(body: Any) -> bool:
    """Whether ``body`` is a valid ``BatchRequest`` (False: unknown, ask the schema)."""
    return batch_pairs(body) is not None


def _evaluate_check(body: Any) -> bool | None:
    return True if evaluate_ok(body) else None


FAST_CHECKS: dict[str, Callable[[Any], Any]] = {"EvaluateRequest": _evaluate_check, "BatchRequest": batch_pairs}
"""Schema name -> its hand-written check: None when unsure, else what the handler may use instead of reading the body
again (``Call.prepared``: a batch's (order, user) pairs; True for an evaluate)."""
