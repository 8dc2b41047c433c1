"""Part of stage 4, evaluate: the unspecialised evaluator, one condition at a time.

It is what the generated fast path falls back to when a fact is bad (it knows which conditions a bad fact makes
unknown and fails closed), and what analysis (lock checks on store overrides, ``explain``) uses to see the value
of every condition. Each condition runs as its whole Python translation while nothing it reads is unknown and
nothing raises; otherwise its IR is evaluated by the one three-valued evaluator (:mod:`~policyengine.ir.kleene`),
each atom by the Python :mod:`~policyengine.ir.python` emits for it. The fast path shares that translation and the
decision builder, so they cannot drift apart; the conformance corpus checks that they agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..errors import FactProblem
from ..ir import kleene
from ..ir.kleene import Unknown, problems_of
from ..ir.nodes import ActionRef, ConditionRef, Fact, Node
from ..ir.python import PythonSource, function
from ..ir.python import namespace_for as ir_namespace
from ..ir.values import MISSING, check_value  # the one definition of an acceptable value (re-exported: older imports)
from ..ir.walk import nodes
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from .decision import Decision, Decisions, DecisionsMeta, Effect, Source, State
from .reasons import allow_reason, fact_reason, guard_reason, visible_reason

__all__ = ["MISSING", "Unknown", "ActionShape", "Interpreter", "check_value", "namespace_for"]


def namespace_for(policy: CompiledPolicy) -> dict[str, Any]:
    """Globals for generated code: the policy's constants and the few builtins translations use, nothing else."""
    return ir_namespace(policy.constants)


@attrs.frozen(slots=True)
class ActionShape:
    """Builds one action's decisions from what varies: allow, which guards fired, which conditional effects apply."""

    action: CompiledAction
    hidden: Decision

    @classmethod
    def of(cls, action: CompiledAction) -> ActionShape:
        return cls(action, hidden_decision(action))

    @property
    def bits(self) -> int:
        """allow + one per guard + one per conditional effect: the width of this action's decision-table key."""
        return 1 + len(self.action.guards) + sum(1 for e in self.action.effects if e.when is not None)

    def allow_reason(self) -> str:
        spec = self.action.spec
        return spec.allow_reason or f"not allowed: `{spec.allow.text}` is false"

    def build(self, allow: bool | None, fired: tuple[bool | None, ...], effects_on: tuple[bool | None, ...],
              errors: tuple[FactProblem, ...] = ()) -> Decision:
        """The decision of a visible action. ``None`` marks a condition that could not be evaluated (fail closed:
        it never enables the action, and the reasons say it could not be decided rather than that it was false)."""
        action, spec = self.action, self.action.spec
        guards = list(zip(action.guards, fired, strict=True))
        enabled = allow is True and all(on is False for _, on in guards) and not errors
        # each reason with its id, from the compiled action (runtime/reasons.py is the one definition of ids)
        details = [allow_reason(spec.id, self.allow_reason())] if allow is False else []
        details += [guard_reason(spec.id, g.spec.id, g.spec.reason) for g, on in guards if on]
        details += [fact_reason(problem) for problem in errors]
        sources = [] if allow is True and not enabled else [_source("allow", None, action.allow)]
        sources += [_source("guard", g.spec.id, g.when) for g, on in guards if on is not False]
        effects = []
        conditional = iter(effects_on)
        for effect in action.effects:
            if effect.when is None or next(conditional) is True:
                effects.append(Effect(effect.spec.set, effect.spec.operation))
        state: State = "enabled" if enabled else "disabled"
        detail = () if enabled else tuple(details)
        return Decision(spec.id, spec.label, state, tuple(r.text for r in detail), spec.confirm,
                        tuple(effects), errors, tuple(sources), spec.destructive, detail)

    def from_key(self, key: int) -> Decision:
        """The decision for a table key: bit 0 allow, then one bit per guard, then per conditional effect."""
        guards = len(self.action.guards)
        effects = self.bits - 1 - guards
        return self.build(bool(key & 1), tuple(bool(key >> (1 + i) & 1) for i in range(guards)),
                          tuple(bool(key >> (1 + guards + i) & 1) for i in range(effects)))


def _source(kind: str, guard_id: str | None, expr: CompiledExpr) -> Source:
    return Source(kind, guard_id, expr.where, expr.text)


def hidden_decision(action: CompiledAction, errors: tuple[FactProblem, ...] = ()) -> Decision:
    """The decision of a hidden action: its visibility is false, or (with ``errors``) could not be decided."""
    spec = action.spec
    if errors:
        details = tuple(fact_reason(problem) for problem in errors)
    else:
        details = (visible_reason(spec.id, spec.hidden_reason or f"not shown: `{spec.visible.text}` is false"),)
    return Decision(spec.id, spec.label, "hidden", tuple(r.text for r in details), spec.confirm, (), errors,
                    (_source("visible", None, action.visible),), spec.destructive, details)


Step = Callable[[dict[Any, Any]], Any]
"""One condition compiled: environment -> True, False or :class:`Unknown`."""

_TRUSTING = frozenset({"visible", "hidden"})
"""The action states an atom may read of an action shown but disabled by errors and still be known (issue 23)."""


@attrs.frozen(slots=True)
class _Atom:
    """One atom of the IR as a function of exactly the names it reads (sorted: the order problems are reported in),
    and the actions it reads only for their visibility."""

    fn: Callable[..., Any]
    params: tuple[str, ...]
    trusted: frozenset[str]


def _apply(expr: CompiledExpr, fn: Callable[..., Any], params: tuple[str, ...], trusted: frozenset[str],
           env: dict[Any, Any]) -> Any:
    """``fn`` over ``params`` read from ``env``: its value, or Unknown when anything it reads is or it fails."""
    problems: list[FactProblem] = []
    args = []
    for name in params:
        arg = env[name]
        if arg.__class__ is Unknown:
            problems += arg.problems
        elif arg.__class__ is Decision and arg.errors and not (name in trusted and arg.state != "hidden"):
            problems += arg.errors  # a state decided under errors is never trusted by another action
        args.append(arg)
    if problems:
        return Unknown(tuple(dict.fromkeys(problems)))
    try:
        return bool(fn(*args))
    except Exception as exc:  # e.g. a division by zero in a numeric condition: unknown, fail closed
        facts = ", ".join(sorted(expr.facts)) or "(condition)"
        return Unknown((FactProblem(facts, f"`{expr.text}` ({expr.where}) failed: {exc!r}"),))


class Interpreter:
    """Evaluates a compiled policy condition by condition over already-resolved fact values.

    The environment maps ``f<i>`` (fact values, or :class:`Unknown` for bad facts), ``c_<name>`` (named
    conditions), ``a_<id>`` (decisions) and ``id(expr)`` (every condition's value, for tracing).
    """

    def __init__(self, policy: CompiledPolicy, meta: DecisionsMeta | None = None,
                 shapes: Mapping[str, ActionShape] | None = None) -> None:
        self.policy = policy
        self.fact_index = {f.name: i for i, f in enumerate(policy.facts)}
        # ``shapes``: already built for these very actions (an engine shares a store's untouched actions' shapes)
        self.shapes = dict(shapes) if shapes is not None else {a.id: ActionShape.of(a) for a in policy.actions}
        self.meta = meta or DecisionsMeta({a.id: i for i, a in enumerate(policy.actions)}, policy.spec.label)
        self._namespace: dict[str, Any] | None = None  # built with the first step (most interpreters need none)
        self._atoms: dict[Node, _Atom] = {}  # the fallback's atoms, compiled on first need (most are never)
        self._prefixes = itertools.count()  # names the constants of each atom's source apart
        # Each condition's step is compiled on its first use, not here: an engine builds one interpreter per store
        # policy for the fail-closed path, which most stores never take (eager steps were a third of a load).
        self._steps: dict[int, Step] = {}
        # Facts decisions read, and those only constraints read (analysis asks about them too).
        constrained = {self.fact_index[f] for e in policy.constraints.values() for f in e.facts}
        self._resolved = sorted(set(policy.needed) | constrained)

    def _exprs(self) -> list[CompiledExpr]:
        policy = self.policy
        return [*policy.conditions.values(), *(e for a in policy.actions for e in a.exprs()), *policy.constraints.values()]

    def resolve(self, values: Mapping[str, Any], *, defaults: bool = True) -> tuple[dict[Any, Any],
                                                                                    tuple[FactProblem, ...]]:
        """An environment from fact name -> raw value (absent = missing: its declared default, as the engine reads
        a host's input), checking every fact a decision or a constraint reads. Problems are reported for the facts
        decisions read only. ``defaults=False`` (analysis over partial rows): an absent fact is missing even when it
        declares a default, so a default never stands in for a fact an analysis left free."""
        env: dict[Any, Any] = {}
        problems: list[FactProblem] = []
        for i in self._resolved:
            fact = self.policy.facts[i]
            raw = values.get(fact.name, MISSING)
            value, message = (raw, "missing") if raw is MISSING and not defaults else check_value(fact, raw)
            if message:
                problem = FactProblem(fact.name, message)
                if i in self.policy.needed:
                    problems.append(problem)
                env[f"f{i}"] = Unknown((problem,))
            else:
                env[f"f{i}"] = value
        return env, tuple(problems)

    def run(self, env: dict[Any, Any]) -> Decisions:
        """Evaluate every condition and action in dependency order into ``env``; return the decisions."""
        policy = self.policy
        for kind, name in policy.order:
            if kind == "condition":
                env[f"c_{name}"] = self.value(policy.conditions[name], env)
            else:
                env[f"a_{name}"] = self._action(self.shapes[name], env)
        return Decisions(tuple(env[f"a_{a.id}"] for a in policy.actions), self.meta)

    def value(self, expr: CompiledExpr, env: dict[Any, Any]) -> Any:
        """``expr``'s value (bool, or :class:`Unknown`), recorded in ``env`` under ``id(expr)``."""
        step = self._steps.get(id(expr))
        if step is None:  # a racing thread at worst compiles an equal step twice
            step = self._steps[id(expr)] = self._step(expr)
        result = step(env)
        env[id(expr)] = result
        return result

    def _names(self) -> dict[str, Any]:
        if self._namespace is None:
            self._namespace = namespace_for(self.policy)
        return self._namespace

    def _step(self, expr: CompiledExpr) -> Step:
        """The condition as one Python function while everything it reads is known and nothing raises (the common
        case, and as fast as before); else its IR evaluated in Kleene's logic (:mod:`~policyengine.ir.kleene`),
        each atom by its own function. The two agree whenever the first does not fail (see :mod:`.codegen`)."""
        params = tuple(sorted({f"f{self.fact_index[f]}" for f in expr.facts} | {f"c_{c}" for c in expr.conditions}
                              | {f"a_{a}" for a in expr.actions}))
        whole = function(params, expr.python, self._names())
        untrusted: frozenset[str] = frozenset()

        def evaluate(env: dict[Any, Any]) -> Any:
            value = _apply(expr, whole, params, untrusted, env)
            if value.__class__ is not Unknown:
                return value
            return kleene.evaluate(expr.ir, lambda node: self._atom_value(expr, node, env))
        return evaluate

    def _atom_value(self, expr: CompiledExpr, node: Node, env: dict[Any, Any]) -> Any:
        atom = self._atom(node)
        return _apply(expr, atom.fn, atom.params, atom.trusted, env)

    def _atom(self, node: Node) -> _Atom:
        """``node`` compiled on first need, once per interpreter however many conditions share it."""
        atom = self._atoms.get(node)
        if atom is None:  # a racing thread at worst compiles it twice (its constants under another prefix)
            names = self._names()
            source = PythonSource(f"i{next(self._prefixes)}", names).expr(node)
            reads: set[str] = set()
            untrusted: set[str] = set()
            for part in nodes(node):
                if isinstance(part, Fact):
                    reads.add(f"f{part.index}")
                elif isinstance(part, ConditionRef):
                    reads.add(f"c_{part.name}")
                elif isinstance(part, ActionRef):
                    reads.add(f"a_{part.action}")
                    if part.state not in _TRUSTING:
                        untrusted.add(f"a_{part.action}")
            # An action read only for its visibility stays known when that action is shown but disabled by errors,
            # however the atom spells it (`not actions.a.hidden`, `actions.a.hidden == false`: issue 23).
            trusted = frozenset(n for n in reads if n.startswith("a_")) - untrusted
            params = tuple(sorted(reads))
            atom = self._atoms[node] = _Atom(function(params, source, names), params, trusted)
        return atom

    def action_state(self, action: str, state: str, decision: Decision) -> bool:
        """Whether ``decision`` (of ``action``) is in ``state``, as a condition reading ``actions.<action>.<state>``
        sees it, errors aside."""
        return bool(self._atom(ActionRef(action, state)).fn(decision))

    def _action(self, shape: ActionShape, env: dict[Any, Any]) -> Decision:
        action = shape.action
        visible = self.value(action.visible, env)
        if visible.__class__ is Unknown:
            return hidden_decision(action, visible.problems)
        if not visible:
            return shape.hidden
        allow = self.value(action.allow, env)
        fired = tuple(self.value(g.when, env) for g in action.guards)
        effects_on = tuple(self.value(e.when, env) for e in action.effects if e.when is not None)
        errors = problems_of(allow, *fired, *effects_on)
        if not errors:
            return shape.build(allow, fired, effects_on)
        return shape.build(_decided(allow), tuple(map(_decided, fired)), tuple(map(_decided, effects_on)), errors)

    def broken_constraints(self, env: dict[Any, Any]) -> list[str]:
        """The ids of the policy's constraints that ``env`` (after :meth:`run`) definitely breaks."""
        return [name for name, expr in self.policy.constraints.items() if self.value(expr, env) is False]

    def evaluate(self, values: Mapping[str, Any]) -> tuple[Decisions, dict[Any, Any]]:
        """Decide from fact name -> value (a flat mapping, no adapter); also return the full environment."""
        env, _ = self.resolve(values)
        return self.run(env), env


def _decided(value: Any) -> bool | None:
    """A condition's value as :meth:`ActionShape.build` takes it: None when it could not be decided."""
    return None if value.__class__ is Unknown else bool(value)
