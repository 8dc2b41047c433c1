"""Load-time preparations for presenting and logging one engine's decisions (built before the engine serves).

An :class:`EngineView` knows, for every policy an engine may decide with (each base version, each store's merged
policy), the getters of the facts the policy reads (for decision
logs, already sorted into kept, masked and hashed). It renders a :class:`~policyengine.Decisions` as the service's
JSON menu, and remembers the bytes of each shared Decisions object, so that answering the same outcome again is a
dict lookup (a batch's answers are looked up in C: ``map`` over the results' ids): the engine shares one Decisions
per outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..engine import Engine
from ..errors import json_path
from ..pipeline.compiler import CompiledPolicy
from ..pipeline.model import STORE_FACT
from ..runtime.decision import Decision, Decisions
from .reasons import reasons_json

if TYPE_CHECKING:
    from .decisionlog import DecisionLog

__all__ = ["EngineView", "dumps", "jsonable"]

_CACHE_LIMIT = 4096
PolicyKey = tuple[str, "str | None"]


def dumps(value: Any) -> bytes:
    """Compact JSON, ASCII-only (so any string, even a lone surrogate from the input, encodes)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def jsonable(value: Any) -> Any:
    """A fact value as JSON: sets as sorted lists, anything unknown as its ``str``."""
    if value is None or value.__class__ in (str, bool, int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=lambda v: (str(type(v)), str(v)))
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _problems(decision: Decision | Decisions) -> list[dict[str, str]]:
    return [{"fact": p.fact, "message": p.message} for p in decision.errors]


class EngineView:
    """What the service and the decision log need of one engine, computed once when it loads."""

    __slots__ = ("engine", "fact_fields", "store_getter", "_facts", "_json", "_held")

    def __init__(self, engine: Engine, log: DecisionLog | None = None) -> None:
        self.engine = engine
        policies = self.policies()
        self.fact_fields = {f.name: json_path(f.source) for policy in policies.values() for f in policy.facts}
        """Fact name -> the JSON path it is read from (``$.order.store.id``), to name the field of a bad fact."""
        store = next((f for f in engine.policy.facts if f.name == STORE_FACT), None)
        self.store_getter = engine.adapter.getter(store) if store is not None and engine.stores else None
        """How ``evaluate`` reads an order's store id (None: the set has no store overrides)."""
        self._facts: dict[PolicyKey, list[tuple[str, Callable[[Any, Any], Any], Callable[[Any], Any] | None]]] = {}
        if log is not None:
            expensive = getattr(engine.adapter, "expensive", None)
            for key, policy in policies.items():
                # the store's id is read too, to choose the store's policy
                facts = [f for i, f in enumerate(policy.facts) if i in policy.needed
                         or (f.name == STORE_FACT and engine.stores)]
                # a fact the adapter calls expensive (a query, say) is not read a second time just for the log
                self._facts[key] = [(f.name, engine.adapter.getter(f), log.redaction(f.name)) for f in facts
                                    if not (expensive is not None and expensive(f))]
        # the bytes of each Decisions answered so far, by id; _held keeps each of those objects alive, so an id
        # found in _json is the id of that very object (no other live object can have it)
        self._json: dict[int, bytes] = {}
        self._held: dict[int, Decisions] = {}

    def policies(self) -> dict[PolicyKey, CompiledPolicy]:
        """Every policy the engine decides with, by ``(Decisions.policy, Decisions.store_override)``."""
        out: dict[PolicyKey, CompiledPolicy] = {}
        for version in self.engine.versions:
            policy = self.engine.version_policy(version)
            out[(policy.spec.label, None)] = policy
        for store in self.engine.stores:
            sp = self.engine.store_override(store)
            if sp is not None:
                out[(sp.policy.spec.label, sp.override.label)] = sp.policy
        return out

    @staticmethod
    def reason_ids(decisions: Decisions, decision: Decision) -> tuple[str, ...]:
        """The ids of ``decision``'s reasons: the engine's own (``Decision.reason_ids``)."""
        return decision.reason_ids

    # -- the service's JSON menu ------------------------------------------------------------------------------
    def action(self, decisions: Decisions, decision: Decision) -> dict[str, Any]:
        return {
            "id": decision.action,
            "label": decision.label,
            "state": decision.state,
            "reasons": reasons_json(decision),
            "confirm": decision.confirm,
            "destructive": decision.destructive,
            "effects": [e.to_dict() for e in decision.effects],
            "errors": _problems(decision),
        }

    def menu(self, decisions: Decisions) -> dict[str, Any]:
        """One order's decisions as the service answers them: provenance, then ``actions`` in menu order."""
        return {
            "policy": decisions.policy,
            "store_override": decisions.store_override,
            "revision": decisions.revision,
            "actions": [self.action(decisions, d) for d in decisions.values()],
            "errors": _problems(decisions),
        }

    def menu_json(self, decisions: Decisions) -> bytes:
        """:meth:`menu` as JSON bytes, remembered per Decisions object (the memory is bounded)."""
        data = self._json.get(id(decisions))
        return data if data is not None else self._remember(decisions)

    def menus_json(self, results: Sequence[Decisions]) -> list[bytes]:
        """:meth:`menu_json` of each of ``results``; when all are remembered, without a Python call per result."""
        out = list(map(self._json.get, map(id, results)))
        return out if None not in out else [self.menu_json(r) for r in results]  # type: ignore[return-value]

    def _remember(self, decisions: Decisions) -> bytes:
        if len(self._json) >= _CACHE_LIMIT:
            self._json, self._held = {}, {}
        data = self._json[id(decisions)] = dumps(self.menu(decisions))
        self._held[id(decisions)] = decisions
        return data

    # -- decision logs ----------------------------------------------------------------------------------------
    def facts(self, decisions: Decisions, order: Any, user: Any) -> dict[str, Any]:
        """The facts the deciding policy reads, as the log shows them (masked or hashed where configured); facts
        that cannot be read are left out (the decisions' errors say why)."""
        out = {}
        for name, getter, redact in self._facts.get((decisions.policy, decisions.store_override), ()):
            try:
                value = getter(order, user)
            except Exception:  # noqa: BLE001 - a missing or failing fact is in decisions.errors already
                continue
            out[name] = jsonable(value) if redact is None else redact(value)
        return out
