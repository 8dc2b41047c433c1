"""Reason ids: the one definition of the stable, machine-readable name of every reason a decision can give.

A front end translates a reason by its id (and fills in its ``params``), never by its text. The ids come from the
compiled policy (action ids, guard ids) and from what the engine knows when it fails closed, never from parsing
the text:

=====================================  ==========================================================================
id                                     the reason
=====================================  ==========================================================================
``<action>.visible``                   the action's ``visible`` condition is false: it is hidden
``<action>.allow``                     the action's ``allow`` condition is false: it is disabled
``<action>.deny.<guard>``              the deny guard ``<guard>`` of the action fired: it is disabled
``fact-problem``                       a fact it needs is bad (missing, wrong type, failed to read, or a condition
                                       reading it failed); ``params``: ``fact``, ``message``
``store-undecided``                    the order's store could not be determined, so every action is hidden;
                                       ``params``: ``fact`` (``store.id``), ``message``
``store-mismatch``                     the host asked for one store (``store=``, the service's ``"store"``, the
                                       CLI's ``--store``) and the order's ``store.id`` names another: every action
                                       is hidden; ``params``: ``fact`` (``store.id``), ``message``
``not-offered``                        (bulk) the action does not exist in the policy of the order's store;
                                       ``params``: ``store`` (or None)
``reason:<12 hex digits>``             a reason the engine did not build (a hand-made :class:`Decision`): the
                                       first 12 hex digits of its text's SHA-256
=====================================  ==========================================================================

Every id built from a policy also has ``params["action"]`` (and ``params["guard"]`` for a guard).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import FactProblem

__all__ = ["FACT_PROBLEM", "NOT_OFFERED", "STORE_MISMATCH", "STORE_UNDECIDED", "FAIL_CLOSED", "Reason",
           "allow_reason", "fact_reason", "guard_reason", "not_offered_reason", "store_mismatch_problem",
           "store_mismatch_reason", "store_reason", "text_reason", "visible_reason"]

FACT_PROBLEM = "fact-problem"
STORE_UNDECIDED = "store-undecided"
NOT_OFFERED = "not-offered"
STORE_MISMATCH = "store-mismatch"
FAIL_CLOSED = "could not be decided: "
"""The text every fail-closed reason starts with."""


def _params(value: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    return tuple(value.items()) if isinstance(value, Mapping) else tuple(value)


@attrs.frozen(slots=True, cache_hash=True)
class Reason:
    """One reason of a decision: its stable ``id``, its ``text`` (the policy's wording) and the ``params`` a
    translation fills in (``{"action": "reset", "guard": "has-shipment"}``, ``{"fact": ..., "message": ...}``)."""

    id: str
    text: str
    params: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_params)
    """``(name, value)`` pairs, in a fixed order (a tuple, so the reason stays hashable)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "params": dict(self.params)}


def visible_reason(action: str, text: str) -> Reason:
    """The action is hidden because its visibility condition is false."""
    return Reason(f"{action}.visible", text, (("action", action),))


def allow_reason(action: str, text: str) -> Reason:
    """The action is disabled because its allow condition is false."""
    return Reason(f"{action}.allow", text, (("action", action),))


def guard_reason(action: str, guard: str, text: str) -> Reason:
    """The action is disabled because its deny guard ``guard`` fired."""
    return Reason(f"{action}.deny.{guard}", text, (("action", action), ("guard", guard)))


def fact_reason(problem: FactProblem) -> Reason:
    """The action could not be decided (fails closed) because of a bad fact."""
    return Reason(FACT_PROBLEM, f"{FAIL_CLOSED}{problem}", (("fact", problem.fact), ("message", problem.message)))


def store_reason(problem: FactProblem) -> Reason:
    """No action could be decided because the order's store could not be determined."""
    return Reason(STORE_UNDECIDED, f"{FAIL_CLOSED}{problem}", (("fact", problem.fact), ("message", problem.message)))


def store_mismatch_problem(store: str) -> FactProblem:
    """The problem of an order whose good ``store.id`` is not ``store``, the store the host asked for: one text
    per store (not per order), so that bulk groups, and a plan's reasons name, all such orders alike."""
    from ..ir.values import describe  # here: values is a leaf of the runtime, reasons is read by everything

    return FactProblem("store.id", f"not the store asked for ({describe(store)})")


def store_mismatch_reason(problem: FactProblem) -> Reason:
    """No action could be decided because the store asked for is not the order's own (``store.id``): the store's
    policy was proved for that store's orders only."""
    return Reason(STORE_MISMATCH, f"{FAIL_CLOSED}{problem}", (("fact", problem.fact), ("message", problem.message)))


def not_offered_reason(store: str | None, text: str) -> Reason:
    """(bulk) The action is not in the policy of the order's store."""
    return Reason(NOT_OFFERED, text, (("store", store),))


def text_reason(text: str, errors: tuple[FactProblem, ...] = ()) -> Reason:
    """The reason of a text the engine did not pair with an id itself (a hand-made decision): a fail-closed text
    naming one of ``errors`` is a ``fact-problem``; anything else is ``reason:<digest of the text>``."""
    for problem in errors:
        if text == f"{FAIL_CLOSED}{problem}":
            return fact_reason(problem)
    return Reason("reason:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12], text)
