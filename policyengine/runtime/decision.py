"""Decision value objects: what the engine answers for one order. Immutable, hashable where it matters, shareable."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from ..errors import FactProblem
from .reasons import Reason, text_reason

__all__ = ["Decision", "Decisions", "Effect", "FrozenMap", "ReadOnlyDict", "ReadOnlyList", "Reason", "State"]

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


# cache_hash: decisions and effects are hashed over and over while load-time tables are built and shared
# (``shared.setdefault(decisions, decisions)``); they are immutable, so their hash is computed once.
@attrs.frozen(slots=True, cache_hash=True)
class Effect:
    """What performing an action does: facts it sets (``{"order.status": "Open"}``) and/or a host operation."""

    set: FrozenMap = attrs.field(factory=FrozenMap, converter=_frozen_map)
    operation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"set": dict(self.set), "operation": self.operation}


@attrs.frozen(slots=True, cache_hash=True)
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

    def to_dict(self, provenance: bool = True) -> dict[str, Any]:
        """``provenance=False`` leaves out ``where`` (it moves with every edit above the condition)."""
        if provenance:
            return {"kind": self.kind, "id": self.id, "where": self.where, "condition": self.text}
        return {"kind": self.kind, "id": self.id, "condition": self.text}


@attrs.frozen(slots=True, cache_hash=True)
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
    reasons_detail: tuple[Reason, ...] = ()
    """``reasons`` with their stable ids and params (see :mod:`policyengine.runtime.reasons`), as the engine built
    them. Read :attr:`reason_details`, which also covers a hand-made decision that left this empty."""

    @property
    def reason_details(self) -> tuple[Reason, ...]:
        """One :class:`Reason` (id, text, params) per entry of ``reasons``, in the same order."""
        detail = self.reasons_detail
        if len(detail) == len(self.reasons) and all(r.text == t for r, t in zip(detail, self.reasons, strict=True)):
            return detail
        return tuple(text_reason(text, self.errors) for text in self.reasons)

    @property
    def reason_ids(self) -> tuple[str, ...]:
        """The stable id of each of ``reasons``, in order: what a front end translates."""
        return tuple(r.id for r in self.reason_details)

    @property
    def visible(self) -> bool:
        return self.state != "hidden"

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"

    def to_dict(self, provenance: bool = True) -> dict[str, Any]:
        """The JSON form of one decision. ``reasons`` are the texts, ``reason_ids`` their ids (in the same order)
        and ``reasons_detail`` both with each reason's params. ``provenance=False`` leaves out the ``where``
        (``file:line:col``) of each ``source`` entry, keeping its kind, guard id and condition text."""
        details = self.reason_details
        return {
            "action": self.action,
            "label": self.label,
            "state": self.state,
            "visible": self.visible,
            "enabled": self.enabled,
            "reasons": list(self.reasons),
            "reason_ids": [r.id for r in details],
            "reasons_detail": [r.to_dict() for r in details],
            "confirm": self.confirm,
            "destructive": self.destructive,
            "effects": [e.to_dict() for e in self.effects],
            "errors": [{"fact": p.fact, "message": p.message} for p in self.errors],
            "source": [src.to_dict(provenance) for src in self.source],
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
    keys: tuple[str, ...] = attrs.field(eq=False)
    """The action ids in menu order (derived from ``index``): what iteration and ``keys()`` hand out."""

    @keys.default
    def _keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.index, key=self.index.__getitem__))


_UNSET: Any = object()


def _refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise TypeError("this JSON form is cached and shared (Decisions.to_dict); copy.deepcopy it to edit")


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes: the shared inside of a cached :meth:`Decisions.to_dict`. It is still a dict to
    ``json.dumps``, ``==`` and ``isinstance``; ``copy.deepcopy`` and pickling give plain dicts."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> Any:
        return dict, (dict(self),)

    def __copy__(self) -> dict[str, Any]:
        return dict(self)


class ReadOnlyList(list):  # type: ignore[type-arg]
    """A list that refuses changes (see :class:`ReadOnlyDict`)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> Any:
        return list, (list(self),)

    def __copy__(self) -> list[Any]:
        return list(self)


# Serialisers that print a container's type name (syrupy's amber snapshots: ``dict({...})``) must show these as the
# plain data they are, so that a snapshot of ``to_dict()`` reads (and stays) the same as one of plain dicts and lists.
ReadOnlyDict.__name__ = "dict"
ReadOnlyList.__name__ = "list"


def _frozen(value: Any) -> Any:
    """``value`` (plain JSON data) with every dict and list inside made read-only."""
    if type(value) is dict:
        return ReadOnlyDict({k: _frozen(v) for k, v in value.items()})
    if type(value) is list:
        return ReadOnlyList(_frozen(v) for v in value)
    return value


class Decisions(Mapping[str, Decision]):
    """The decisions for every action of a policy on one order: a read-only mapping in policy (menu) order.

    Reading it costs what reading a tuple costs: ``values()`` is the tuple of decisions itself, iteration runs over
    the policy's tuple of action ids, ``items()`` is a tuple of pairs built once per object (``keys()`` stays the
    usual set-like view). The engine shares
    one Decisions per outcome, so those and :meth:`to_dict` are built once and read many times.
    """

    # _decisions and _meta are always set (the generated fast path sets them without __init__); _items and _json
    # are caches, unset until first asked for
    __slots__ = ("_decisions", "_items", "_json", "_meta")
    _items: tuple[tuple[str, Decision], ...]
    _json: list[dict[str, Any]]  # the forms with and without provenance; _UNSET in a slot not built yet

    def __init__(self, decisions: tuple[Decision, ...], meta: DecisionsMeta | None = None) -> None:
        self._decisions = decisions
        self._meta = meta or DecisionsMeta({d.action: i for i, d in enumerate(decisions)}, "")

    def __getitem__(self, action: str) -> Decision:
        return self._decisions[self._meta.index[action]]

    def __reduce__(self) -> Any:
        return Decisions, (self._decisions, self._meta)  # the caches are not state: rebuilt on first need

    def get(self, action: str, default: Any = None) -> Any:
        i = self._meta.index.get(action)
        return default if i is None else self._decisions[i]

    def __contains__(self, action: object) -> bool:
        return action in self._meta.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._meta.keys)

    def __len__(self) -> int:
        return len(self._decisions)

    def values(self) -> tuple[Decision, ...]:  # type: ignore[override]
        """The decisions, in menu order: the tuple the engine built (no view object, no copy)."""
        return self._decisions

    def items(self) -> tuple[tuple[str, Decision], ...]:  # type: ignore[override]
        """``(action id, decision)`` pairs, in menu order (a tuple, built once per object)."""
        try:
            return self._items
        except AttributeError:
            self._items = items = tuple(zip(self._meta.keys, self._decisions, strict=True))
            return items

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

    def to_dict(self, provenance: bool = True) -> dict[str, Any]:
        """The JSON form, with a stable key order: ``policy``, ``store_override``, ``revision``, then ``actions``
        (a list of :meth:`Decision.to_dict`, each with its ``action`` id, in menu order), then ``errors``.

        ``provenance=False`` is the snapshot form: no ``revision`` and no ``source[].where`` (both change with any
        edit of the policy files, a comment included), the conditions' text and ids kept.

        Built once per object and cached (a Decisions is immutable, and the engine shares one per outcome), so a
        second call costs a shallow copy. Each call returns a new top-level dict (add or pop keys freely); the
        lists and dicts inside it are shared with every other caller and refuse changes (``TypeError``): they are
        :class:`ReadOnlyDict` / :class:`ReadOnlyList`, which ``json.dumps``, ``==`` and ``isinstance`` treat as
        plain dicts and lists. ``copy.deepcopy`` (or a JSON round trip) gives plain, editable data.
        """
        try:
            cached = self._json
        except AttributeError:
            cached = self._json = [_UNSET, _UNSET]
        slot = 0 if provenance else 1
        built = cached[slot]
        if built is _UNSET:
            built = cached[slot] = self._build_dict(provenance)
        return built.copy()

    def _build_dict(self, provenance: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "store_override": self.store_override}
        if provenance:
            out["revision"] = self.revision
        out["actions"] = [d.to_dict(provenance) for d in self._decisions]
        out["errors"] = [{"fact": p.fact, "message": p.message} for p in self.errors]
        return {k: _frozen(v) for k, v in out.items()}
