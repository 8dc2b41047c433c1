"""Reason ids as the service answers them: the engine's own (:mod:`policyengine.runtime.reasons` is the one
definition; each :class:`~policyengine.Decision` carries its reasons' ids, built from the compiled policy).

This module only shapes them for the wire: ``{"id", "text", "params"}`` per reason.
"""

from __future__ import annotations

from typing import Any

from ..runtime.decision import Decision

__all__ = ["reason_ids", "reasons_json"]


def reason_ids(decision: Decision) -> tuple[str, ...]:
    """The id of each of ``decision.reasons``, in order (``Decision.reason_ids``)."""
    return decision.reason_ids


def reasons_json(decision: Decision) -> list[dict[str, Any]]:
    """Each reason of ``decision`` as the service's JSON shows it."""
    return [r.to_dict() for r in decision.reason_details]
