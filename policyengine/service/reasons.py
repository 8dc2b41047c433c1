"""Reason ids: a stable, machine-readable name for each reason of a decision.

Policies give ids to deny guards only, so the other reasons get derived ids: ``allow`` (the allow condition is
false), ``visible`` (the visibility condition is false, so the action is hidden) and ``fail-closed:<fact>`` (the
action could not be decided because of that fact). A reason the policy does not know (a host adapter's own, say)
gets ``reason:<first 12 hex digits of its SHA-256>``. The whole derivation is :func:`reason_ids`, fed by the
load-time table :func:`reason_table`; once decisions carry their reasons' ids themselves, only it changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..pipeline.compiler import CompiledAction, CompiledPolicy
from ..runtime.decision import Decision
from ..runtime.interpret import ActionShape

__all__ = ["reason_ids", "reason_table"]

FAIL_CLOSED = "could not be decided: "


def reason_table(policy: CompiledPolicy) -> dict[str, dict[str, str]]:
    """For each action of ``policy``: reason text -> id (built once per engine)."""
    return {action.id: _action_reasons(action) for action in policy.actions}


def _action_reasons(action: CompiledAction) -> dict[str, str]:
    shape = ActionShape.of(action)  # the engine's own reason texts, defaults included
    texts = {guard.spec.reason: guard.spec.id for guard in reversed(action.guards)}  # a shared text: the first guard
    texts[shape.allow_reason()] = "allow"
    texts[shape.hidden.reasons[0]] = "visible"
    return texts


def reason_ids(decision: Decision, texts: Mapping[str, str]) -> tuple[str, ...]:
    """The id of each of ``decision.reasons``, in order. ``texts`` is the action's entry of :func:`reason_table`."""
    out = []
    for reason in decision.reasons:
        ident = texts.get(reason)
        if ident is None:
            problem = next((p for p in decision.errors if reason == f"{FAIL_CLOSED}{p}"), None)
            if problem is not None:
                ident = f"fail-closed:{problem.fact}"
            else:
                ident = "reason:" + hashlib.sha256(reason.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        out.append(ident)
    return tuple(out)
