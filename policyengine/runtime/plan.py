"""Query plans: which orders an action applies to, as a condition over the order's and the store's facts.

:func:`build_plan` partially evaluates a policy: the user's facts are known, so they are substituted and every
condition is constant-folded; what is left reads only facts of the order row (``order.*``, ``store.*``...). The
result is exact, bad facts included, because it models how ``evaluate`` decides under errors rather than the
conditions alone: a condition's skeleton (``and``/``or``/``not``/``?:`` from its top) is three-valued (Kleene's
logic) over atoms (everything else), as in :mod:`.interpret`. For every skeleton node ``c`` the planner builds:

* ``known(c)``: ``c`` can be decided. For an atom: every row fact it reads holds a good value (:class:`Valid`),
  the user's facts it reads are good, the named conditions it reads are known, the actions it reads are trusted;
  for a connective or ``?:``: an operand that decides is known, or all it needs are;
* ``value(c)``: ``c``'s value, meaningful where ``known(c)`` holds;
* its problems: (where, reason) pairs in the order ``evaluate`` lists them, each present only where ``c`` is
  unknown (and some one is wherever it is), so the first present one is ``bulk``'s reason.

An action is then *visible* where ``known(visible) and value(visible)``, and *enabled* where it is visible and its
allow, every guard and every effect condition are known, allow is true and no guard fires. Orders of a store whose
policy has no such action count as hidden. Without a store, the plan dispatches on ``store.id`` exactly as
``evaluate`` does (a bad ``store.id`` hides every action).

Everything is presentation- and database-free: :mod:`policyengine.sql` turns a plan into SQL.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, Union

import attrs
from rule_engine import ast

from ..errors import FactProblem, PolicyError
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import FactSpec
from ..pipeline.numbers import ARITHMETIC, to_decimal
from ..pipeline.regexes import MAX_MATCHED_LENGTH, RegexTooLong, too_long
from .adapters import read_failure
from .interpret import ActionShape, check_value, hidden_decision
from .reasons import FAIL_CLOSED, store_mismatch_problem

__all__ = ["PLAN_BUDGET", "PLAN_STATES", "Guard", "IsTrue", "Known", "tree_size", "within_budget", "And", "Arith",
           "Compare", "Fact", "Fail", "Failure", "IfElse", "In", "Length", "Match", "Neg", "Node", "Not", "Or",
           "Plan", "PlanCache", "PlanError", "PlanState", "Problem", "ReasonPlan", "Succeeds", "Valid", "Value",
           "arithmetic", "build_plan", "build_reasons", "failure", "first_failure", "holds", "regex_match", "FALSE",
           "TRUE"]

PLAN_BUDGET = 3_000
"""The most nodes one store's plan (or its reasons) may have written out as a tree (see :func:`tree_size`): about
300 characters of SQL each, so under 1 MB of SQL per store. A policy whose plan is larger is refused with a
:class:`PlanError` naming it (in an every-store plan: that store alone fails closed)."""

PlanState = Literal["enabled", "disabled", "hidden", "visible"]
PLAN_STATES: tuple[str, ...] = ("enabled", "disabled", "hidden", "visible")
STORE_FACT = "store.id"


class PlanError(PolicyError):
    """A plan cannot be built exactly (a computation that can fail inside a short-circuit nested in a comparison),
    or a database cannot compute one of its constructs exactly (PostgreSQL: ``**``, some regex constructs; see
    docs/plans.md). Raised rather than returning a wrong plan."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.diagnostics = ()
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- the expression tree ----------------------------------------------------------------------------------------
# Every node is a small frozen value with ``to_dict()``; ``type`` says what it evaluates to: "bool", "string",
# "number", "set" (a set fact), "list" (a literal collection). Enum facts have type "enum" and compare as strings.


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: "0.1", never a binary float
    if isinstance(value, frozenset):
        return sorted((_json_value(v) for v in value), key=lambda v: (type(v).__name__, v))
    return value


@attrs.frozen(slots=True)
class Value:
    """A constant: ``true``/``false``, a string, a number (an exact ``Decimal``), or a literal collection."""

    value: bool | str | Decimal | frozenset[Any]
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": "value", "type": self.type, "value": _json_value(self.value)}


TRUE = Value(True, "bool")
FALSE = Value(False, "bool")


def constant(value: Any, kind: str) -> Value:
    """A constant node; booleans are always the :data:`TRUE`/:data:`FALSE` singletons (folding tests identity)."""
    if kind == "bool":
        return TRUE if value else FALSE
    return Value(value, kind)


@attrs.frozen(slots=True)
class Fact:
    """A fact of the order row, by its declared name and type (enum facts carry their declared values)."""

    name: str
    type: str
    values: tuple[str, ...] = ()
    default: Any = None
    """The fact's declared ``default:`` (a set fact's as a frozenset), or None: what a row without the fact
    reads, so a query whose ``columns`` leave the fact out uses it (see :func:`policyengine.sql.where`)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": "fact", "name": self.name, "type": self.type}
        if self.values:
            out["values"] = list(self.values)
        if self.default is not None:
            out["default"] = sorted(self.default) if isinstance(self.default, frozenset) else self.default
        return out


@attrs.frozen(slots=True, cache_hash=True)
class Valid:
    """True where the fact holds a good value of its declared type: not missing or null, of the right type, an
    enum value among those declared, a finite number, a set of strings only. False otherwise (never unknown)."""

    fact: Fact
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "valid", "fact": self.fact.to_dict()}


@attrs.frozen(slots=True, cache_hash=True)
class Compare:
    """``left <op> right`` with ``op`` one of ``== != < <= > >=`` (numbers exactly, strings by code point)."""

    op: str
    left: Node
    right: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "args": [self.left.to_dict(), self.right.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class In:
    """``member in container``: a literal list, a set fact, or a string (then: substring)."""

    member: Node
    container: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "in", "args": [self.member.to_dict(), self.container.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Length:
    """``value.length``: characters of a string, members of a set."""

    value: Node
    type = "number"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "length", "args": [self.value.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Match:
    """A regular expression (Python's ``re``): ``search`` anywhere, else match at the start."""

    value: Node
    pattern: str
    search: bool
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "search" if self.search else "match", "args": [self.value.to_dict()], "pattern": self.pattern}


@attrs.frozen(slots=True, cache_hash=True)
class Arith:
    """``left <op> right`` with ``op`` one of ``+ - * / // % **``, computed as rule-engine does: in decimal under
    :data:`~policyengine.pipeline.numbers.CONTEXT` (28 significant digits, half-even), ``//`` and ``%`` truncating
    toward zero. It may fail (a division by zero...): see :class:`Succeeds`."""

    op: str
    left: Node
    right: Node
    type = "number"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "args": [self.left.to_dict(), self.right.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Neg:
    """``-value``."""

    value: Node
    type = "number"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "neg", "args": [self.value.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Fail:
    """A computation that fails whatever the row holds (a division by zero among the user's facts): ``error`` is
    the ``repr`` of the exception ``evaluate`` meets, which its reason quotes."""

    error: str
    kind: str = "number"

    @property
    def type(self) -> str:
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {"op": "fail", "type": self.kind, "error": self.error}


@attrs.frozen(slots=True, cache_hash=True)
class Succeeds:
    """True where computing ``values`` in order raises nothing (their row facts assumed good): arithmetic fails on
    a division by zero, a ``//`` or ``%`` whose quotient passes 28 digits, an overflow; a regex on a string past
    4,096 characters. Where it is false, the atom computing them is unknown, as ``evaluate`` decides, and its
    reason quotes the first failure (see :func:`failure`)."""

    values: tuple[Node, ...]
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "succeeds", "args": [v.to_dict() for v in self.values]}


@attrs.frozen(slots=True, cache_hash=True)
class IfElse:
    """``test ? then : otherwise``."""

    test: Node
    then: Node
    otherwise: Node

    @property
    def type(self) -> str:
        return self.then.type

    def to_dict(self) -> dict[str, Any]:
        return {"op": "if", "args": [self.test.to_dict(), self.then.to_dict(), self.otherwise.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class And:
    args: tuple[Node, ...]
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "and", "args": [a.to_dict() for a in self.args]}


@attrs.frozen(slots=True, cache_hash=True)
class Or:
    args: tuple[Node, ...]
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "or", "args": [a.to_dict() for a in self.args]}


@attrs.frozen(slots=True, cache_hash=True)
class Not:
    arg: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "not", "args": [self.arg.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Known:
    """True where ``arg`` (a three-valued condition) is decided, false where it is unknown (never unknown)."""

    arg: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "known", "args": [self.arg.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class IsTrue:
    """True where ``arg`` is true, false where it is false or unknown (never unknown)."""

    arg: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "is-true", "args": [self.arg.to_dict()]}


@attrs.frozen(slots=True, cache_hash=True)
class Guard:
    """``value`` where ``known`` holds, unknown elsewhere: an atom of a condition's skeleton (``known`` says every
    fact it reads is good and its computation succeeds). ``Guard(FALSE, FALSE)`` is the always-unknown atom."""

    known: Node
    value: Node
    type = "bool"

    def to_dict(self) -> dict[str, Any]:
        return {"op": "guard", "args": [self.known.to_dict(), self.value.to_dict()]}


Node = Union[Value, Fact, Valid, Compare, In, Length, Match, Arith, Neg, IfElse, And, Or, Not, Fail, Succeeds, Known,  # noqa: UP007
             IsTrue, Guard]


# -- constructors that fold constants ---------------------------------------------------------------------------
def and_(*args: Node) -> Node:
    out: dict[Node, None] = {}
    for arg in args:
        for item in (arg.args if isinstance(arg, And) else (arg,)):
            if item is FALSE:
                return FALSE
            if item is not TRUE:
                out[item] = None
    if any(item.__class__ is Guard for item in out):  # `k and (v where k)` is `k and v`
        out = {(_unguarded(item, out) if item.__class__ is Guard else item): None for item in out}
    items = tuple(out)
    return TRUE if not items else items[0] if len(items) == 1 else And(items)


def _unguarded(item: Any, siblings: Mapping[Node, None]) -> Node:
    parts = item.known.args if item.known.__class__ is And else (item.known,)
    return item.value if all(p in siblings for p in parts) else item  # type: ignore[no-any-return]


def or_(*args: Node) -> Node:
    out: dict[Node, None] = {}
    for arg in args:
        for item in (arg.args if isinstance(arg, Or) else (arg,)):
            if item is TRUE:
                return TRUE
            if item is not FALSE:
                out[item] = None
    items = tuple(out)
    return FALSE if not items else items[0] if len(items) == 1 else Or(items)


def not_(arg: Node) -> Node:
    if arg is TRUE or arg is FALSE:
        return FALSE if arg is TRUE else TRUE
    if isinstance(arg, Not):
        return arg.arg
    if isinstance(arg, Guard):  # (a forward reference: Guard is defined above, not_ is called only later)
        return arg if arg.known is FALSE else Guard(arg.known, not_(arg.value))
    return Not(arg)


UNKNOWN = Guard(FALSE, FALSE)
"""The always-unknown condition (a skeleton atom that is never decided)."""


@functools.lru_cache(maxsize=65536)
def two_valued(node: Node) -> bool:
    """Whether ``node`` is never unknown (so ``known_(node)`` is TRUE)."""
    if isinstance(node, (Valid, Known, IsTrue)) or node is TRUE or node is FALSE:
        return True
    if isinstance(node, (And, Or)):
        return all(two_valued(a) for a in node.args)
    if isinstance(node, Not):
        return two_valued(node.arg)
    return False


def known_(node: Node) -> Node:
    """Where the three-valued ``node`` is decided (folded: TRUE for a two-valued node, ``k`` for ``Guard(k, v)``)."""
    if isinstance(node, Value) or two_valued(node):
        return TRUE
    if isinstance(node, Guard):
        return node.known
    if isinstance(node, Not):
        return known_(node.arg)
    return Known(node)


def is_true(node: Node) -> Node:
    """Where the three-valued ``node`` is true (two-valued)."""
    if isinstance(node, Value) or two_valued(node):
        return node
    if isinstance(node, Guard):
        return and_(node.known, node.value)  # false where not known; where known, the value is never unknown
    return IsTrue(node)


def guard(known: Node, value: Node) -> Node:
    """``value`` where ``known`` holds, else unknown (folded)."""
    if known is TRUE:
        return value
    if known is FALSE:
        return UNKNOWN
    return Guard(known, value)


_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_PY_ARITH: dict[str, Callable[[Any, Any], Any]] = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
                                                   "*": lambda a, b: a * b}


def compare(op: str, left: Node, right: Node) -> Node:
    if isinstance(left, Value) and isinstance(right, Value):
        return TRUE if _PY_COMPARE[op](left.value, right.value) else FALSE
    return Compare(op, left, right)


def contains(member: Node, container: Node) -> Node:
    if isinstance(container, Value) and not container.value:
        return FALSE
    if isinstance(member, Value) and isinstance(container, Value):
        return TRUE if member.value in container.value else FALSE  # type: ignore[operator]
    return In(member, container)


# -- a reference evaluator of plans (Kleene logic: None is unknown, as NULL in SQL) -----------------------------
_OP_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "tdiv", "//": "fdiv", "%": "mod", "**": "pow"}


def arithmetic(op: str, left: Decimal, right: Decimal) -> Decimal:
    """``left <op> right`` exactly as ``evaluate`` computes it (rule-engine's Decimal operators under the one fixed
    context); raises what it raises."""
    compute: Any = ARITHMETIC[_OP_NAMES[op]]
    return compute(left, right)  # type: ignore[no-any-return]


def _negate(value: Decimal) -> Decimal:
    negate: Any = ARITHMETIC["neg"]
    return negate(value)  # type: ignore[no-any-return]


def regex_match(pattern: str, search: bool, text: str) -> bool:
    """``text =~ pattern`` (``=~~`` when ``search``) as ``evaluate`` decides it: Python's ``re``, not tried on a
    string past :data:`MAX_MATCHED_LENGTH` characters (raises :class:`RegexTooLong`, the condition is unknown)."""
    if len(text) > MAX_MATCHED_LENGTH:
        too_long(text)
    compiled = _compiled(pattern)
    return (compiled.search if search else compiled.match)(text) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class _BadFact(Exception):
    """A row fact holds a bad value: the node is unknown (not a failure of the computation)."""


class _Raised(Exception):
    """A :class:`Fail` node's failure, re-raised as its ``repr``."""


def failure(node: Node, facts: Mapping[str, Any]) -> str | None:
    """The ``repr`` of the first exception ``evaluate`` meets computing ``node`` over ``facts`` (Python's operand
    order), or None when it computes (or reads a bad fact, which is not a failure)."""
    try:
        _strict(node, facts)
    except _BadFact:
        return None
    except _Raised as raised:
        return str(raised.args[0])
    except Exception as exc:  # noqa: BLE001 - the very exceptions evaluate turns into an unknown condition
        return repr(exc)
    return None


def first_failure(node: Succeeds, facts: Mapping[str, Any]) -> str | None:
    """The first failure among ``node.values`` (in evaluation order), or None."""
    for value in node.values:
        error = failure(value, facts)
        if error is not None:
            return error
    return None


def _strict(node: Node, facts: Mapping[str, Any]) -> Any:
    """``node``'s value as Python computes it inside one atom (``and``/``or``/``?:`` short-circuit); raises
    :class:`_BadFact` for a bad fact, and whatever the computation raises."""
    if isinstance(node, Value):
        return node.value
    if isinstance(node, Fail):
        raise _Raised(node.error)
    if isinstance(node, (Fact, Valid)):
        value = holds(node, facts)
        if value is None:
            raise _BadFact()
        return value
    if isinstance(node, (And, Or, Not, Succeeds, Known, IsTrue, Guard)):  # three-valued, as in SQL (see atom)
        value = holds(node, facts)
        if value is None:
            raise _BadFact()
        return value
    if isinstance(node, IfElse):
        return _strict(node.then if _strict(node.test, facts) else node.otherwise, facts)
    if isinstance(node, Match):
        return regex_match(node.pattern, node.search, _strict(node.value, facts))
    children = {Compare: ("left", "right"), In: ("member", "container"), Length: ("value",), Arith: ("left", "right"),
                Neg: ("value",), Not: ("arg",)}[type(node)]
    values = [_strict(getattr(node, name), facts) for name in children]
    if isinstance(node, Compare):
        return _PY_COMPARE[node.op](*values)
    if isinstance(node, In):
        return values[0] in values[1]
    if isinstance(node, Length):
        return Decimal(len(values[0]))
    if isinstance(node, Arith):
        return arithmetic(node.op, *values)
    if isinstance(node, Neg):
        return _negate(values[0])
    return not values[0]


def holds(node: Node, facts: Mapping[str, Any]) -> Any:
    """Evaluate ``node`` over raw fact values (name -> value; absent = missing), the way a database does: a fact
    with a bad value is unknown (None), and unknown propagates through every operator but ``and``/``or`` with a
    decisive operand; a computation that fails (a division by zero) is unknown too. Plans are built so that their
    top-level result is never unknown."""
    if isinstance(node, Value):
        return node.value
    if isinstance(node, Fact):
        value, problem = check_value(_spec(node), facts.get(node.name, _MISSING))
        if problem:
            return None
        return to_decimal(value) if node.type == "number" else value
    if isinstance(node, Valid):
        return check_value(_spec(node.fact), facts.get(node.fact.name, _MISSING))[1] is None
    if isinstance(node, And):
        values = [holds(a, facts) for a in node.args]
        return False if False in values else None if None in values else True
    if isinstance(node, Or):
        values = [holds(a, facts) for a in node.args]
        return True if True in values else None if None in values else False
    if isinstance(node, IfElse):
        test = holds(node.test, facts)
        return None if test is None else holds(node.then if test else node.otherwise, facts)
    if isinstance(node, Not):
        value = holds(node.arg, facts)
        return None if value is None else not value
    if isinstance(node, Succeeds):
        return first_failure(node, facts) is None
    if isinstance(node, Known):
        return holds(node.arg, facts) is not None
    if isinstance(node, IsTrue):
        return holds(node.arg, facts) is True
    if isinstance(node, Guard):
        return holds(node.value, facts) if holds(node.known, facts) else None
    try:  # an atom: unknown where anything it reads is, or where it fails
        return _strict(node, facts)
    except Exception:  # noqa: BLE001 - a bad fact or a failing computation: unknown
        return None


_MISSING = object()


@functools.lru_cache(maxsize=256)
def _spec(fact: Fact) -> FactSpec:
    return FactSpec(fact.name, fact.type, fact.values, (), None, (), None,  # type: ignore[arg-type]
                    default=fact.default)


# -- plans ---------------------------------------------------------------------------------------------------
@attrs.frozen(slots=True)
class Plan:
    """Which orders ``action`` is in ``state`` for one user: ``kind`` is ``always``, ``never`` or ``conditional``
    (then ``condition`` says which, over the order row's facts; it is ``TRUE``/``FALSE`` otherwise)."""

    action: str
    state: str
    store: str | None
    """The store the plan decides as (``None``: every store, each by its own policy, dispatching on store.id)."""
    kind: Literal["always", "never", "conditional"]
    condition: Node
    facts: tuple[str, ...]
    """The row facts the condition reads, sorted: the columns a query needs."""
    policies: tuple[str, ...]
    """Which policies were planned, e.g. ``("acme: order-actions@1 + acme@1", "*: order-actions@1")``."""
    refused: tuple[str, ...] = ()
    """Stores whose policy could not be planned (over the plan budget, or a construct refused): their orders fail
    closed (hidden) in this every-store plan, each message naming the store; no other store's rows change."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"action", "state", "store", "kind", "facts", "policies", "condition"}``, the condition as
        nested ``{"op": ..., "args": [...]}`` objects (see docs/plans.md)."""
        return {"action": self.action, "state": self.state, "store": self.store, "kind": self.kind,
                "facts": list(self.facts), "policies": list(self.policies), "condition": self.condition.to_dict()}


@attrs.frozen(slots=True)
class Problem:
    """A reason that names a bad row fact: ``could not be decided: <fact>: <what is wrong with its value>``. The
    message depends on the value (see :func:`problem_text`); the store dispatch checks ``store.id`` alike."""

    fact: Fact


@attrs.frozen(slots=True)
class Failure:
    """A reason that names a failed computation: ``prefix`` (``could not be decided: <facts>: `<condition>`
    (<where>) failed: ``) followed by the ``repr`` of the first exception ``check``'s values raise."""

    prefix: str
    check: Succeeds

    def text(self, facts: Mapping[str, Any]) -> str:
        """The reason for a row of raw ``facts`` (where the check fails)."""
        return self.prefix + (first_failure(self.check, facts) or "?")


Reason = Union[str, Problem, Failure, None]  # noqa: UP007
"""A bulk reason: fixed text, a bad-fact problem, a failed computation, or None (the action applies)."""


@attrs.frozen(slots=True)
class ReasonPlan:
    """Why ``action`` is not offered, row by row: the first branch whose condition holds gives the reason (None:
    the action applies); when none holds, it applies. Conditions are meant to be tried in order (like SQL's CASE):
    a later branch may assume every earlier one was false."""

    action: str
    label: str
    branches: tuple[tuple[Node, Reason], ...]
    facts: tuple[str, ...]
    blocks: tuple[tuple[int, int, str | None], ...] = ()
    """``(start, end, store)``: the branches ``[start, end)`` decide the orders of ``store`` (None: the base's
    stores) and nothing else, so a database that cannot run them may replace them alone (see policyengine.sql)."""


def problem_text(problem: Problem, raw: Any) -> str:
    """The reason ``bulk`` gives for a row whose ``problem.fact`` holds ``raw`` (already converted to the value the
    engine reads)."""
    message = check_value(_spec(problem.fact), raw)[1] or "?"
    return f"could not be decided: {FactProblem(problem.fact.name, message)}"


# -- the partial evaluator --------------------------------------------------------------------------------------
@attrs.frozen(slots=True)
class _Sym:
    """A skeleton node: ``tri`` is its three-valued value (unknown where ``evaluate`` cannot decide it), so that
    ``known`` and ``value`` share one expression: plans grow linearly with the policy (no sub-expression copied
    per use, as separate known/value trees would need)."""

    tri: Node
    problems: tuple[tuple[Node, Reason], ...]
    """Ordered (present-where, reason) pairs: the first present one is the condition's first problem."""

    @property
    def known(self) -> Node:
        return known_(self.tri)

    @property
    def value(self) -> Node:
        """The value, meaningful where ``known`` holds (then it equals ``tri``)."""
        return self.tri


@attrs.frozen(slots=True)
class _ActionSym:
    action: CompiledAction
    vis: _Sym
    allow: _Sym
    guards: tuple[_Sym, ...]
    effects: tuple[_Sym, ...]
    visible: Node
    enabled: Node
    errors: tuple[tuple[Node, Reason], ...]
    """The problems of the decision (``decision.errors``), in order."""


class _Planner:
    """Plans every condition of one policy for one user, lazily (only what the planned action needs)."""

    def __init__(self, policy: CompiledPolicy, user_values: Mapping[str, tuple[Any, str | None]]) -> None:
        self.policy = policy
        self.index = {f.name: i for i, f in enumerate(policy.facts)}
        self.user = user_values  # user fact -> (normalised value, problem message or None)
        self.conditions: dict[str, _Sym] = {}
        self.actions: dict[str, _ActionSym] = {}
        self.by_id = {a.id: a for a in policy.actions}

    # -- conditions --
    def fact(self, spec: FactSpec) -> Fact:
        return Fact(spec.name, spec.type, spec.values if spec.type == "enum" else (), spec.default)

    def condition(self, name: str) -> _Sym:
        if name not in self.conditions:
            self.conditions[name] = self.sym(self.policy.conditions[name])
        return self.conditions[name]

    def action(self, action_id: str) -> _ActionSym:
        if action_id not in self.actions:
            self.actions[action_id] = self._action(self.by_id[action_id])
        return self.actions[action_id]

    def sym(self, expr: CompiledExpr) -> _Sym:
        return _Translate(self, expr).condition(expr.rule.statement.expression)

    def param(self, names: list[str], trusted: bool) -> tuple[str, Node, tuple[tuple[Node, Reason], ...]]:
        """What an atom reading the reference ``names`` depends on: the interpreter's parameter name (``f<i>``,
        ``c_<name>``, ``a_<id>``), where it is known, and its problems (each present where it is bad)."""
        if names[0] == "actions":
            target = self.action(names[1])
            # evaluate trusts an action's visibility read alone (visible or hidden) unless it is itself unknown;
            # any other read of an action decided under errors is unknown
            unknown = not_(target.vis.known) if trusted else or_(not_(target.vis.known), and_(
                target.visible, or_(*(not_(s.known) for s in (target.allow, *target.guards, *target.effects)))))
            return f"a_{names[1]}", not_(unknown), tuple((and_(unknown, g), r) for g, r in target.errors)
        if len(names) == 1 and names[0] in self.policy.conditions:
            sym = self.condition(names[0])
            return f"c_{names[0]}", sym.known, sym.problems
        name = next(".".join(names[:cut]) for cut in range(len(names), 1, -1) if ".".join(names[:cut]) in self.index)
        spec = self.policy.facts[self.index[name]]
        if name in self.user:
            message = self.user[name][1]
            if message is None:
                return f"f{self.index[name]}", TRUE, ()
            return f"f{self.index[name]}", FALSE, ((TRUE, f"could not be decided: {FactProblem(name, message)}"),)
        valid = Valid(self.fact(spec))
        return f"f{self.index[name]}", valid, ((not_(valid), Problem(self.fact(spec))),)

    # -- actions --
    def _action(self, action: CompiledAction) -> _ActionSym:
        vis, allow = self.sym(action.visible), self.sym(action.allow)
        guards = tuple(self.sym(g.when) for g in action.guards)
        effects = tuple(self.sym(e.when) for e in action.effects if e.when is not None)
        visible = is_true(vis.tri)
        enabled = and_(visible, is_true(allow.tri), *(is_true(not_(g.tri)) for g in guards),
                       *(e.known for e in effects))
        later = [p for s in (allow, *guards, *effects) for p in s.problems]
        errors = (*vis.problems, *((and_(visible, g), r) for g, r in later))
        return _ActionSym(action, vis, allow, guards, effects, visible, enabled, errors)

    def state(self, action_id: str, state: str) -> Node:
        sym = self.action(action_id)
        if state == "visible":
            return sym.visible
        if state == "hidden":
            return not_(sym.visible)
        if state == "enabled":
            return sym.enabled
        return and_(sym.visible, not_(sym.enabled))

    def budget(self, action_id: str, label: str) -> None:
        """:class:`PlanError` when the action's plan or its reasons are over :data:`PLAN_BUDGET` (one verdict for
        every state and for the reasons, so that where, reason and bulk refuse a store alike)."""
        within_budget((self.state(action_id, "enabled"), self.reasons(action_id)), label, action_id)

    def reasons(self, action_id: str) -> list[tuple[Node, Reason]]:
        """Branches in CASE order: problems of visibility, hidden, problems of the rest, allow, guards."""
        sym = self.action(action_id)
        shape = ActionShape.of(sym.action)
        out: list[tuple[Node, Reason]] = list(sym.vis.problems)
        out.append((is_true(not_(sym.vis.tri)), hidden_decision(sym.action).reasons[0]))
        out += [p for s in (sym.allow, *sym.guards, *sym.effects) for p in s.problems]
        out.append((is_true(not_(sym.allow.tri)), shape.allow_reason()))
        out += [(is_true(g.tri), guard.spec.reason) for g, guard in zip(sym.guards, sym.action.guards, strict=True)]
        return out


_CHILDREN = ("left", "right", "member", "container", "condition", "case_true", "case_false")
"""The sub-expressions of rule-engine's expression nodes (literal collections hold literals only)."""


def _gate(where: Node, problems: tuple[tuple[Node, Reason], ...]) -> tuple[tuple[Node, Reason], ...]:
    """``problems``, each present only where ``where`` holds too."""
    gated = ((and_(where, g), r) for g, r in problems)
    return tuple((g, r) for g, r in gated if g is not FALSE)


def _connective(left: _Sym, right: _Sym, is_or: bool) -> _Sym:
    """Kleene's ``or``/``and`` (SQL's own): known where both operands are or a known one decides; unknown, it has
    the problems of its unknown operands, in order. An operand's problems are present only where it is unknown, so
    the connective is unknown exactly where, besides, the other operand does not decide: each problem is gated by
    the other operand alone (not by every enclosing connective, which would copy them per level)."""
    tri = or_(left.tri, right.tri) if is_or else and_(left.tri, right.tri)

    def undecisive(other: _Sym) -> Node:
        return not_(is_true(other.tri if is_or else not_(other.tri)))

    return _Sym(tri, (*_gate(undecisive(right), left.problems), *_gate(undecisive(left), right.problems)))


def _choice(test: _Sym, then: _Sym, otherwise: _Sym) -> _Sym:
    """``test ? then : otherwise``: unknown with the test's problems where the test is, else the branch taken."""
    take_then, take_else = is_true(test.tri), is_true(not_(test.tri))
    tri = then.tri if then.tri == otherwise.tri and two_valued(test.tri) else IfElse(test.tri, then.tri, otherwise.tri)
    return _Sym(tri, (*test.problems, *_gate(take_then, then.problems), *_gate(take_else, otherwise.problems)))


class _Translate:
    """One condition's rule-engine AST -> a plan node, user facts substituted and constants folded."""

    def __init__(self, planner: _Planner, expr: CompiledExpr) -> None:
        self.planner = planner
        self.expr = expr
        self.fallible: list[Node] = []  # the current atom's computations that can fail, in evaluation order

    def dotted(self, node: Any) -> list[str]:
        names: list[str] = []
        while isinstance(node, ast.GetAttributeExpression):
            names.append(node.name)
            node = node.object
        names.append(node.name)
        return names[::-1]

    # -- the skeleton: and/or/not/?: from the top, three-valued (Kleene) over atoms, as evaluate decides --
    def condition(self, node: Any) -> _Sym:
        if isinstance(node, ast.LogicExpression):
            return _connective(self.condition(node.left), self.condition(node.right), node.type == "or")
        if isinstance(node, ast.UnaryExpression) and node.type == "not":
            inner = self.condition(node.right)
            return _Sym(not_(inner.tri), inner.problems)
        if isinstance(node, ast.TernaryExpression):
            test = self.condition(node.condition)
            if isinstance(test.tri, Value):  # decided for this user: the other is not read
                return self.condition(node.case_true if test.tri.value else node.case_false)
            return _choice(test, self.condition(node.case_true), self.condition(node.case_false))
        if isinstance(node, ast.BooleanExpression):
            return _Sym(TRUE if node.value else FALSE, ())
        return self.atom(node)

    def atom(self, node: Any) -> _Sym:
        """Anything else: unknown where anything it reads is (its problems in parameter-name order, as evaluate
        lists them), or where its computation fails."""
        alone = self.dotted(node) if isinstance(node, ast.GetAttributeExpression) else []
        trusted = len(alone) == 3 and alone[0] == "actions" and alone[2] in ("visible", "hidden")
        params: dict[str, tuple[Node, tuple[tuple[Node, Reason], ...]]] = {}
        for names in self.references(node):
            name, known, problems = self.planner.param(names, trusted)
            params[name] = (known, problems)
        known_node = and_(*(k for k, _ in params.values()))
        problems = tuple(p for _, (_, items) in sorted(params.items()) for p in items)
        if known_node is FALSE:  # a bad user fact: evaluate does not compute it
            return _Sym(UNKNOWN, problems)
        self.fallible = []
        value = self.node(node)
        if not self.fallible:
            return _Sym(guard(known_node, value), problems)
        expr = self.expr
        facts = ", ".join(sorted(expr.facts)) or "(condition)"
        prefix = f"could not be decided: {facts}: `{expr.text}` ({expr.where}) failed: "
        fails = next((i for i, n in enumerate(self.fallible) if isinstance(n, Fail)), None)
        if fails == 0:  # fails for this user wherever it is computed
            return _Sym(UNKNOWN, (*problems, (known_node, prefix + self.fallible[0].error)))  # type: ignore[union-attr]
        check = Succeeds(tuple(self.fallible[:None if fails is None else fails + 1]))
        return _Sym(guard(and_(known_node, check), value), (*problems, (and_(known_node, not_(check)),
                                                                        Failure(prefix, check))))

    def references(self, node: Any) -> list[list[str]]:
        """Every reference (dotted names) inside ``node``, as its Python translation reads them."""
        if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
            return [self.dotted(node)]
        children = (getattr(node, name, None) for name in _CHILDREN)
        return [names for child in children if child is not None for names in self.references(child)]

    # -- values --
    def reference(self, node: Any) -> Node:
        planner = self.planner
        names = self.dotted(node)
        if names[0] == "actions":
            return planner.state(names[1], names[2])
        if len(names) == 1 and names[0] in planner.policy.conditions:
            return planner.condition(names[0]).value
        for cut in range(len(names), 1, -1):
            name = ".".join(names[:cut])
            if name in planner.index:
                spec = planner.policy.facts[planner.index[name]]
                result: Node
                if name in planner.user:
                    value = planner.user[name][0]
                    result = constant(to_decimal(value) if spec.type == "number" else value,
                                      "string" if spec.type == "enum" else spec.type)
                else:
                    result = planner.fact(spec)
                for _ in names[cut:]:  # .length, the only attribute the compiler accepts
                    result = Value(Decimal(len(result.value)), "number") if isinstance(result, Value) else Length(result)  # type: ignore[arg-type]
                return result
        raise PlanError(f"cannot plan reference {'.'.join(names)!r}")  # the compiler rejects these

    def node(self, node: Any) -> Node:
        if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
            return self.reference(node)
        if isinstance(node, ast.BooleanExpression):
            return TRUE if node.value else FALSE
        if isinstance(node, ast.FloatExpression):
            return Value(Decimal(node.value), "number")
        if isinstance(node, ast.StringExpression):
            return Value(node.value, "string")
        if isinstance(node, (ast.ArrayExpression, ast.SetExpression)):
            return Value(frozenset(m.value for m in node.value), "list")
        if isinstance(node, ast.UnaryExpression):
            inner = self.node(node.right)
            if node.type == "not":
                return not_(inner)
            if isinstance(inner, Fail):
                return inner
            if isinstance(inner, Value):
                return Value(_negate(inner.value), "number")  # type: ignore[arg-type]
            return Neg(inner)
        if isinstance(node, ast.LogicExpression):
            before = len(self.fallible)
            left, right = self.node(node.left), self.node(node.right)
            self.unconditional(before, f"`{node.type}`")
            return and_(left, right) if node.type == "and" else or_(left, right)
        if isinstance(node, ast.FuzzyComparisonExpression):
            value = self.node(node.left)
            search = node.type.endswith("fzs")
            result: Node
            if isinstance(value, Fail):
                return value
            if isinstance(value, Value):
                try:
                    found = regex_match(node.right.value, search, value.value)  # type: ignore[arg-type]
                    result = TRUE if found else FALSE
                except RegexTooLong as exc:  # evaluate refuses to match
                    return self.failed(Fail(repr(exc), "bool"))
            else:
                result = Match(value, node.right.value, search)
                self.fallible.append(result)
            return not_(result) if node.type.startswith("ne") else result
        if isinstance(node, ast.ComparisonExpression):
            return compare(_COMPARE[node.type], self.node(node.left), self.node(node.right))
        if isinstance(node, ast.ContainsExpression):
            return contains(self.node(node.member), self.node(node.container))
        if isinstance(node, (ast.ArithmeticExpression, ast.AddExpression, ast.SubtractExpression)):
            return self.arith(node)
        if isinstance(node, ast.TernaryExpression):
            test = self.node(node.condition)
            if isinstance(test, Value):  # the branch not taken is not computed (it may fail)
                return self.node(node.case_true if test.value else node.case_false)
            before = len(self.fallible)
            then, otherwise = self.node(node.case_true), self.node(node.case_false)
            self.unconditional(before, "`?:`")
            if test.type == "bool" and then == otherwise:
                return then
            return IfElse(test, then, otherwise)  # (the test once: a copy per branch would double per level)
        raise PlanError(f"cannot plan `{self.expr.text}`: {type(node).__name__}")  # the compiler rejects these

    def unconditional(self, before: int, construct: str) -> None:
        """Refuse a computation that can fail inside a short-circuit nested in an atom (``(a / b > 1 or x) == y``):
        whether Python reaches it depends on the operands, and the plan's failure check does not model that."""
        if len(self.fallible) > before:
            raise PlanError(f"cannot plan `{self.expr.text}` ({self.expr.where}): a computation that can fail "
                            f"({self.fallible[before].to_dict()['op']}) inside {construct} nested in a comparison; "
                            "split the condition")

    def arith(self, node: Any) -> Node:
        op = {"add": "+", "sub": "-", "mul": "*", "tdiv": "/", "fdiv": "//", "mod": "%", "pow": "**"}[node.type]
        left, right = self.node(node.left), self.node(node.right)
        if isinstance(left, Fail) or isinstance(right, Fail):
            return left if isinstance(left, Fail) else right  # already recorded: evaluate raises there first
        if isinstance(left, Value) and isinstance(right, Value):
            try:
                return Value(arithmetic(op, to_decimal(left.value), to_decimal(right.value)), "number")
            except Exception as exc:  # noqa: BLE001 - the condition is then unknown, as evaluate decides
                return self.failed(Fail(repr(exc)))
        result = Arith(op, left, right)
        if op not in "+-*":  # + - * fail only past 1e999999 (see docs/plans.md): never on a database's numbers
            self.fallible.append(result)
        return result

    def failed(self, node: Fail) -> Fail:
        self.fallible.append(node)
        return node


# -- whole plans, across stores ---------------------------------------------------------------------------------
@attrs.frozen(slots=True)
class _Branch:
    """One policy that decides some orders: which (``store`` None = the base, for every other store)."""

    store: str | None
    policy: CompiledPolicy
    label: str


def _branches(engine: Any, store: str | None) -> tuple[list[_Branch], bool]:
    """The policies that decide orders, and whether the plan dispatches on store.id."""
    def branch(name: str | None) -> _Branch:
        override = engine.store_override(name) if name is not None else None
        policy = engine.store_policy(name)
        label = policy.spec.label + (f" + {override.override.label}" if override is not None else "")
        return _Branch(name if override is not None else None, policy, label)

    if store is not None:
        return [branch(store)], False
    dispatch = bool(engine.stores) and any(f.name == STORE_FACT for f in engine.policy.facts)
    return [*(branch(s) for s in engine.stores if dispatch), branch(None)], dispatch


def _user_values(engine: Any, policies: list[CompiledPolicy], user: Any) -> dict[str, dict[str, tuple[Any, str | None]]]:
    """Each policy's user facts, read through the engine's adapter and checked as evaluate checks them (a fact the
    policies declare alike is read once)."""
    out: dict[str, dict[str, tuple[Any, str | None]]] = {}
    read: dict[tuple[Any, ...], tuple[Any, str | None]] = {}
    for policy in policies:
        values: dict[str, tuple[Any, str | None]] = {}
        for fact in policy.facts:
            if fact.source[:1] != ("user",):
                continue
            key = (fact.name, fact.type, fact.values, fact.source, fact.default)
            if key not in read:
                try:
                    read[key] = check_value(fact, engine.adapter.getter(fact)({}, user))
                except Exception as exc:  # noqa: BLE001 - the adapter's failure is a bad fact, as in evaluate
                    failure = read_failure(exc)
                    # absent, with a declared default: the default (as evaluate reads it)
                    read[key] = (fact.default, None) if failure == "missing" and fact.has_default else (None, failure)
            values[fact.name] = read[key]
        out[policy.spec.label] = values
    return out


def _store_nodes(engine: Any) -> tuple[Fact, Node]:
    spec = next(f for f in engine.policy.facts if f.name == STORE_FACT)
    fact = Fact(spec.name, spec.type, (), spec.default)
    return fact, Valid(fact)


def _dispatch(engine: Any, branches: list[_Branch], parts: Callable[[_Branch], Node], bad_store: Node) -> Node:
    """Each store's orders by its own policy; stores deciding alike share one ``store.id in [...]`` test."""
    fact, valid = _store_nodes(engine)
    default = parts(branches[-1])
    by_part: dict[Node, list[str]] = {}
    for b in branches[:-1]:
        part = parts(b)
        if part != default:
            by_part.setdefault(part, []).append(str(b.store))
    options = [and_(contains(fact, Value(frozenset(stores), "list")), part) for part, stores in by_part.items()]
    others = [s for stores in by_part.values() for s in stores]
    options.append(and_(not_(contains(fact, Value(frozenset(others), "list"))), default))
    return or_(and_(not_(valid), bad_store), and_(valid, or_(*options)))


def _other_store(engine: Any, store: str) -> Node:
    """Rows whose good store.id names another store than ``store``: evaluate fails them closed (store-mismatch)."""
    fact, valid = _store_nodes(engine)
    return and_(valid, not_(compare("==", fact, Value(store, "string"))))


class PlanCache:
    """A bounded, thread-safe LRU of one engine's plans. A plan is a pure function of the action, the state, the
    store scope and the user's facts as the policies read them (normalised and checked), so those are the key."""

    __slots__ = ("_items", "_lock", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[Any, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Any, build: Callable[[], Plan]) -> Plan:
        """The plan cached under ``key``, else ``build()`` (kept under ``key``; never cached when ``key`` is None)."""
        if key is None:
            return build()
        with self._lock:
            plan = self._items.get(key)
            if plan is not None:
                self._items.move_to_end(key)
                return plan
        plan = build()
        with self._lock:
            self._items[key] = plan
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return plan


def _cache_key(action: str, store: str | None, state: str,
               users: Mapping[str, Mapping[str, tuple[Any, str | None]]]) -> Any:
    """A hashable key of the user's facts as read (type names kept: ``1`` and ``True`` differ), or None."""
    try:
        key = (action, store, state, tuple((label, tuple((name, type(value).__name__, _frozen(value), problem)
                                                          for name, (value, problem) in values.items()))
                                           for label, values in users.items()))
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Any:
    return tuple((type(v).__name__, v) for v in value) if isinstance(value, list) else value


def build_plan(engine: Any, action: str, user: Any, *, store: str | None = None, state: str = "enabled",
               cache: PlanCache | None = None) -> Plan:
    """The :class:`Plan` of ``engine.plan`` (see :meth:`policyengine.Engine.plan`); ``cache`` keeps built plans."""
    if state not in PLAN_STATES:
        raise ValueError(f"unknown state {state!r}; expected one of: {', '.join(PLAN_STATES)}")
    engine.action_label(action)  # KeyError for an unknown action, as bulk raises
    branches, dispatch = _branches(engine, store)
    users = _user_values(engine, [b.policy for b in branches], user)
    if cache is None:
        return _build_plan(engine, action, store, state, branches, dispatch, users)
    return cache.get(_cache_key(action, store, state, users),
                     lambda: _build_plan(engine, action, store, state, branches, dispatch, users))


def _build_plan(engine: Any, action: str, store: str | None, state: str, branches: list[_Branch], dispatch: bool,
                users: Mapping[str, Mapping[str, tuple[Any, str | None]]]) -> Plan:
    planners = {b.label: _Planner(b.policy, users[b.policy.spec.label]) for b in branches}
    absent = TRUE if state == "hidden" else FALSE  # an action a store's policy lacks is not in its menu
    refused: dict[str, None] = {}

    def part(branch: _Branch) -> Node:
        planner = planners[branch.label]
        if action not in planner.by_id:
            return absent
        try:
            planner.budget(action, branch.label)
            return planner.state(action, state)
        except PlanError as exc:
            if not dispatch or branch.store is None:
                raise
            refused[f"store {branch.store}: {exc}"] = None  # this store alone fails closed: its orders hidden
            return absent

    if dispatch:
        condition = _dispatch(engine, branches, part, TRUE if state == "hidden" else FALSE)
    else:
        condition = part(branches[0])
        if store is not None and engine.stores and any(f.name == STORE_FACT for f in engine.policy.facts):
            other = _other_store(engine, store)
            condition = or_(and_(other, TRUE if state == "hidden" else FALSE), and_(not_(other), condition))
    kind: Literal["always", "never", "conditional"] = \
        "always" if condition == TRUE else "never" if condition == FALSE else "conditional"
    facts = reads(condition)
    policies = tuple(f"{b.store or ('*' if dispatch else store or '*')}: {b.label}" for b in branches)
    return Plan(action, state, store, kind, condition, tuple(sorted(facts)), policies, tuple(refused))


def within_budget(node: Any, label: str, action: str) -> Any:
    """``node`` (a plan or reasons' branches), or :class:`PlanError` when it is over :data:`PLAN_BUDGET`."""
    nodes = tree_size(node)
    if nodes > PLAN_BUDGET:
        raise PlanError(f"cannot plan `{action}` of {label}: its plan has {nodes} nodes, over the plan budget of "
                        f"{PLAN_BUDGET} (about 1 MB of SQL); split its conditions into fewer, flatter ones")
    return node


def children(node: Node) -> tuple[Node, ...]:
    """The plan nodes directly under ``node``."""
    if isinstance(node, (And, Or, Succeeds)):
        return node.args if not isinstance(node, Succeeds) else node.values
    if isinstance(node, (Value, Fact, Fail)):
        return ()
    if isinstance(node, Valid):
        return (node.fact,)
    return tuple(getattr(node, f.name) for f in attrs.fields(type(node)) if f.name not in ("op", "pattern", "search"))


def walk(roots: Any) -> list[Node]:
    """Every distinct plan node under ``roots`` (a node, or nested tuples/lists of nodes and reasons), each once:
    a plan is a DAG whose shared sub-expressions are visited once, so this is linear in its size."""
    seen: set[int] = set()
    out: list[Node] = []
    todo = [roots]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (tuple, list)):
            todo.extend(item)
        elif isinstance(item, (Problem, Failure)):
            todo.append(item.fact if isinstance(item, Problem) else item.check)
        elif attrs.has(type(item)):
            out.append(item)
            todo.extend(children(item))
    return out


def size(roots: Any) -> int:
    """How many distinct nodes the DAG under ``roots`` holds (what the plan budget counts)."""
    return len(walk(roots))


def tree_size(roots: Any) -> int:
    """How many nodes the plan under ``roots`` has written out as a tree (as SQL text writes it: a shared
    sub-expression once per use), computed over the DAG in linear time: what the plan budget bounds."""
    memo: dict[int, int] = {}

    def one(node: Any) -> int:
        key = id(node)
        if key not in memo:
            memo[key] = 1 + sum(one(c) for c in children(node))
        return memo[key]

    total = 0
    for item in walk_roots(roots):
        total += one(item)
    return total


def walk_roots(roots: Any) -> list[Node]:
    """The plan nodes listed in ``roots`` (nested tuples/lists; a reason's own nodes)."""
    out: list[Node] = []
    todo = [roots]
    while todo:
        item = todo.pop()
        if isinstance(item, (tuple, list)):
            todo.extend(item)
        elif isinstance(item, Problem):
            out.append(item.fact)
        elif isinstance(item, Failure):
            out.append(item.check)
        elif attrs.has(type(item)):
            out.append(item)
    return out


def reads(node: Node) -> set[str]:
    """The names of the row facts ``node`` reads."""
    return {n.name for n in walk(node) if isinstance(n, Fact)}


def build_reasons(engine: Any, action: str, user: Any, *, store: str | None = None) -> ReasonPlan:
    """Why ``action`` is not offered, for every row (the reasons of ``engine.bulk``), as ordered branches."""
    label = str(engine.action_label(action))
    branches, dispatch = _branches(engine, store)
    users = _user_values(engine, [b.policy for b in branches], user)
    planners = {b.label: _Planner(b.policy, users[b.policy.spec.label]) for b in branches}
    out: list[tuple[Node, Reason]] = []

    blocks: list[tuple[int, int, str | None]] = []

    def block(branch: _Branch, guard: Node) -> None:
        planner = planners[branch.label]
        start = len(out)
        if action in planner.by_id:
            try:
                planner.budget(action, branch.label)
                items = [(and_(guard, g), r) for g, r in planner.reasons(action)]
            except PlanError as exc:
                if not dispatch or branch.store is None:
                    raise
                items = [(guard, f"could not be decided: store {branch.store}: {exc}")]  # this store alone
            out.extend(items)
            out.append((guard, None))
        else:
            where = f"store {branch.store}" if branch.store is not None else "this store"
            out.append((guard, f"Not offered for {where}."))
        blocks.append((start, len(out), branch.store))

    if dispatch:
        fact, valid = _store_nodes(engine)
        bad = not_(valid)
        base = planners[branches[-1].label]
        # evaluate hides everything, each base decision keeping its own errors before the store's problem; an
        # action the base lacks is named by the first store.id problem of the whole result (see Engine.bulk)
        if action in base.by_id:
            out.extend((and_(bad, g), r) for g, r in base.action(action).errors)
        elif base.policy.actions:
            first = base.action(base.policy.actions[0].id).errors
            out.extend((and_(bad, g), r) for g, r in first if isinstance(r, Problem) and r.fact.name == STORE_FACT)
        out.append((bad, Problem(fact)))
        for b in branches[:-1]:
            block(b, compare("==", fact, Value(b.store, "string")))  # type: ignore[arg-type]
        block(branches[-1], TRUE)
    else:
        if store is not None and engine.stores and any(f.name == STORE_FACT for f in engine.policy.facts):
            # evaluate decides another store's row by the latest base, failing it closed: the base decision's own
            # errors first, then the mismatch (see Engine.bulk)
            other = _other_store(engine, store)
            latest = engine.policy
            base = _Planner(latest, _user_values(engine, [latest], user)[latest.spec.label])
            if action in base.by_id:
                out.extend((and_(other, g), r) for g, r in base.action(action).errors)
            out.append((other, f"{FAIL_CLOSED}{store_mismatch_problem(store)}"))
        block(branches[0], TRUE)
    facts = set().union(*(reads(node) | ({r.fact.name} if isinstance(r, Problem) else set())
                          | (reads(r.check) if isinstance(r, Failure) else set()) for node, r in out))
    return ReasonPlan(action, label, tuple(out), tuple(sorted(facts)), tuple(blocks))
