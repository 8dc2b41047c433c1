"""Policy diff: every decision that changes between two policies, over the union of their finite fact spaces.

Both policies are decided over one space: the finite facts either reads, each with the union of both sides'
values (see :func:`union_axes`). For every combination and every action of either side, the old and the new
:class:`~policyengine.analysis.matrix.Outcome` are compared; the diff is exactly the set difference of the two matrices
over that space (``Diff.entries() == {(c, a, o, n)}`` where ``(c, a, o)`` is in the old matrix and not the new,
and ``(c, a, n)`` in the new and not the old). Changes are grouped by action and by kind (``enabled→disabled``,
``hidden→enabled``, ``reason changed``, ``effect changed``), each group described by a cube cover of its
combinations.

* A fact only one side reads: the other side's decisions do not depend on it (the same for each of its values).
* A value only one side declares (an enum value added): a side that reads the fact cannot decide combinations
  with it (a real engine fails closed on an undeclared value), so its outcomes there are ``absent``.
* An action only one side has: its outcomes are ``absent`` on the other side (``absent→enabled`` widens).
* Constraints: a combination is compared when at least one side's constraints allow it (or neither side can
  judge it); only combinations both sides rule out are left out (so a NEW constraint cannot hide a widening).

A change *widens* when the action may be enabled (or shown) in NEW where it was not surely enabled (shown) in OLD;
``undecided`` outcomes (facts held unknown) count as possibly enabled/shown, so the check is conservative. An action
whose decisions read number, string or set facts and whose conditions differ is compared exactly by the SMT solver
(:class:`SolvedChange`); its held-unknown changes then no longer count on their own, and when the solver cannot
decide, :attr:`ActionDiff.undecided` says why (``--fail-on-widen`` fails).

:func:`load_source` loads a side from a directory or file, or from a git revision (``REV:PATH``).
"""

from __future__ import annotations

import io
import itertools
import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from ..engine import Engine
from ..errors import PolicyError
from ..loader import load
from ..pipeline.compiler import CompiledPolicy
from ..pipeline.yamlsource import missing
from ..proof import smt
from ..proof.space import decide_by, depends_on
from ..runtime.interpret import Interpreter
from .matrix import (
    MAX_COMBINATIONS,
    ActionInfo,
    Axis,
    Cube,
    Decider,
    Outcome,
    Space,
    actions_of,
    axes_of,
    check_size,
    describe_cubes,
    show_value,
    space_size,
)

__all__ = ["ActionDiff", "Change", "DetailChange", "Diff", "FactChange", "MissingSource", "SolvedChange", "SourceError",
           "diff_engines", "diff_policies", "load_source", "union_axes", "union_actions"]


# -- results ---------------------------------------------------------------------------------------------------------


def change_kind(old: Outcome, new: Outcome) -> str:
    """``enabled→disabled`` (any state change), ``reason changed``, ``effect changed`` or ``undecided changed``."""
    if old.state != new.state:
        return f"{old.state}→{new.state}"
    if old.reasons != new.reasons or old.depends_on != new.depends_on:
        return "reason changed"
    if old.effects != new.effects:
        return "effect changed"
    return "undecided changed"


def _widens_states(old: str, new: str) -> bool:
    return (new == "enabled" and old != "enabled") or (new not in ("hidden", "absent") and old in ("hidden", "absent"))


def widens(old: Outcome, new: Outcome) -> bool:
    """NEW may enable or show the action where OLD surely did not."""
    return (new.may_enable and not old.surely_enabled) or (new.may_show and not old.surely_visible)


def narrows(old: Outcome, new: Outcome) -> bool:
    """OLD may have enabled or shown the action where NEW surely does not."""
    return (old.may_enable and not new.surely_enabled) or (old.may_show and not new.surely_visible)


@attrs.frozen(slots=True)
class Change:
    """One action's outcome changing from ``old`` to ``new`` at some combinations (``when`` describes them)."""

    action: str
    old: Outcome
    new: Outcome
    when: tuple[Cube, ...]
    combinations: tuple[tuple[Any, ...], ...]
    """The combinations (values aligned with :attr:`Diff.axes`), in enumeration order."""
    solved: bool = False
    """An outcome held unknown here, in an action whose states the SMT solver compared exactly
    (:attr:`ActionDiff.solved`): this change says how the held-unknown outcomes differ, and does not count as
    widening or narrowing on its own."""
    fresh: tuple[str, Any] | None = None
    """``(fact, value)`` when these combinations exist only because NEW declares ``value`` (OLD could not decide
    them): shown folded, one line per new value, after the changes to combinations that existed before."""

    @property
    def kind(self) -> str:
        return change_kind(self.old, self.new)

    @property
    def count(self) -> int:
        return len(self.combinations)

    @property
    def widens(self) -> bool:
        return not self.solved and widens(self.old, self.new)

    @property
    def narrows(self) -> bool:
        return not self.solved and narrows(self.old, self.new)


@attrs.frozen(slots=True)
class SolvedChange:
    """A state change of one action decided by the SMT solver over every valid value of the facts with no finite
    set of values (numbers, strings, sets), with a concrete example the interpreter confirmed."""

    action: str
    old: str
    """``enabled``, ``disabled``, ``hidden`` or ``absent``."""
    new: str
    example: tuple[tuple[str, Any], ...]
    caveats: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return f"{self.old}→{self.new}"

    @property
    def widens(self) -> bool:
        return _widens_states(self.old, self.new)

    @property
    def narrows(self) -> bool:
        return _widens_states(self.new, self.old)

    def describe(self) -> str:
        return smt.describe_values(dict(self.example))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "widens": self.widens, "narrows": self.narrows, "old": self.old, "new": self.new,
                "example": dict(self.example), "description": f"for example {self.describe()}",
                "caveats": list(self.caveats)}


@attrs.frozen(slots=True)
class DetailChange:
    """A change to an action that does not depend on facts: its ``label``, ``confirm`` text or ``destructive`` mark."""

    field: str
    old: Any
    new: Any


@attrs.frozen(slots=True)
class ActionDiff:
    action: ActionInfo
    """The action as NEW has it (as OLD had it when NEW removed it)."""
    changes: tuple[Change, ...]
    details: tuple[DetailChange, ...]
    solved: tuple[SolvedChange, ...] = ()
    """State changes the SMT solver found where the decisions read facts with no finite set of values."""
    undecided: str | None = None
    """Why such an action's states could not be compared (``--fail-on-widen`` then fails: never a silent pass)."""

    @property
    def widens(self) -> bool:
        return any(c.widens for c in self.changes) or any(c.widens for c in self.solved)

    @property
    def narrows(self) -> bool:
        return any(c.narrows for c in self.changes) or any(c.narrows for c in self.solved)

    @property
    def count(self) -> int:
        """The combinations where the action's decision changes."""
        return sum(c.count for c in self.changes)

    @property
    def existing(self) -> tuple[Change, ...]:
        """The changes to combinations that existed before (not :attr:`Change.fresh`)."""
        return tuple(c for c in self.changes if c.fresh is None)

    def with_changes(self, changes: tuple[Change, ...]) -> ActionDiff:
        return attrs.evolve(self, changes=changes)

    @property
    def shown(self) -> bool:
        """Whether anything is left to list once the rows of new values are folded."""
        return bool(self.existing or self.details or self.solved or self.undecided)


@attrs.frozen(slots=True)
class FactChange:
    """A difference in the fact space: a fact read by one side only, or values or a type one side lacks."""

    name: str
    old: Axis | None
    """The fact as an axis of OLD's space (None when OLD does not read it as a finite fact)."""
    new: Axis | None

    @property
    def description(self) -> str:
        old, new = self.old, self.new
        if old is None and new is not None:
            return f"{self.name}: read by NEW only ({_domain(new)}); OLD decides the same for each value"
        if new is None and old is not None:
            return f"{self.name}: read by OLD only ({_domain(old)}); NEW decides the same for each value"
        assert old is not None and new is not None
        if old.type != new.type:
            return f"{self.name}: {old.type} in OLD, {new.type} in NEW"
        added = [show_value(v) for v in new.values if v not in old.values]
        removed = [show_value(v) for v in old.values if v not in new.values]
        parts = ([f"values added in NEW: {', '.join(added)}"] if added else []) + (
            [f"values removed in NEW: {', '.join(removed)}"] if removed else [])
        return f"{self.name}: {'; '.join(parts) or 'values reordered'}"

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.name, "old": self.old.to_dict() if self.old else None,
                "new": self.new.to_dict() if self.new else None, "description": self.description}


def _domain(axis: Axis) -> str:
    return "bool" if axis.type == "bool" else f"{axis.type}: {', '.join(map(show_value, axis.values))}"


@attrs.frozen(slots=True)
class Diff:
    """The difference between two policies' decisions (see the module docstring)."""

    old: str
    """What OLD is: its source and policy, e.g. ``HEAD~1:policies order-actions@1``."""
    new: str
    store: str | None
    axes: tuple[Axis, ...]
    fact_changes: tuple[FactChange, ...]
    held_unknown: tuple[str, ...]
    """Non-finite facts either side reads: held unknown (outcomes that depend on them are ``undecided``)."""
    include_impossible: bool
    total: int
    """Combinations in the union space."""
    compared: tuple[tuple[Any, ...], ...]
    """The combinations compared (all, or those some side's constraints allow)."""
    actions: tuple[ActionDiff, ...]
    """Every action whose decisions or details change, in NEW's menu order then the ones NEW removed."""

    @property
    def widens(self) -> bool:
        """Whether any action becomes enabled or visible somewhere it was not (the ``--fail-on-widen`` check)."""
        return any(a.widens for a in self.actions)

    @property
    def undecided(self) -> tuple[tuple[str, str], ...]:
        """``(action, why)`` for each action whose states could not be compared exactly."""
        return tuple((a.action.id, a.undecided) for a in self.actions if a.undecided is not None)

    @property
    def changed_combinations(self) -> int:
        return len({c for a in self.actions for ch in a.changes for c in ch.combinations})

    @property
    def added_values(self) -> tuple[tuple[str, Any], ...]:
        """``(fact, value)`` for each value NEW declares and OLD does not, of a fact both read."""
        return tuple((f.name, v) for f in self.fact_changes if f.old is not None and f.new is not None
                     and f.old.type == f.new.type for v in f.new.values if v not in f.old.values)

    def fresh_of(self, values: tuple[Any, ...]) -> tuple[str, Any] | None:
        """The first new value a combination holds (it exists only because of it), or None."""
        added = set(self.added_values)
        return next(((a.name, v) for a, v in zip(self.axes, values, strict=True) if (a.name, v) in added), None)

    @property
    def existing_compared(self) -> int:
        """The compared combinations that existed before (no value only NEW declares)."""
        return sum(1 for c in self.compared if self.fresh_of(c) is None) if self.added_values else len(self.compared)

    def fresh_summary(self) -> list[tuple[tuple[str, Any], int, dict[str, list[str]]]]:
        """For each new value: how many compared combinations hold it, and each state NEW gives there with the
        actions in it (an action in several states is listed under each)."""
        out = []
        for fresh in self.added_values:
            count = sum(1 for c in self.compared if self.fresh_of(c) == fresh)
            states: dict[str, list[str]] = {}
            for action in self.actions:
                for state in dict.fromkeys(c.new.state for c in action.changes if c.fresh == fresh):
                    states.setdefault(state, []).append(action.action.id)
            out.append((fresh, count, states))
        return out

    def entries(self) -> set[tuple[tuple[Any, ...], str, Outcome, Outcome]]:
        """Every ``(combination, action, old outcome, new outcome)`` that differs (``absent`` outcomes without their
        reason, as :meth:`Matrix.entries <policyengine.analysis.matrix.Matrix.entries>` has them)."""
        return {(c, ch.action, ch.old.comparable, ch.new.comparable) for a in self.actions for ch in a.changes
                for c in ch.combinations}

    @property
    def summary(self) -> str:
        """One line: how many actions change where, which widen, which narrow, which change otherwise. With values
        only NEW declares, the counts are of the combinations that existed before, and the new values follow."""
        if not self.actions:
            return f"no decision changes ({len(self.compared)} combinations compared)"
        if not self.added_values:
            return self._summary(self.actions, self.changed_combinations, len(self.compared), "")
        shown = [a for a in self.actions if a.shown]
        changed = len({c for a in shown for ch in a.existing for c in ch.combinations})
        fresh = "; ".join(f"{fact} = {show_value(value)}: {count}" for (fact, value), count, _ in self.fresh_summary())
        head = self._summary(tuple(attrs.evolve(a, changes=a.existing) for a in shown), changed,
                             self.existing_compared, " that existed before") if shown else \
            f"no decision changes in the {self.existing_compared} combinations that existed before"
        return f"{head}; new combinations, decided by NEW alone: {fresh}"

    @staticmethod
    def _summary(actions: Sequence[ActionDiff], changed: int, compared: int, which: str) -> str:
        wider = [a.action.id for a in actions if a.widens]
        narrower = [a.action.id for a in actions if a.narrows]
        undecided = [a.action.id for a in actions if a.undecided is not None]
        other = [a.action.id for a in actions if not a.widens and not a.narrows and a.undecided is None]
        parts = []
        if wider:
            parts.append(f"{len(wider)} more permissive ({', '.join(wider)})")
        if narrower:
            parts.append(f"{len(narrower)} more restrictive ({', '.join(narrower)})")
        if undecided:
            parts.append(f"{len(undecided)} could not be decided ({', '.join(undecided)})")
        if other:
            parts.append(f"{len(other)} otherwise changed ({', '.join(other)})")
        count = len(actions)
        head = (f"{count} action{'s' if count != 1 else ''} change{'s' if count == 1 else ''}"
                f" in {changed} of {compared} combinations{which}")
        return f"{head}: {'; '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        axes = self.axes
        return {
            "old": self.old,
            "new": self.new,
            "store": self.store,
            "summary": self.summary,
            "widens": self.widens,
            "facts": [a.to_dict() for a in axes],
            "fact_changes": [f.to_dict() for f in self.fact_changes],
            "held_unknown": list(self.held_unknown),
            "include_impossible": self.include_impossible,
            "combinations": self.total,
            "compared": len(self.compared),
            "changed": self.changed_combinations,
            "actions": [{
                "action": a.action.to_dict(),
                "widens": a.widens,
                "narrows": a.narrows,
                "details": [{"field": d.field, "old": d.old, "new": d.new} for d in a.details],
                "changes": [{"kind": c.kind, "widens": c.widens, "narrows": c.narrows,
                             **({"fresh": {"fact": c.fresh[0], "value": c.fresh[1]}} if c.fresh else {}),
                             "old": c.old.to_dict(),
                             "new": c.new.to_dict(), "count": c.count, "description": describe_cubes(c.when, axes),
                             "when": [cube.to_dict() for cube in c.when]} for c in a.changes],
                "solved": [c.to_dict() for c in a.solved],
                "undecided": a.undecided,
            } for a in self.actions],
        }


# -- computing -------------------------------------------------------------------------------------------------------


def union_axes(old: CompiledPolicy, new: CompiledPolicy) -> tuple[tuple[Axis, ...], tuple[FactChange, ...]]:
    """The finite facts either side reads (OLD's order, then NEW's additions), each with the union of both sides'
    values (OLD's first), and how the two sides' spaces differ."""
    old_axes = {a.name: a for a in axes_of(old)}
    new_axes = {a.name: a for a in axes_of(new)}
    axes, changes = [], []
    for name in [*old_axes, *(n for n in new_axes if n not in old_axes)]:
        o, n = old_axes.get(name), new_axes.get(name)
        if o is not None and n is not None and o == n:
            axes.append(o)
            continue
        values = tuple(dict.fromkeys([*(o.values if o else ()), *(n.values if n else ())]))
        known = n or o
        assert known is not None
        kind = known.type if o is None or n is None or o.type == n.type else "enum"  # bool in one, enum in the other
        axes.append(Axis(name, kind, values, known.description))
        changes.append(FactChange(name, o, n))
    return tuple(axes), tuple(changes)


def union_actions(old: CompiledPolicy, new: CompiledPolicy) -> tuple[ActionInfo, ...]:
    """NEW's actions in menu order, then the ones only OLD has."""
    new_actions = actions_of(new)
    ids = {a.id for a in new_actions}
    return (*new_actions, *(a for a in actions_of(old) if a.id not in ids))


def _details(old: ActionInfo | None, new: ActionInfo | None) -> tuple[DetailChange, ...]:
    if old is None or new is None:
        return ()
    return tuple(DetailChange(field, getattr(old, field), getattr(new, field))
                 for field in ("label", "confirm", "destructive") if getattr(old, field) != getattr(new, field))


def _locks_text(policy: CompiledPolicy, action_id: str) -> str | None:
    """An action's locks as text (``visible, allow, guard 'sent-to-warehouse'``), None when the policy lacks it."""
    action = next((a for a in policy.actions if a.id == action_id), None)
    if action is None:
        return None
    parts: list[str] = [p for p in ("visible", "allow") if p in action.spec.locked]
    parts += [f"guard {g.spec.id!r}" for g in action.guards if g.spec.locked]
    return ", ".join(parts) or "none"


def _lock_details(old: CompiledPolicy, new: CompiledPolicy, action_id: str) -> tuple[DetailChange, ...]:
    """A change to an action's locks, with the reason of each ``unlocks:`` entry NEW gives for it."""
    before, after = _locks_text(old, action_id), _locks_text(new, action_id)
    if before is None or after is None or before == after:
        return ()
    reasons = [f"unlocks {u.what}: {u.reason}" for u in new.spec.unlocks if u.action == action_id]
    return (DetailChange("locked", before, after + "".join(f" ({r})" for r in reasons)),)


_KIND_ORDER = {"reason changed": 1, "effect changed": 2, "undecided changed": 3}


def diff_policies(old: CompiledPolicy, new: CompiledPolicy, *, old_name: str | None = None, new_name: str | None = None,
                  store: str | None = None, include_impossible: bool = False, limit: int = MAX_COMBINATIONS) -> Diff:
    """Every decision that differs between ``old`` and ``new`` (see the module docstring)."""
    axes, fact_changes = union_axes(old, new)
    actions = union_actions(old, new)
    check_size(axes, limit)
    sides = (Decider(old, axes, actions), Decider(new, axes, actions))
    compared: list[tuple[Any, ...]] = []
    dont_care: list[int] = []
    fresh_numbers: list[int] = []  # combinations of new values: described apart, so free in other descriptions
    found: dict[tuple[int, Outcome, Outcome, tuple[str, Any] | None], list[int]] = {}
    added = {(f.name, v) for f in fact_changes if f.old is not None and f.new is not None and f.old.type == f.new.type
             for v in f.new.values if v not in f.old.values}
    for number, values in enumerate(itertools.product(*(a.values for a in axes))):
        (old_out, old_broken, old_ok), (new_out, new_broken, new_ok) = (s.decide(values) for s in sides)
        allowed = (old_ok and not old_broken) or (new_ok and not new_broken) or not (old_broken or new_broken)
        if not (allowed or include_impossible):
            dont_care.append(number)
            continue
        compared.append(values)
        fresh = next(((a.name, v) for a, v in zip(axes, values, strict=True) if (a.name, v) in added), None) \
            if added else None
        if fresh is not None:
            fresh_numbers.append(number)
        for k, (o, n) in enumerate(zip(old_out, new_out, strict=True)):
            if o.comparable != n.comparable:
                found.setdefault((k, o, n, fresh), []).append(number)
    space = Space(axes)
    by_action: dict[int, list[Change]] = {}
    for (k, o, n, fresh), numbers in found.items():
        combos = tuple(tuple(a.values[v] for a, v in zip(axes, space.point(i), strict=True)) for i in numbers)
        free = dont_care if fresh is not None or not fresh_numbers else sorted([*dont_care, *fresh_numbers])
        by_action.setdefault(k, []).append(Change(actions[k].id, o, n, space.cover(numbers, free), combos,
                                                  fresh=fresh))
    old_info = {a.id: a for a in actions_of(old)}
    new_info = {a.id: a for a in actions_of(new)}
    solver = _Solver(old, new, include_impossible)
    diffs = []
    for k, action in enumerate(actions):
        changes = sorted(by_action.get(k, []), key=lambda c: (c.fresh is not None, _KIND_ORDER.get(c.kind, 0), c.kind,
                                                              _position(axes, c.combinations[0])))
        details = (*_details(old_info.get(action.id), new_info.get(action.id)), *_lock_details(old, new, action.id))
        solved, undecided = solver.compare(action.id)
        if solved is not None:  # the solver compared its states exactly: held-unknown outcomes no longer guess
            changes = [attrs.evolve(c, solved=True) if c.old.depends_on or c.new.depends_on else c for c in changes]
        if changes or details or solved or undecided:
            diffs.append(ActionDiff(action, tuple(changes), details, tuple(solved or ()), undecided))
    held = sorted({p.facts[i].name for p in (old, new) for i in p.needed if not p.facts[i].finite}
                  - {a.name for a in axes})
    return Diff(old_name or old.spec.label, new_name or new.spec.label, store, axes, fact_changes, tuple(held),
                include_impossible, space_size(axes), tuple(compared), tuple(diffs))


class _Solver:
    """Compares one action's states in OLD and NEW exactly with the SMT solver, when its decisions read a fact with no
    finite set of values and its conditions differ (identical conditions over the same facts decide alike)."""

    def __init__(self, old: CompiledPolicy, new: CompiledPolicy, include_impossible: bool) -> None:
        self.old, self.new = old, new
        self.include_impossible = include_impossible
        self.old_actions = {a.id: a for a in old.actions}
        self.new_actions = {a.id: a for a in new.actions}
        self._state: tuple[Any, Any, Any, Any] | None = None

    def _needs(self, action: str) -> bool:
        sides = [(p, acts[action]) for p, acts in ((self.old, self.old_actions), (self.new, self.new_actions))
                 if action in acts]
        reads = [depends_on(p, a.exprs()) for p, a in sides]
        if not decide_by(f for (p, _), names in zip(sides, reads, strict=True) for f in p.facts if f.name in names).open:
            return False  # every fact it reads is finite: the enumeration decides it
        if len(sides) == 2:
            return _meaning(self.old, sides[0][1]) != _meaning(self.new, sides[1][1])
        return True

    def _setup(self) -> tuple[Any, Any, Any, Any]:
        if self._state is None:
            encoder = smt.Encoder()
            old_terms, new_terms = encoder.policy(self.old), encoder.policy(self.new)
            allowed = smt.z3.BoolVal(True) if self.include_impossible else smt.z3.Or(old_terms.possible(),
                                                                                      new_terms.possible())
            self._state = (encoder, old_terms, new_terms, allowed)
        return self._state

    def compare(self, action: str) -> tuple[list[SolvedChange] | None, str | None]:
        """``(state changes, None)``; ``(None, why)`` when they could not be compared; ``(None, None)`` when the
        finite enumeration alone decides this action."""
        if not self._needs(action):
            return None, None
        if not smt.available():
            return None, smt.INSTALL
        z3 = smt.z3
        try:
            encoder, old_terms, new_terms, allowed = self._setup()
            sides = [(terms, action in terms.actions) for terms in (old_terms, new_terms)]
            states = [(("enabled", "disabled", "hidden") if present else ("absent",)) for _, present in sides]
            formulas = [{s: (terms.action(action).state(s) if present else z3.BoolVal(True)) for s in names}
                        for (terms, present), names in zip(sides, states, strict=True)]
            caveats = frozenset().union(*[t.action(action).caveats for t, present in sides if present])
        except smt.Unsupported as err:
            return None, f"could not decide: {err}"
        interpreters = (Interpreter(self.old), Interpreter(self.new))
        reads = set().union(*[depends_on(p, acts[action].exprs()) for p, acts in
                              ((self.old, self.old_actions), (self.new, self.new_actions)) if action in acts])
        out = []
        for old_state in states[0]:
            for new_state in states[1]:
                if old_state == new_state:
                    continue

                def confirm(values: Any, pair: tuple[str, str] = (old_state, new_state)) -> bool:
                    got = tuple(_state_of(run, action, values) for run in interpreters)
                    return got == pair

                verdict = smt.satisfiable(encoder, z3.And(allowed, formulas[0][old_state], formulas[1][new_state]),
                                          facts=sorted(reads), confirm=confirm, caveats=caveats)
                if verdict.undecided:
                    return None, verdict.reason
                if verdict.holds:
                    example = tuple(sorted((verdict.values or {}).items()))
                    out.append(SolvedChange(action, old_state, new_state, example, verdict.caveats))
        return out, None


def _state_of(interpreter: Interpreter, action: str, values: Any) -> str:
    decisions, _ = interpreter.evaluate(values)
    return decisions[action].state if action in decisions else "absent"


def _meaning(policy: CompiledPolicy, action: Any) -> tuple[Any, ...]:
    """What decides an action's states, as written: the text of every condition it reads, through named conditions
    and referenced actions, and the declarations of the facts they read."""
    actions = {a.id: a for a in policy.actions}
    seen: dict[str, str] = {}
    todo = [(f"{action.id} {i}", e) for i, e in enumerate(action.exprs())]
    while todo:
        label, expr = todo.pop()
        if label in seen:
            continue
        seen[label] = expr.text
        todo += [(f"condition {c}", policy.conditions[c]) for c in expr.conditions]
        for other in expr.actions:
            todo += [(f"{other} {i}", e) for i, e in enumerate(actions[other].exprs())]
    facts = {f.name: (f.type, f.values) for f in policy.facts if f.name in depends_on(policy, action.exprs())}
    return tuple(sorted(seen.items())), tuple(sorted(facts.items()))


def _position(axes: Sequence[Axis], values: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(a.values.index(v) for a, v in zip(axes, values, strict=True))


def deciding(engine: Engine, store: str | None) -> tuple[CompiledPolicy, str]:
    """The policy deciding orders of ``store`` (the base policy for None) and how to name it."""
    policy = engine.store_policy(store)
    override = engine.store_override(store) if store is not None else None
    if override is not None:
        return policy, f"{override.policy.spec.label} + store override {override.override.label}"
    if store is not None:
        return policy, f"{policy.spec.label} (store {store} has no override)"
    return policy, policy.spec.label


def diff_engines(old: Engine, new: Engine, *, store: str | None = None, old_source: str = "OLD", new_source: str = "NEW",
                 include_impossible: bool = False, limit: int = MAX_COMBINATIONS) -> Diff:
    """:func:`diff_policies` of the policies deciding orders of ``store`` (the base policies for None) in two engines."""
    old_policy, old_label = deciding(old, store)
    new_policy, new_label = deciding(new, store)
    return diff_policies(old_policy, new_policy, old_name=f"{old_source} {old_label}", new_name=f"{new_source} {new_label}",
                         store=store, include_impossible=include_impossible, limit=limit)


# -- sources ---------------------------------------------------------------------------------------------------------


class SourceError(ValueError):
    """A side of a diff is neither a file or directory nor a git revision that exists."""


class MissingSource(SourceError):
    """A side of a diff names a path that exists neither here nor (``REV:PATH``) at its revision: like any command
    given a missing path, the policies do not load."""


def _git(args: Sequence[str], cwd: Path, what: str, *, explain: bool = True) -> bytes:
    """Run git; on failure raise :class:`SourceError` saying ``what`` (and, with ``explain``, git's last words)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as err:
        raise SourceError(f"{what}: cannot run git ({err.strerror})") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        said = message[0].removeprefix("fatal: ") if message else "git failed"
        raise SourceError(f"{what}: {said}" if explain else what)
    return done.stdout


def split_ref(ref: str, *, other: str | None = None, default_path: str = "policies",
              cwd: Path | None = None) -> tuple[str, str] | None:
    """``(revision, path)`` when ``ref`` names a git revision, None when it is a file or directory.

    ``REV:PATH`` is PATH at revision REV (PATH relative to the repository root, or to the current directory when it
    starts with ``./``, as in ``git show``). A bare revision (``HEAD~1``, ``main``) means the same directory as the
    other side (``other``, when that is a directory) or ``default_path``, relative to the current directory.
    """
    base = cwd or Path.cwd()
    if missing(base / ref) is None:
        return None
    if ":" in ref:
        rev, path = ref.split(":", 1)
        return rev, path
    path = other if other is not None and missing(base / other) is None else default_path
    return ref, "./" + PurePosixPath(Path(path).as_posix()).as_posix().removeprefix("./")


def load_source(ref: str, *, other: str | None = None, default_path: str = "policies",
                cwd: Path | None = None) -> tuple[Engine, str]:
    """Load one side of a diff: ``(engine, how to name it)``. Raises :class:`SourceError` for a revision or path
    that does not exist, :class:`~policyengine.PolicyError` when the policies do not load (diagnostics of files
    read from git are named ``REV:PATH/file``)."""
    base = cwd or Path.cwd()
    split = split_ref(ref, other=other, default_path=default_path, cwd=base)
    if split is None:
        return load(base / ref if not Path(ref).is_absolute() else Path(ref)), ref
    rev, path = split
    name = f"{rev}:{path}"
    if rev.startswith("-"):
        raise SourceError(f"{ref}: not a git revision")
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], base, f"{ref}: no such git revision {rev!r}",
             explain=False)
    except SourceError as err:
        if ":" in ref:
            raise
        raise MissingSource(f"{ref}: no such file or directory (nor a git revision)") from err
    try:
        kind = _git(["cat-file", "-t", name], base, name).decode().strip()  # its error names a missing path well
    except SourceError as err:
        raise MissingSource(str(err)) from None
    oid = _git(["rev-parse", "--verify", "--quiet", name], base, name).decode().strip()
    top = Path(_git(["rev-parse", "--show-toplevel"], base, name).decode().strip())
    if path.startswith("./"):  # relative to the current directory: name it from the repository root, as git does
        prefix = _git(["rev-parse", "--show-prefix"], base, name).decode().strip()
        path = posixpath.normpath(prefix + path[2:])
        path = "" if path == "." else path
    display = f"{rev}:{path.rstrip('/')}"
    with tempfile.TemporaryDirectory(prefix="policyengine-diff-") as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        if kind == "tree":
            _extract(_git(["archive", "--format=tar", oid], top, name), root)
            target = root
        elif kind == "blob":
            target = root / PurePosixPath(path).name
            target.write_bytes(_git(["cat-file", "blob", oid], top, name))
        else:
            raise SourceError(f"{name}: a {kind}, not a directory or file")
        try:
            return load(target), display
        except PolicyError as err:
            blob = kind == "blob"
            raise PolicyError([attrs.evolve(d, file=_rename(d.file, root, display, blob)) for d in err.diagnostics]) from None


def _rename(file: str, root: Path, display: str, blob: bool) -> str:
    """A diagnostic's file read from a temporary checkout, named as ``REV:PATH/file`` (``REV:PATH`` for a file)."""
    real = Path(os.path.realpath(Path.cwd() / file))
    try:
        inside = real.relative_to(os.path.realpath(root))
    except ValueError:
        return file
    return display if blob else f"{display}/{inside.as_posix()}"


def _extract(archive: bytes, root: Path) -> None:
    """The regular files of a tar archive from ``git archive``, under ``root`` (nothing outside it)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or not parts or parts[0] == "/" or ".." in parts:
                continue
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                target.write_bytes(source.read())
