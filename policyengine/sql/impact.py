"""The impact of a policy change on real orders, counted by the database: :func:`impact`.

For every action (and, where profiles get different answers, for every named user profile), one query makes one
pass over the rows: it groups them by the facts either side reads (and the store), counting each combination and
keeping its smallest id. A row's state is a function of those facts, so each side's CASE (over the reasons ``bulk``
groups by, and the plan of the visible state) then runs once per combination; the combinations are summed by old
state, new state and store. Stores with overrides follow their own policy on each side (the plans dispatch on
``store.id``). Examples are the smallest ids of the moving combinations: one per combination, smallest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..runtime.plan import FALSE, TRUE, Failure, Problem, Reason, build_reasons
from ..runtime.reasons import FAIL_CLOSED

__all__ = ["STATES", "ActionImpact", "Impact", "Transition", "Undecided", "impact", "parse_change"]

STATES = ("enabled", "disabled", "hidden")
_APPLIES, _DECIDED, _UNDECIDED = 0, 1, 2


@attrs.frozen(slots=True)
class Transition:
    """Orders whose state moves ``old`` -> ``new``: how many, by store (``""``: a NULL store id), and example ids
    (the smallest of each combination of the facts read, smallest first)."""

    old: str
    new: str
    count: int
    stores: tuple[tuple[str, int], ...]
    examples: tuple[str, ...]

    @property
    def kind(self) -> str:
        return f"{self.old}->{self.new}"

    @property
    def widens(self) -> bool:
        """The new policy enables what the old one did not."""
        return self.new == "enabled"

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new, "count": self.count, "stores": dict(self.stores),
                "examples": list(self.examples)}


@attrs.frozen(slots=True)
class Undecided:
    """Orders the old policy decided and the new one cannot (a bad fact the new policy reads, a failed
    computation): they fail closed, never enabled."""

    count: int
    examples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": list(self.examples)}


@attrs.frozen(slots=True)
class ActionImpact:
    """One action's changes (``profile``: the user profile it was answered for; None when no user changes it)."""

    action: str
    label: str
    profile: str | None
    transitions: tuple[Transition, ...]
    undecided: Undecided

    @property
    def changed(self) -> int:
        return sum(t.count for t in self.transitions)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "label": self.label, "profile": self.profile,
                "transitions": [t.to_dict() for t in self.transitions], "undecided": self.undecided.to_dict()}


@attrs.frozen(slots=True)
class Impact:
    """What a change does to the selected orders: ``total`` rows, and per action its transitions."""

    total: int
    actions: tuple[ActionImpact, ...]

    def widens(self) -> bool:
        """Some transition enables an action where the old policy did not."""
        return any(t.widens for a in self.actions for t in a.transitions)

    def matches(self, change: str) -> list[str]:
        """Where ``change`` happens (``widen``, ``undecided`` or a transition such as ``hidden->enabled``), as
        ``action[/profile]: what (count)`` lines; empty when it does not."""
        old, new = parse_change(change) if change not in ("widen", "undecided") else (None, None)
        out = []
        for a in self.actions:
            name = a.action + (f" ({a.profile})" if a.profile is not None else "")
            if change == "undecided":
                if a.undecided.count:
                    out.append(f"{name}: decided->undecided ({a.undecided.count})")
                continue
            for t in a.transitions:
                if (t.widens if change == "widen" else (t.old, t.new) == (old, new)):
                    out.append(f"{name}: {t.kind} ({t.count})")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "actions": [a.to_dict() for a in self.actions]}


def parse_change(text: str) -> tuple[str, str]:
    """``"hidden->enabled"`` as ``("hidden", "enabled")``; ``ValueError`` for anything else."""
    old, sep, new = text.partition("->")
    if not sep or old not in STATES or new not in STATES or old == new:
        raise ValueError(f"not a change: {text!r}; expected widen, undecided or FROM->TO with two different states "
                         f"among {', '.join(STATES)}")
    return old, new


# -- the query -------------------------------------------------------------------------------------------------------


def _kind(item: Reason) -> int:
    """What a bulk reason says of the row's decision: it applies, it was decided against, or it could not be."""
    if item is None:
        return _APPLIES
    if isinstance(item, (Problem, Failure)) or item.startswith(FAIL_CLOSED):  # a bad user fact is worded so
        return _UNDECIDED
    return _DECIDED


@attrs.frozen(slots=True)
class _Side:
    """One engine's answer for one action and user, as the two plan pieces the query needs (None: no such
    action, so every order is hidden)."""

    reasons: tuple[tuple[Any, int], ...] | None
    visible: Any
    facts: tuple[str, ...] = ()
    """The row facts the answer reads (the reasons' and the visible plan's)."""


def _side(engine: Any, action: str, user: Any) -> _Side:
    try:
        engine.action_label(action)
    except KeyError:
        return _Side(None, FALSE)
    plan = build_reasons(engine, action, user)
    branches = []
    for node, item in plan.branches:
        if node != FALSE:
            branches.append((node, _kind(item)))
            if node == TRUE:
                break  # nothing after an always-taken branch is reached
    visible = engine.plan(action, user, state="visible")
    return _Side(tuple(branches), visible, tuple(sorted({*plan.facts, *visible.facts})))


def _expressions(side: _Side, translator: Any) -> tuple[Any, Any]:
    """(kind, visible) SQL expressions: 0/1/2 as :func:`_kind`, and 1 where the action is visible else 0."""
    if side.reasons is None:
        return sa.literal(_DECIDED), sa.literal(0)
    whens = [(translator.boolean(node), code) for node, code in side.reasons]
    kind = sa.case(*whens, else_=_APPLIES) if whens else sa.literal(_APPLIES)
    plan = side.visible
    if plan.kind != "conditional":
        return kind, sa.literal(1 if plan.kind == "always" else 0)
    return kind, sa.case((translator.boolean(plan.condition), 1), else_=0)


def _roots(side: _Side) -> list[Any]:
    return [] if side.reasons is None else [*(node for node, _ in side.reasons), side.visible.condition]


def _state(kind: Any, visible: Any) -> Any:
    return sa.case((kind == _APPLIES, 0), (visible == 1, 1), else_=2)


def _query(old: _Side, new: _Side, selectable: Any, columns: Mapping[str, Any], id_column: Any, examples: int,
           postgres: bool) -> Any:
    from .core import _require, _rows_of, _Translator, _with_defaults

    roots = [*_roots(old), *_roots(new)]
    full = _with_defaults(roots, columns)
    needed = sorted({*old.facts, *new.facts})
    _require(needed, full)
    store = sa.type_coerce(columns.get("store.id", sa.null()), sa.types.NullType())
    # one pass: the rows grouped by the facts either side reads (a state is a function of them), counted, with
    # the smallest id of each combination; the plans' CASEs then run once per combination, not once per row
    facts = [full[n].label(f"pe_f{i}") for i, n in enumerate(needed)]
    combos = _rows_of(selectable, *facts, store.label("s"), sa.func.count().label("n"),
                      sa.func.min(id_column).label("m")).group_by(*facts, store).subquery("pe_combos")
    translator = _Translator({**full, **{n: combos.c[f"pe_f{i}"] for i, n in enumerate(needed)}})
    ko, vo = _expressions(old, translator)
    kn, vn = _expressions(new, translator)
    groups = sa.select(ko.label("ko"), vo.label("vo"), kn.label("kn"), vn.label("vn"), combos.c.s, combos.c.n,
                       combos.c.m).select_from(combos).cte("pe_groups").prefix_with("MATERIALIZED")
    go, gn = _state(groups.c.ko, groups.c.vo), _state(groups.c.kn, groups.c.vn)
    lost = sa.case((sa.and_(groups.c.ko != _UNDECIDED, groups.c.kn == _UNDECIDED), 1), else_=0)
    # examples: the smallest ids of the combinations that move, per transition and per undecided move
    ranked = sa.select(go.label("so"), gn.label("sn"), lost.label("lost"), groups.c.m.label("value"),
                       sa.func.row_number().over(partition_by=(go, gn), order_by=groups.c.m).label("r1"),
                       sa.func.row_number().over(partition_by=lost, order_by=groups.c.m).label("r2")) \
        .where(sa.or_(go != gn, lost == 1)).subquery("pe_ranked")
    keys = keys_of(groups)
    totals = sa.select(*keys, sa.func.sum(groups.c.n).label("n")).group_by(*keys).subquery("pe_totals")
    counts = sa.select(sa.literal(0).label("what"), *keys_of(totals), totals.c.n, sa.null().label("e"),
                       sa.null().label("r1"), sa.null().label("r2"))
    picked = sa.select(sa.literal(1), ranked.c.so, ranked.c.sn, ranked.c.lost, sa.null(), sa.null(), sa.null(),
                       sa.cast(ranked.c.value, sa.Text()), ranked.c.r1, ranked.c.r2) \
        .where(sa.or_(sa.and_(ranked.c.so != ranked.c.sn, ranked.c.r1 <= examples),
                      sa.and_(ranked.c.lost == 1, ranked.c.r2 <= examples)))
    return sa.union_all(counts, picked)


def keys_of(groups: Any) -> tuple[Any, ...]:
    return (groups.c.ko, groups.c.vo, groups.c.kn, groups.c.vn, groups.c.s)


def _state_name(kind: int, visible: int) -> str:
    return STATES[0 if kind == _APPLIES else 1 if visible == 1 else 2]


def _store_key(value: Any) -> str:
    return "" if value is None else str(value)


def _answer(connection: Connection, query: Any, examples: int) -> tuple[int, tuple[Transition, ...], Undecided]:
    total = 0
    counts: dict[tuple[str, str], dict[str, int]] = {}
    lost = 0
    shown: dict[tuple[str, str], list[tuple[int, str]]] = {}
    lost_shown: list[tuple[int, str]] = []
    for row in connection.execute(query):
        if row[0] == 0:
            _, ko, vo, kn, vn, store, n = row[:7]
            total += n
            old, new = _state_name(ko, vo), _state_name(kn, vn)
            if old != new:
                by_store = counts.setdefault((old, new), {})
                by_store[_store_key(store)] = by_store.get(_store_key(store), 0) + n
            if ko != _UNDECIDED and kn == _UNDECIDED:
                lost += n
            continue
        so, sn, moved, value, r1, r2 = row[1], row[2], row[3], row[7], row[8], row[9]
        if so != sn and r1 <= examples:
            shown.setdefault((STATES[so], STATES[sn]), []).append((r1, value))
        if moved == 1 and r2 <= examples:
            lost_shown.append((r2, value))
    transitions = []
    for (old, new), by_store in counts.items():
        stores = tuple(sorted(by_store.items(), key=lambda kv: (-kv[1], kv[0])))
        transitions.append(Transition(old, new, sum(by_store.values()), stores,
                                      tuple(v for _, v in sorted(shown.get((old, new), [])))))
    transitions.sort(key=lambda t: (-t.count, STATES.index(t.old), STATES.index(t.new)))
    return total, tuple(transitions), Undecided(lost, tuple(v for _, v in sorted(lost_shown)))


def impact(connection: Connection, old_engine: Any, new_engine: Any, selectable: Any, columns: Mapping[str, Any],
           id_column: Any, *, users: Mapping[str, Any], actions: Sequence[str] | None = None,
           examples: int = 3) -> Impact:
    """How changing the policies from ``old_engine`` to ``new_engine`` changes the decisions on the rows of
    ``selectable`` (a table, join or ``Select``, with ``columns`` mapping facts to columns as in
    :func:`policyengine.sql.bulk`). ``users`` names the user profiles (``{"admin": {"role": "admin"}, ...}``): an
    action whose answer differs between profiles is answered for each, the others once (``profile`` None).
    ``actions`` defaults to every action either side has. Each question is one query over the table."""
    from .core import install

    if examples < 0:
        raise ValueError("examples must be 0 or more")
    install(connection)
    profiles: list[tuple[str | None, Any]] = list(users.items()) or [(None, {})]
    if actions is None:
        actions = _all_actions(new_engine, old_engine)
    postgres = connection.dialect.name == "postgresql"
    out: list[ActionImpact] = []
    total = 0
    for action in actions:
        label = _label(new_engine, action) or _label(old_engine, action)
        if label is None:
            raise KeyError(f"unknown action {action!r}: neither policy has it")
        answers: dict[tuple[_Side, _Side], tuple[int, tuple[Transition, ...], Undecided]] = {}
        by_profile = []
        for name, user in profiles:  # profiles the policies read alike share one query
            sides = (_side(old_engine, action, user), _side(new_engine, action, user))
            if sides not in answers:
                answers[sides] = _answer(connection, _query(*sides, selectable, columns, id_column, examples, postgres),
                                         examples)
            by_profile.append((name, answers[sides]))
        if len({answer[1:] for _, answer in by_profile}) == 1:
            by_profile = [(None, by_profile[0][1])]  # the same for every profile: answered once
        total = by_profile[0][1][0]
        out.extend(ActionImpact(action, label, name, transitions, undecided)
                   for name, (_, transitions, undecided) in by_profile)
    if not out:
        total = int(connection.execute(_count(selectable)).scalar_one())
    return Impact(total, tuple(out))


def _count(selectable: Any) -> Any:
    from .core import _rows_of

    return _rows_of(selectable, sa.func.count())


def _label(engine: Any, action: str) -> str | None:
    try:
        return str(engine.action_label(action))
    except KeyError:
        return None


def _all_actions(*engines: Any) -> list[str]:
    """Every action either side has (every store's policy too), the new side's menu order first."""
    seen: dict[str, None] = {}
    for engine in engines:
        for store in (None, *engine.stores):
            for a in engine.store_policy(store).actions:
                seen.setdefault(a.id, None)
    return list(seen)
