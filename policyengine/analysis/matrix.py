"""The decision matrix: every decision of a policy over every combination of its finite facts, grouped for people.

The finite facts a policy reads (enums and bools) span a finite space that we enumerate exactly, deciding each
combination with the :class:`~policyengine.runtime.interpret.Interpreter` (the same translation of each condition the fast
path runs). What Cedar's symbolic analysis needs a solver for is here a plain loop.

* **Impossible combinations.** A policy's ``constraints`` say which combinations cannot happen (a Shipped order has
  a shipment). They never change a decision; they only take combinations out of the matrix (by default), and the
  combinations they take out are *don't-cares* when rows are described, which keeps descriptions short.
* **Facts that are not enumerated.** String, number and set facts have no finite domain. The matrix holds them
  *unknown*: a decision that depends on one is an ``undecided`` outcome naming the facts it depends on and the
  states it may take (fail closed: it is never reported enabled); with the SMT solver installed, each state comes
  with the condition under which the action takes it (``enabled when not (order.total > 1000)``). Facts a policy
  declares but never reads do not matter and are listed as such.
* **Grouping.** Combinations with identical decisions (every action's state, reasons and effects) form one row;
  each row (and, per action, each outcome) is described by a small set of *cubes*, ``order.status in {New,
  Pending}, user.role = admin``, found by greedy cube expansion over the finite domains (a multi-valued take on
  Quine–McCluskey / Espresso): exact on the combinations shown, never covering a combination with another outcome.

Presentation-free: the result objects here are rendered by ``policyengine matrix`` (``cli/matrix.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ..ir.values import check_value
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from ..proof import smt
from ..proof.space import combinations, depends_on
from ..runtime.decision import Decision, Effect
from ..runtime.interpret import Interpreter, Unknown

__all__ = ["MAX_COMBINATIONS", "ActionGroup", "ActionInfo", "ActionSummary", "Axis", "Combination",
           "ConstraintInfo", "Cube", "Matrix", "MatrixTooLarge", "Outcome", "Row", "axes_of", "build_matrix",
           "cover", "fix_facts", "show_value"]

MAX_COMBINATIONS = 200_000
"""More combinations than this and :func:`build_matrix` refuses (:class:`MatrixTooLarge`) rather than run for long."""

STATES = ("enabled", "disabled", "hidden")


class MatrixTooLarge(ValueError):
    """The finite fact space has more combinations than the limit."""


def show_value(value: Any) -> str:
    """A fact value as people read it: ``true``/``false`` for bools, the plain text of enum values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- the space -------------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Axis:
    """One enumerated fact: its name, type and every value, in declaration order."""

    name: str
    type: str
    values: tuple[Any, ...]
    description: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def of(cls, fact: FactSpec) -> Axis:
        return cls(fact.name, fact.type, tuple(fact.domain), fact.description)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "values": list(self.values), "description": self.description}


def axes_of(policy: CompiledPolicy) -> tuple[Axis, ...]:
    """The axes of ``policy``'s matrix: the finite facts it reads, in declaration order."""
    return tuple(Axis.of(policy.facts[i]) for i in policy.needed if policy.facts[i].finite)


@attrs.frozen(slots=True)
class Cube:
    """A set of combinations: for each constrained fact, the values it may take (a fact not listed takes any).

    ``terms`` hold ``(fact, values)`` pairs in axis order, values in declaration order.
    """

    terms: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def describe(self, axes: Sequence[Axis]) -> str:
        """``order.status in {New, Pending}, user.role = admin``, or ``any combination``."""
        if not self.terms:
            return "any combination"
        domains = {a.name: a.values for a in axes}
        return ", ".join(describe_term(name, values, domains[name]) for name, values in self.terms)

    def matches(self, assignment: Mapping[str, Any]) -> bool:
        return all(assignment[name] in values for name, values in self.terms)

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.terms}


def describe_term(name: str, values: Sequence[Any], domain: Sequence[Any]) -> str:
    """One fact's part of a cube: ``= v``, ``in {..}``, ``!= v`` or ``not in {..}``, whichever lists fewer values."""
    if len(values) == len(domain):
        return f"{name} = *"
    if len(values) == 1:
        return f"{name} = {show_value(values[0])}"
    others = [v for v in domain if v not in values]
    if len(others) < len(values):
        if len(others) == 1:
            return f"{name} != {show_value(others[0])}"
        return f"{name} not in {{{', '.join(map(show_value, others))}}}"
    return f"{name} in {{{', '.join(map(show_value, values))}}}"


def describe_cubes(cubes: Sequence[Cube], axes: Sequence[Axis]) -> str:
    """Several cubes as one line: ``a = x, b = y or c = z``; ``no combination`` for none."""
    return " or ".join(c.describe(axes) for c in cubes) if cubes else "no combination"


# -- outcomes --------------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Outcome:
    """What one action is for one combination of facts.

    ``state`` is ``enabled``, ``disabled``, ``hidden``, ``undecided`` or ``absent``:

    * ``undecided``: it depends on facts the matrix holds unknown (``depends_on``); ``may_be`` lists the states it
      may take (``enabled``/``disabled`` when it is surely shown, all three when its visibility is unknown);
    * ``disabled`` with ``depends_on``: surely disabled (``reasons`` say why), but more reasons may apply depending
      on those facts;
    * ``absent``: the policy has no such action, or cannot decide the combination because it does not declare one of
      its values (``reasons`` says which).

    ``reasons`` are the decision's reasons (empty when enabled); ``effects`` what performing it does, kept for
    enabled actions only (a disabled action cannot be performed).
    """

    state: str
    reasons: tuple[str, ...] = ()
    effects: tuple[Effect, ...] = ()
    may_be: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str], ...] = ()
    """For ``undecided``: each state it may take and the condition (on the held-unknown facts) under which it does,
    found by the SMT solver: ``(("enabled", "not (order.total > 1000)"), ("disabled", "order.total > 1000"))``."""

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        """The outcome of ``decision``; one made with errors (facts held unknown) is ``undecided`` (or ``disabled``
        with ``depends_on``, when a known condition disables it whatever the unknown facts are)."""
        if not decision.errors:
            return cls(decision.state, decision.reasons, decision.effects if decision.enabled else ())
        known = tuple(r for r in decision.reasons if not r.startswith("could not be decided: "))
        depends = tuple(sorted({name.strip() for p in decision.errors for name in p.fact.split(",")}))
        if decision.state == "hidden":  # its visibility could not be decided
            return cls("undecided", (), (), STATES, depends)
        if known:  # shown, and disabled whatever the unknown facts are; more reasons may apply
            return cls("disabled", known, (), (), depends)
        return cls("undecided", (), (), ("enabled", "disabled"), depends)

    @classmethod
    def absent(cls, why: str) -> Outcome:
        return cls("absent", (why,))

    @property
    def comparable(self) -> Outcome:
        """What a diff compares: the outcome itself, or plain ``absent`` (why it is absent is not a decision)."""
        return Outcome("absent") if self.state == "absent" else self

    @property
    def may_enable(self) -> bool:
        return self.state == "enabled" or "enabled" in self.may_be

    @property
    def may_show(self) -> bool:
        return self.state in ("enabled", "disabled") or any(s != "hidden" for s in self.may_be)

    @property
    def surely_enabled(self) -> bool:
        return self.state == "enabled"

    @property
    def surely_visible(self) -> bool:
        return self.state in ("enabled", "disabled") or (self.state == "undecided" and "hidden" not in self.may_be)

    @property
    def label(self) -> str:
        """The state as people read it: ``enabled``, ``disabled``, ... ``undecided (enabled or disabled)``."""
        if self.state == "undecided":
            return f"undecided ({' or '.join(self.may_be)})"
        return self.state

    @property
    def described(self) -> str:
        """``enabled when not (order.total > 1000); disabled when order.total > 1000`` (empty without conditions)."""
        return "; ".join(f"{state} when {when}" for state, when in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "reasons": list(self.reasons),
                               "effects": [e.to_dict() for e in self.effects]}
        if self.state == "undecided":
            out["may_be"] = list(self.may_be)
        if self.conditions:
            out["when"] = dict(self.conditions)
        if self.depends_on:
            out["depends_on"] = list(self.depends_on)
        return out


def effect_text(effect: Effect) -> str:
    """``order.status := Open, retry_last_step()``."""
    parts = [f"{fact} := {show_value(value)}" for fact, value in effect.set.items()]
    if effect.operation:
        parts.append(f"{effect.operation}()")
    return ", ".join(parts)


# -- the matrix ------------------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ActionInfo:
    id: str
    label: str
    confirm: str | None = None
    destructive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "confirm": self.confirm, "destructive": self.destructive}


@attrs.frozen(slots=True)
class ConstraintInfo:
    id: str
    condition: str
    description: str | None
    applied: bool = True
    """False for a constraint that reads a fact no decision reads: it cannot rule a decision out, so it is not used."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "when": self.condition, "description": self.description, "applied": self.applied}


@attrs.frozen(slots=True)
class Combination:
    """One combination of the axes' values: whether the constraints allow it, and every action's outcome."""

    values: tuple[Any, ...]
    possible: bool
    outcomes: tuple[Outcome, ...]
    broken: tuple[str, ...] = ()
    """The constraints it breaks (empty when possible)."""
    decidable: bool = True
    """False when the policy reads a fact whose value here it does not declare (every outcome is ``absent``)."""


@attrs.frozen(slots=True)
class Row:
    """Combinations with identical decisions: ``outcomes`` (one per action), where (``when``) and how many."""

    outcomes: tuple[Outcome, ...]
    when: tuple[Cube, ...]
    count: int


@attrs.frozen(slots=True)
class ActionGroup:
    """One outcome of one action, and the combinations (``when``, ``count`` of them) where it is the outcome."""

    outcome: Outcome
    when: tuple[Cube, ...]
    count: int


@attrs.frozen(slots=True)
class ActionSummary:
    action: ActionInfo
    groups: tuple[ActionGroup, ...]


@attrs.frozen(slots=True)
class Matrix:
    """The decision matrix of one policy (see the module docstring)."""

    policy: str
    """``name@version`` of the deciding policy."""
    store: str | None
    store_override: str | None
    """``store@version`` of the override applied, or None (the base policy decides)."""
    axes: tuple[Axis, ...]
    held_unknown: tuple[tuple[str, str], ...]
    """``(fact, type)`` of the non-finite facts the policy reads: not enumerated, held unknown."""
    not_read: tuple[tuple[str, str], ...]
    """``(fact, type)`` of declared facts no condition reads: they change no decision."""
    constraints: tuple[ConstraintInfo, ...]
    actions: tuple[ActionInfo, ...]
    combinations: tuple[Combination, ...]
    """Every combination, possible or not, in enumeration order (first axis slowest)."""
    include_impossible: bool
    """Whether :attr:`rows` and :attr:`by_action` cover the combinations the constraints rule out too."""
    rows: tuple[Row, ...]
    by_action: tuple[ActionSummary, ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    """``(fact, value)`` of the facts fixed to one value (``build_matrix(facts=...)``, ``matrix --fact``), in
    declaration order: not axes, not held unknown; every combination is decided with them."""

    @property
    def total(self) -> int:
        return len(self.combinations)

    @property
    def possible(self) -> int:
        return sum(1 for c in self.combinations if c.possible)

    @property
    def shown(self) -> tuple[Combination, ...]:
        """The combinations the rows cover."""
        return tuple(c for c in self.combinations if c.possible or self.include_impossible)

    def assignment(self, combination: Combination) -> dict[str, Any]:
        return dict(zip((a.name for a in self.axes), combination.values, strict=True))

    def entries(self) -> set[tuple[tuple[Any, ...], str, Outcome]]:
        """Every ``(values, action, outcome)`` of the combinations shown (``absent`` outcomes without their reason):
        what :mod:`~policyengine.analysis.diff` compares."""
        return {(c.values, a.id, o.comparable) for c in self.shown for a, o in zip(self.actions, c.outcomes, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable, stable key order."""
        axes = self.axes
        return {
            "policy": self.policy,
            "store": self.store,
            "store_override": self.store_override,
            "facts": [a.to_dict() for a in axes],
            "held_unknown": [{"name": n, "type": t} for n, t in self.held_unknown],
            "not_read": [{"name": n, "type": t} for n, t in self.not_read],
            "constraints": [c.to_dict() for c in self.constraints],
            "include_impossible": self.include_impossible,
            "combinations": self.total,
            "possible": self.possible,
            "actions": [a.to_dict() for a in self.actions],
            "rows": [{"when": [c.to_dict() for c in r.when], "description": describe_cubes(r.when, axes),
                      "count": r.count, "decisions": {a.id: o.to_dict() for a, o in zip(self.actions, r.outcomes,
                                                                                        strict=True)}}
                     for r in self.rows],
            "by_action": {s.action.id: [{"when": [c.to_dict() for c in g.when],
                                         "description": describe_cubes(g.when, axes), "count": g.count,
                                         **g.outcome.to_dict()} for g in s.groups]
                          for s in self.by_action},
        }


def actions_of(policy: CompiledPolicy) -> tuple[ActionInfo, ...]:
    return tuple(ActionInfo(a.id, a.spec.label, a.spec.confirm, a.spec.destructive) for a in policy.actions)


class Decider:
    """Decides combinations of (possibly foreign) axes with one policy: outcomes aligned to ``actions`` and the
    constraints each combination definitely breaks."""

    def __init__(self, policy: CompiledPolicy, axes: Sequence[Axis], actions: Sequence[ActionInfo],
                 fixed: Mapping[str, Any] | None = None) -> None:
        self.policy = policy
        self.interpreter = Interpreter(policy)
        self.axis_names = [a.name for a in axes]
        self.fixed = dict(fixed or {})
        read = {policy.facts[i].name for i in policy.needed}
        self.checked = {name for name in self.axis_names if name in read}
        own = {a.id for a in policy.actions}
        self.slots = [a.id if a.id in own else None for a in actions]
        # A constraint that reads a fact no decision reads is not applied (as in space.possible_assignments): the
        # interpreter resolves only the facts decisions read, and such a constraint cannot rule a decision out.
        self.constraints = [(name, expr) for name, expr in policy.constraints.items() if depends_on(policy, [expr]) <= read]
        self.missing_action = Outcome.absent(f"{policy.spec.label} has no such action")
        self.conditions = _Conditions(policy, self.interpreter)

    def decide(self, values: Sequence[Any]) -> tuple[tuple[Outcome, ...], tuple[str, ...], bool]:
        """``(outcomes, broken constraints, decidable)``: not decidable when a value the policy reads is not one
        it declares (every outcome is then ``absent``)."""
        assignment = {**self.fixed, **dict(zip(self.axis_names, values, strict=True))}
        env, problems = self.interpreter.resolve(assignment, defaults=False)  # a fact off the axes stays free
        undeclared = [p for p in problems if p.fact in self.checked]
        decisions = self.interpreter.run(env)
        broken = tuple(name for name, expr in self.constraints if self.interpreter.value(expr, env) is False)
        if undeclared:
            values_text = ", ".join(f"{p.fact} = {show_value(assignment[p.fact])}" for p in undeclared)
            why = Outcome.absent(f"{self.policy.spec.label} does not declare {values_text}")
            return tuple(why for _ in self.slots), broken, False
        outcomes = []
        for slot in self.slots:
            if slot is None:
                outcomes.append(self.missing_action)
                continue
            outcome = Outcome.of(decisions[slot])
            if outcome.state == "undecided":
                outcome = self.conditions.refine(slot, outcome, assignment, env)
            outcomes.append(outcome)
        return tuple(outcomes), broken, True


class _Conditions:
    """Describes an undecided outcome by conditions: with the finite facts of one combination fixed, under which
    values of the held-unknown facts the action is enabled, disabled or hidden (decided by the SMT solver; the
    outcome stays plainly undecided when the solver is missing or cannot decide). Conditions are written with the
    policy's own condition texts, named conditions spelled out: ``not (order.total > 1000)``."""

    def __init__(self, policy: CompiledPolicy, interpreter: Interpreter) -> None:
        self.policy = policy
        self.interpreter = interpreter
        self.actions = {a.id: a for a in policy.actions}
        self._terms: Any = None
        self._cache: dict[tuple[Any, ...], Outcome] = {}

    def refine(self, action_id: str, outcome: Outcome, assignment: Mapping[str, Any], env: dict[Any, Any]) -> Outcome:
        action = self.actions[action_id]
        reads = depends_on(self.policy, action.exprs())
        fixed = {k: v for k, v in assignment.items() if k in reads}
        key = (action_id, outcome, tuple(sorted(fixed.items())))
        if key not in self._cache:
            self._cache[key] = self._refine(action, outcome, fixed, env)
        return self._cache[key]

    def _refine(self, action: CompiledAction, outcome: Outcome, fixed: Mapping[str, Any], env: dict[Any, Any]) -> Outcome:
        if not smt.available():
            return outcome
        try:
            if self._terms is None:
                encoder = smt.Encoder()
                self._terms = (encoder, encoder.policy(self.policy))
            encoder, terms = self._terms
            z3 = smt.z3
            pin = encoder.fix(fixed)

            def possible(formula: Any) -> bool | None:
                verdict = smt.satisfiable(encoder, z3.And(pin, formula))
                return None if verdict.undecided else verdict.holds

            state = terms.action(action.id)
            formulas = {"enabled": state.enabled, "disabled": z3.And(state.visible, z3.Not(state.enabled)),
                        "hidden": z3.Not(state.visible)}
            may_be = [s for s, f in formulas.items() if possible(f)]
            if None in (possible(f) for f in formulas.values()) or len(may_be) < 2:
                return outcome if len(may_be) != 1 else attrs.evolve(outcome, may_be=tuple(may_be))
            parts: dict[str, bool | str] = {}
            for label, expr in [("visible", action.visible), ("allow", action.allow),
                                *((f"guard {g.spec.id}", g.when) for g in action.guards)]:
                value = self.interpreter.value(expr, env)
                if not isinstance(value, Unknown):
                    parts[label] = bool(value)
                    continue
                cond = terms.expr(expr)
                can_true, can_false = possible(cond.true), possible(cond.false)
                if can_true is None or can_false is None:
                    return outcome
                parts[label] = self._text(expr) if can_true and can_false else bool(can_true)
        except smt.Unsupported:
            return outcome
        texts = self._describe(parts)
        return attrs.evolve(outcome, may_be=tuple(may_be), conditions=tuple((s, texts[s]) for s in may_be))

    def _text(self, expr: CompiledExpr) -> str:
        text = expr.text.strip()
        if text in self.policy.conditions:  # a bare named condition: spell it out
            return self._text(self.policy.conditions[text])
        return text

    @staticmethod
    def _describe(parts: Mapping[str, bool | str]) -> dict[str, str]:
        """Each state's condition from the parts that vary (text) and those fixed (bool)."""
        def conj(items: Sequence[str]) -> str:
            return " and ".join(f"({i})" if len(items) > 1 and " " in i else i for i in items) or "true"

        def disj(items: Sequence[str]) -> str:
            return " or ".join(f"({i})" if len(items) > 1 and " " in i else i for i in items) or "false"

        def negate(item: str) -> str:
            return f"not ({item})" if " " in item else f"not {item}"

        visible = parts["visible"]
        guards = [v for k, v in parts.items() if k.startswith("guard ")]
        shown = [] if visible is True else [str(visible)]
        allow = parts["allow"]
        if allow is False or True in guards:  # disabled wherever shown
            enabled, disabled = "false", conj(shown)
        else:
            blocking = ([] if allow is True else [negate(str(allow))]) + [str(g) for g in guards if isinstance(g, str)]
            enabled = conj([*shown, *([] if allow is True else [str(allow)]),
                            *(negate(str(g)) for g in guards if isinstance(g, str))])
            disabled = conj([*shown, disj(blocking)]) if blocking else "false"
        return {"enabled": enabled, "disabled": disabled, "hidden": negate(str(visible)) if shown else "false"}


def space_size(axes: Sequence[Axis]) -> int:
    return combinations(a.values for a in axes)


def check_size(axes: Sequence[Axis], limit: int) -> None:
    size = space_size(axes)
    if size > limit:
        sizes = " x ".join(f"{a.name}({len(a.values)})" for a in axes)
        raise MatrixTooLarge(f"{size} combinations ({sizes}) is more than the limit of {limit}")


def fix_facts(policy: CompiledPolicy, facts: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """``facts`` (fact name -> value) checked against ``policy`` and normalised, in declaration order. Raises
    :class:`ValueError` for a fact the policy does not declare or a value its type does not accept."""
    declared = {f.name: f for f in policy.facts}
    unknown = [name for name in facts if name not in declared]
    if unknown:
        raise ValueError(f"not facts of {policy.spec.label}: {', '.join(unknown)}")
    out = []
    for fact in policy.facts:
        if fact.name in facts:
            value, problem = check_value(fact, facts[fact.name])
            if problem:
                raise ValueError(f"{fact.name}: {problem}")
            out.append((fact.name, value))
    return tuple(out)


def build_matrix(policy: CompiledPolicy, *, store: str | None = None, store_override: str | None = None,
                 include_impossible: bool = False, axes: Sequence[Axis] | None = None,
                 actions: Sequence[ActionInfo] | None = None, limit: int = MAX_COMBINATIONS,
                 facts: Mapping[str, Any] | None = None) -> Matrix:
    """The decision matrix of ``policy`` over ``axes`` (default: :func:`axes_of`) for ``actions`` (default: the
    policy's; an action it does not have is ``absent``). Combinations its constraints rule out are left out of
    :attr:`Matrix.rows` unless ``include_impossible``. Raises :class:`MatrixTooLarge` beyond ``limit``.

    ``facts`` fixes facts to one value each (``{"order.total": 1500, "user.role": "admin"}``): a fixed enum or
    bool is no longer an axis, and a fixed number, string or set is no longer held unknown, so the decisions that
    depend on it are decided. Raises :class:`ValueError` for an undeclared fact or a value of the wrong type."""
    fixed = fix_facts(policy, facts or {})
    names = {name for name, _ in fixed}
    axes = tuple(a for a in (axes_of(policy) if axes is None else axes) if a.name not in names)
    actions = tuple(actions_of(policy) if actions is None else actions)
    check_size(axes, limit)
    decider = Decider(policy, axes, actions, dict(fixed))
    combinations = []
    for values in itertools.product(*(a.values for a in axes)):
        outcomes, broken, decidable = decider.decide(values)
        combinations.append(Combination(values, not broken, outcomes, broken, decidable))
    axis_names = {a.name for a in axes}
    read = [policy.facts[i] for i in policy.needed]
    held = tuple((f.name, f.type) for f in read if f.name not in axis_names and f.name not in names)
    read_names = {f.name for f in read}
    not_read = tuple((f.name, f.type) for f in policy.facts if f.name not in read_names and f.name not in axis_names)
    applied = {name for name, _ in decider.constraints}
    constraints = tuple(ConstraintInfo(c.name, c.expr.text, c.description, c.name in applied)
                        for c in policy.spec.constraints)
    rows, by_action = group(axes, actions, combinations, include_impossible)
    return Matrix(policy.spec.label, store, store_override, axes, held, not_read, constraints, actions,
                  tuple(combinations), include_impossible, rows, by_action, fixed)


def group(axes: Sequence[Axis], actions: Sequence[ActionInfo], combinations: Sequence[Combination],
          include_impossible: bool) -> tuple[tuple[Row, ...], tuple[ActionSummary, ...]]:
    """Rows of identical decisions, and each action's outcomes, each described by a cube cover."""
    space = Space(axes)
    dont_care = set() if include_impossible else {i for i, c in enumerate(combinations) if not c.possible}
    shown = [(i, c) for i, c in enumerate(combinations) if i not in dont_care]
    by_row: dict[tuple[Outcome, ...], list[int]] = {}
    for i, c in shown:
        by_row.setdefault(c.outcomes, []).append(i)
    rows = tuple(Row(outcomes, space.cover(ids, dont_care), len(ids)) for outcomes, ids in by_row.items())
    summaries = []
    for k, action in enumerate(actions):
        by_outcome: dict[Outcome, list[int]] = {}
        for i, c in shown:
            by_outcome.setdefault(c.outcomes[k], []).append(i)
        summaries.append(ActionSummary(action, tuple(ActionGroup(o, space.cover(ids, dont_care), len(ids))
                                                     for o, ids in by_outcome.items())))
    return rows, tuple(summaries)


# -- cube covers -----------------------------------------------------------------------------------------------------


class Space:
    """The product of the axes' domains, combinations numbered in enumeration order (first axis slowest)."""

    def __init__(self, axes: Sequence[Axis]) -> None:
        self.axes = tuple(axes)
        self.sizes = [len(a.values) for a in axes]
        self.strides = [1] * len(axes)
        for k in range(len(axes) - 2, -1, -1):
            self.strides[k] = self.strides[k + 1] * self.sizes[k + 1]

    def ids(self, cube: Sequence[Collection[int]]) -> Iterator[int]:
        """The numbers of the combinations in ``cube`` (a value-index set per axis)."""
        for point in itertools.product(*cube):
            yield sum(v * s for v, s in zip(point, self.strides, strict=True))

    def point(self, number: int) -> list[int]:
        return [(number // s) % n for s, n in zip(self.strides, self.sizes, strict=True)]

    def cover(self, on: Iterable[int], dont_care: Iterable[int] = ()) -> tuple[Cube, ...]:
        """Few, large cubes covering exactly the combinations ``on`` (possibly also some ``dont_care`` ones)."""
        return tuple(self.to_cube(c) for c in self.cover_indices(on, dont_care))

    def cover_indices(self, on: Iterable[int], dont_care: Iterable[int] = ()) -> list[list[frozenset[int]]]:
        targets = sorted(set(on))
        allowed = set(targets) | set(dont_care)
        uncovered = set(targets)
        cubes: list[list[frozenset[int]]] = []
        for seed in targets:
            if seed in uncovered:
                cube = self.expand([frozenset({v}) for v in self.point(seed)], allowed, uncovered)
                cubes.append(cube)
                uncovered -= set(self.ids(cube))
        return self.irredundant(cubes, set(targets))

    def expand(self, cube: list[frozenset[int]], allowed: set[int], uncovered: set[int]) -> list[frozenset[int]]:
        """Grow ``cube`` one axis at a time, each time along the axis that covers the most ``uncovered``
        combinations (then: that shortens the description most), never leaving ``allowed``."""
        while True:
            best: tuple[int, int, int] | None = None
            best_set: frozenset[int] = frozenset()
            for k in range(len(cube)):
                grown = set(cube[k])
                gain = 0
                for v in range(self.sizes[k]):
                    if v in cube[k]:
                        continue
                    piece = list(self.ids([*cube[:k], frozenset((v,)), *cube[k + 1:]]))
                    if all(i in allowed for i in piece):
                        grown.add(v)
                        gain += sum(1 for i in piece if i in uncovered)
                if len(grown) == len(cube[k]):
                    continue
                shorter = self.cost(len(cube[k]), k) - self.cost(len(grown), k)
                if gain == 0 and shorter <= 0:
                    continue
                key = (gain, shorter, -k)
                if best is None or key > best:
                    best, best_set = key, frozenset(grown)
            if best is None:
                return cube
            k = -best[2]
            cube = [*cube[:k], best_set, *cube[k + 1:]]

    def cost(self, count: int, k: int) -> int:
        """How many values describing ``count`` of axis ``k``'s values lists (0 for all of them)."""
        size = self.sizes[k]
        return 0 if count == size else min(count, size - count)

    def irredundant(self, cubes: list[list[frozenset[int]]], targets: set[int]) -> list[list[frozenset[int]]]:
        """Drop cubes whose target combinations the others cover (smallest first); keep enumeration order."""
        members = [set(self.ids(c)) & targets for c in cubes]
        keep = list(range(len(cubes)))
        for j in sorted(range(len(cubes)), key=lambda j: (len(members[j]), -j)):
            others: set[int] = set().union(*(members[i] for i in keep if i != j))
            if members[j] <= others:
                keep.remove(j)
        return [cubes[i] for i in keep]

    def to_cube(self, cube: Sequence[frozenset[int]]) -> Cube:
        terms = []
        for axis, chosen in zip(self.axes, cube, strict=True):
            if len(chosen) < len(axis.values):
                terms.append((axis.name, tuple(axis.values[v] for v in sorted(chosen))))
        return Cube(tuple(terms))


def cover(axes: Sequence[Axis], on: Iterable[Mapping[str, Any]], dont_care: Iterable[Mapping[str, Any]] = ()) -> tuple[Cube, ...]:
    """Cubes covering exactly the assignments ``on`` (fact -> value over ``axes``), maybe some ``dont_care``."""
    space = Space(axes)
    index = [{v: j for j, v in enumerate(a.values)} for a in axes]

    def number(assignment: Mapping[str, Any]) -> int:
        return sum(index[k][assignment[a.name]] * space.strides[k] for k, a in enumerate(axes))

    return space.cover(map(number, on), map(number, dont_care))
