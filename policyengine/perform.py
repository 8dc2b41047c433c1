"""Performing an action for a host app: decide once more, refuse with a typed error, or hand back what to apply.

``engine.perform(action, order, user, confirm=...)`` is what a host's "do it" endpoint calls inside its write
transaction, with the order as it stands there (not as the menu showed it): the decision is made again, and

* an action that is not enabled raises :class:`ActionNotAllowed`, with the reasons and their stable ids;
* an action whose policy asks to confirm raises :class:`ConfirmationRequired` (the text to show) until
  ``confirm=True``;
* otherwise the result is an :class:`ActionEffects`: the ``set`` effects to write and the operations to run.

Nothing is applied here: the policy decides, the host writes (see docs/performing.md). An unknown store id is not
refused (a store without an override is normal), but :attr:`ActionEffects.store_known` says whether one matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .errors import FactProblem, PolicyError
from .runtime.decision import Decision, Effect, FrozenMap

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["ActionEffects", "ActionNotAllowed", "ActionRefused", "ConfirmationRequired", "UnknownAction", "perform",
           "store_known"]


class ActionRefused(PolicyError):
    """An action was not performed. ``action`` is its id; the subclasses say why."""

    def __init__(self, action: str, message: str) -> None:
        Exception.__init__(self, message)
        self.action = action
        self.diagnostics = ()


class UnknownAction(ActionRefused):
    """The policy deciding this order has no such action (a typo, or an action of another store's policy)."""

    def __init__(self, action: str, known: tuple[str, ...]) -> None:
        super().__init__(action, f"unknown action {action!r}; the policy's actions: {', '.join(known)}")
        self.known = known


class ActionNotAllowed(ActionRefused):
    """The action is hidden or disabled for this order and user: ``state``, ``reasons`` (the text people see),
    ``reason_ids`` (stable, for translations) and ``errors`` (bad facts, when the decision failed closed)."""

    def __init__(self, decision: Decision) -> None:
        why = " ".join(decision.reasons) or "no reason given"
        super().__init__(decision.action, f"{decision.label} is {decision.state}: {why}")
        self.decision = decision
        self.state: str = decision.state
        self.reasons: tuple[str, ...] = decision.reasons
        self.reason_ids: tuple[str, ...] = decision.reason_ids
        self.errors: tuple[FactProblem, ...] = decision.errors


class ConfirmationRequired(ActionRefused):
    """The action is enabled but the policy asks people to confirm it: show ``confirm`` and call again with
    ``confirm=True``."""

    def __init__(self, decision: Decision) -> None:
        assert decision.confirm is not None
        super().__init__(decision.action, f"{decision.label} needs confirmation: {decision.confirm}")
        self.decision = decision
        self.confirm: str = decision.confirm


@attrs.frozen(slots=True)
class ActionEffects:
    """What performing an enabled (and, when asked, confirmed) action does, for the host to apply in order."""

    action: str
    label: str
    effects: tuple[Effect, ...]
    """The policy's effects in order: each sets facts and/or names an operation."""
    policy: str
    """The base policy that decided, ``name@version``, and the store override applied (or None): for audit logs."""
    store_override: str | None
    revision: str
    store_known: bool
    """Whether the order's store id matched a store override (False also when the policy has no overrides)."""

    @property
    def operations(self) -> tuple[str, ...]:
        """The host operations to run, in order (``restart_processing``)."""
        return tuple(e.operation for e in self.effects if e.operation is not None)

    @property
    def sets(self) -> Mapping[str, Any]:
        """Every fact the action sets, by fact name (``{"order.status": "New"}``); a later effect wins."""
        out: dict[str, Any] = {}
        for effect in self.effects:
            out.update(effect.set)
        return FrozenMap(out)

    def fields(self, root: str = "order") -> dict[str, Any]:
        """The ``set`` effects on one root, by the path under it: ``{"status": "New"}`` for ``order.status``."""
        prefix = root + "."
        return {name[len(prefix):]: value for name, value in self.sets.items() if name.startswith(prefix)}


def store_known(engine: Engine, order: Any, user: Any = None) -> bool:
    """Whether ``order``'s store id (read as ``evaluate`` reads it) names one of ``engine.stores``."""
    if not engine.stores:
        return False
    store = next((f for f in engine.policy.facts if f.name == "store.id"), None)
    if store is None:
        return False
    try:
        value = engine.adapter.getter(store)(order, user)
    except Exception:  # the adapter's failure: the store is not known (evaluate fails closed on it too)
        return False
    return isinstance(value, str) and value in engine.stores


def perform(engine: Engine, action: str, order: Any, user: Any, *, confirm: bool = False) -> ActionEffects:
    """Decide ``action`` for ``order`` and ``user`` and return its effects; raise :class:`ActionRefused` (one of its
    subclasses) when it must not be performed. See the module docstring."""
    decisions = engine.evaluate(order, user)
    decision = decisions.get(action)
    if decision is None:
        raise UnknownAction(action, tuple(decisions))
    if decision.state != "enabled":
        raise ActionNotAllowed(decision)
    if decision.confirm is not None and not confirm:
        raise ConfirmationRequired(decision)
    return ActionEffects(action, decision.label, decision.effects, decisions.policy, decisions.store_override,
                         decisions.revision, store_known(engine, order, user))
