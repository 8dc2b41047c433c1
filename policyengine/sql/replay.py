"""The impact of a policy change on logged decisions: :func:`replay_log` replays a decision log's inputs.

Each decision a log record holds (``policyengine serve --decision-log``; see
:mod:`policyengine.service.decisionlog`) keeps the facts its policy read. Those facts are rebuilt into an order and
a user and decided by both engines, giving the same :class:`~policyengine.sql.impact.Impact` as the database does
(examples are request ids). A decision whose facts were masked or hashed, or that lacks a fact either side's
policy reads, cannot be replayed: it is counted, by why, never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .impact import STATES, ActionImpact, Impact, Transition, Undecided

__all__ = ["Replay", "replay_log"]

_MASKED = "[masked]"
_HASHED = re.compile(r"sha256:[0-9a-f]{64}\Z")


@attrs.frozen(slots=True)
class Replay:
    """The replayed decisions' :class:`Impact`, and the decisions left out: ``(why, count)`` pairs."""

    impact: Impact
    not_replayable: tuple[tuple[str, int], ...]

    @property
    def skipped(self) -> int:
        return sum(n for _, n in self.not_replayable)

    def to_dict(self) -> dict[str, Any]:
        return {**self.impact.to_dict(), "not_replayable": {"count": self.skipped, "why": dict(self.not_replayable)}}


def _decisions(lines: Iterable[str]) -> Iterable[tuple[str, str | None, Mapping[str, Any]]]:
    """(example id, the request's store, facts) for every decision of every record."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = json.loads(line)
        entries = record.get("decisions") or []
        name = str(record.get("request_id") or f"line {number}")
        for i, entry in enumerate(entries):
            facts = entry.get("facts")
            yield (name if len(entries) == 1 else f"{name}#{i}"), record.get("store"), facts if isinstance(facts, dict) else {}


def _specs(engine: Any, store: str | None, facts: Mapping[str, Any]) -> Sequence[Any]:
    """The facts the policy deciding this order reads (what a log keeps), and store.id when stores dispatch."""
    key = store if store is not None else facts.get("store.id")
    policy = engine.store_policy(key if isinstance(key, str) and key in engine.stores else None)
    return [f for i, f in enumerate(policy.facts) if i in policy.needed or (f.name == "store.id" and engine.stores)]


def _rebuild(specs: Iterable[Any], facts: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """(order, user) from the logged facts, or why they cannot be rebuilt."""
    order: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in facts:
            return f"the log lacks {spec.name}"
        value = facts[spec.name]
        if value == _MASKED or (isinstance(value, str) and _HASHED.match(value)):
            return f"{spec.name} is masked"
        node = user if spec.source[0] == "user" else order
        *parents, leaf = spec.source[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return order, user


def replay_log(lines: Iterable[str], old_engine: Any, new_engine: Any, *, actions: Sequence[str] | None = None,
               examples: int = 3) -> Replay:
    """Decide every logged decision's facts with both engines; see the module's documentation. ``lines`` are the
    log's JSON lines (records of any ``kind``)."""
    from .impact import _all_actions

    actions = list(actions) if actions is not None else _all_actions(new_engine, old_engine)
    skipped: dict[str, int] = {}
    moves: dict[str, dict[tuple[str, str], dict[str, Any]]] = {a: {} for a in actions}
    lost: dict[str, list[Any]] = {a: [0, []] for a in actions}
    total = 0
    for name, store, facts in _decisions(lines):
        rebuilt = _rebuild([*_specs(old_engine, store, facts), *_specs(new_engine, store, facts)], facts)
        if isinstance(rebuilt, str):
            skipped[rebuilt] = skipped.get(rebuilt, 0) + 1
            continue
        total += 1
        order, user = rebuilt
        old, new = old_engine.evaluate(order, user, store=store), new_engine.evaluate(order, user, store=store)
        shop = facts.get("store.id")
        shop_key = "" if shop is None else str(shop)
        for action in actions:
            (so, uo), (sn, un) = _state(old, action), _state(new, action)
            if so != sn:
                move = moves[action].setdefault((so, sn), {"count": 0, "stores": {}, "examples": []})
                move["count"] += 1
                move["stores"][shop_key] = move["stores"].get(shop_key, 0) + 1
                if len(move["examples"]) < examples:
                    move["examples"].append(name)
            if un and not uo:
                lost[action][0] += 1
                if len(lost[action][1]) < examples:
                    lost[action][1].append(name)
    out = []
    for action in actions:
        label = _label(new_engine, action) or _label(old_engine, action) or action
        transitions = sorted((Transition(o, n, m["count"], tuple(sorted(m["stores"].items(), key=lambda kv: (-kv[1], kv[0]))),
                                         tuple(m["examples"])) for (o, n), m in moves[action].items()),
                             key=lambda t: (-t.count, STATES.index(t.old), STATES.index(t.new)))
        out.append(ActionImpact(action, label, None, tuple(transitions), Undecided(lost[action][0], tuple(lost[action][1]))))
    return Replay(Impact(total, tuple(out)), tuple(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))))


def _state(decisions: Any, action: str) -> tuple[str, bool]:
    decision = decisions.get(action)
    if decision is None:
        return "hidden", bool(decisions.errors) and any(p.fact == "store.id" for p in decisions.errors)
    return decision.state, decision.state != "enabled" and bool(decision.errors)


def _label(engine: Any, action: str) -> str | None:
    try:
        return str(engine.action_label(action))
    except KeyError:
        return None
