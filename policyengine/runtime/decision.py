"""Decision value objects: what the engine answers for one order. Immutable, hashable where it matters, shareable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from ..errors import FactProblem

__all__ = ["Decision", "Decisions", "Effect", "FrozenMap", "State"]

State = Literal["enabled", "disabled", "hidden"]


class FrozenMap(Mapping[str, Any]):
    """A small immutable, hashable mapping (fact -> new value) for :attr:`Effect.set`."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple(items)
        self._items = dict(pairs)
        self._hash = hash(frozenset(pairs))  # equal mappings hash alike, whatever their order

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


def _frozen_map(value: Any) -> FrozenMap:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


@attrs.frozen(slots=True)
class Effect:
    """What performing an action does: facts it sets (``{"order.status": "Open"}``) and/or a host operation."""

    set: FrozenMap = attrs.field(factory=FrozenMap, converter=_frozen_map)
    operation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"set": dict(self.set), "operation": self.operation}


@attrs.frozen(slots=True)
class Source:
    """A condition that determined a decision's state, and where it is written (provenance for audits).

    ``kind`` is ``visible`` (it hid the action), ``allow`` (it allowed it, or its being false disabled it) or
    ``guard`` (a deny guard, ``id`` its guard id, that disabled it).
    """

    kind: str
    id: str | None
    where: str
    """``file:line:col`` of the condition: in the base policy, or in the store override that changed it."""
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "where": self.where, "condition": self.text}


@attrs.frozen(slots=True)
class Decision:
    """The decision for one action on one order.

    ``reasons`` say why the action is disabled or hidden (empty when enabled); ``errors`` list the fact problems
    met while deciding (empty normally; an action is never enabled because of one).
    """

    action: str
    label: str
    state: State
    reasons: tuple[str, ...] = ()
    confirm: str | None = None
    effects: tuple[Effect, ...] = ()
    errors: tuple[FactProblem, ...] = ()
    source: tuple[Source, ...] = ()
    """The conditions that determined ``state``: the visibility that hid it, the guards or the allow condition
    that disabled it, or the allow condition that enabled it."""
    destructive: bool = False
    """The policy marks the action as destructive (it loses data or cannot be undone; it has a ``confirm``)."""

    @property
    def visible(self) -> bool:
        return self.state != "hidden"

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "label": self.label,
            "state": self.state,
            "visible": self.visible,
            "enabled": self.enabled,
            "reasons": list(self.reasons),
            "confirm": self.confirm,
            "destructive": self.destructive,
            "effects": [e.to_dict() for e in self.effects],
            "errors": [{"fact": p.fact, "message": p.message} for p in self.errors],
            "source": [src.to_dict() for src in self.source],
        }


@attrs.frozen(slots=True)
class DecisionsMeta:
    """What is shared by every :class:`Decisions` of one (policy version, store override): built once per engine."""

    index: Mapping[str, int]
    policy: str
    """The base policy that decided, as ``name@version``."""
    store_override: str | None = None
    """The store override applied, as ``store@version``, or None."""
    revision: str = ""
    """The content hash of the loaded policy set (``Engine.revision``)."""


class Decisions(Mapping[str, Decision]):
    """The decisions for every action of a policy on one order: a read-only mapping in policy (menu) order."""

    __slots__ = ("_decisions", "_meta")

    def __init__(self, decisions: tuple[Decision, ...], meta: DecisionsMeta | None = None) -> None:
        self._decisions = decisions
        self._meta = meta or DecisionsMeta({d.action: i for i, d in enumerate(decisions)}, "")

    def __getitem__(self, action: str) -> Decision:
        return self._decisions[self._meta.index[action]]

    @property
    def policy(self) -> str:
        """Which base policy decided, as ``name@version``."""
        return self._meta.policy

    @property
    def store_override(self) -> str | None:
        """Which store override was applied, as ``store@version`` (None for the base policy)."""
        return self._meta.store_override

    @property
    def revision(self) -> str:
        """The content hash of the loaded policy set, for audit logs."""
        return self._meta.revision

    def __iter__(self) -> Iterator[str]:
        return (d.action for d in self._decisions)

    def __len__(self) -> int:
        return len(self._decisions)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Decisions):
            return self._decisions == other._decisions and self._meta == other._meta
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash((self._decisions, self._meta.policy, self._meta.store_override))

    def __repr__(self) -> str:
        return f"Decisions({', '.join(f'{d.action}={d.state}' for d in self._decisions)})"

    @property
    def errors(self) -> tuple[FactProblem, ...]:
        """Every distinct fact problem met while deciding, in first-seen order."""
        return tuple(dict.fromkeys(p for d in self._decisions for p in d.errors))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form with a stable key order: provenance, then ``actions`` (id -> decision), then
        ``errors``."""
        return {
            "policy": self.policy,
            "store_override": self.store_override,
            "revision": self.revision,
            "actions": {d.action: d.to_dict() for d in self._decisions},
            "errors": [{"fact": p.fact, "message": p.message} for p in self.errors],
        }
