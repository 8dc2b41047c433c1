"""Decision value objects: what the engine answers for one order. Immutable, hashable where it matters, shareable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from .errors import FactProblem

__all__ = ["Decision", "Decisions", "Effect", "FrozenMap", "State"]

State = Literal["enabled", "disabled", "hidden"]


class FrozenMap(Mapping[str, Any]):
    """A small immutable, hashable mapping (fact -> new value) for :attr:`Effect.set`."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple(items)
        self._items = dict(pairs)
        self._hash = hash(pairs)

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
            "effects": [e.to_dict() for e in self.effects],
            "errors": [{"fact": p.fact, "message": p.message} for p in self.errors],
        }


class Decisions(Mapping[str, Decision]):
    """The decisions for every action of a policy on one order: a read-only mapping in policy (menu) order."""

    __slots__ = ("_decisions", "_index")

    def __init__(self, decisions: tuple[Decision, ...], index: Mapping[str, int] | None = None) -> None:
        self._decisions = decisions
        self._index = index if index is not None else {d.action: i for i, d in enumerate(decisions)}

    def __getitem__(self, action: str) -> Decision:
        return self._decisions[self._index[action]]

    def __iter__(self) -> Iterator[str]:
        return (d.action for d in self._decisions)

    def __len__(self) -> int:
        return len(self._decisions)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Decisions):
            return self._decisions == other._decisions
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self._decisions)

    def __repr__(self) -> str:
        return f"Decisions({', '.join(f'{d.action}={d.state}' for d in self._decisions)})"

    @property
    def errors(self) -> tuple[FactProblem, ...]:
        """Every distinct fact problem met while deciding, in first-seen order."""
        return tuple(dict.fromkeys(p for d in self._decisions for p in d.errors))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form with a stable key order: ``{"actions": {id: decision...}, "errors": [...]}``."""
        return {
            "actions": {d.action: d.to_dict() for d in self._decisions},
            "errors": [{"fact": p.fact, "message": p.message} for p in self.errors],
        }
