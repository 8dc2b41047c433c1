"""Query plans: which orders an action applies to, as a condition over the order's and the store's facts.

:func:`build_plan` partially evaluates a policy's IR (:mod:`policyengine.ir`, ``CompiledExpr.ir``): a plan is
"substitute what is known, then fold". The user's facts are known, and so is every condition, atom or value that
reads nothing else: it is folded with the runtime's own meaning, :func:`policyengine.ir.kleene.evaluate` over atoms
computed by their :mod:`policyengine.ir.python` source. What is left reads facts of the order row (``order.*``,
``store.*``...) and becomes plan nodes, built once per IR node (a DAG: equal sub-expressions are planned once). The
result is exact, bad facts included, because it models how ``evaluate`` decides under errors rather than the
conditions alone: a condition's skeleton (``and``/``or``/``not``/``?:`` from its top) is three-valued (Kleene's
logic) over atoms (everything else). For every skeleton node ``c`` the planner builds:

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

Every policy's plans are measured against :data:`PLAN_BUDGET` when it loads (:func:`plan_budget_problems`).
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

from ..errors import Diagnostic, FactProblem, PolicyError
from ..ir import kleene
from ..ir import nodes as ir
from ..ir import walk as walk_ir
from ..ir.numbers import ARITHMETIC, to_decimal
from ..ir.python import PythonSource, function, namespace_for
from ..ir.regexes import MAX_MATCHED_LENGTH, too_long
from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import STORE_FACT, FactSpec
from .adapters import read_failure
from .interpret import ActionShape, check_value, hidden_decision
from .reasons import FAIL_CLOSED, store_mismatch_problem

__all__ = ["PLAN_BUDGET", "PLAN_STATES", "plan_budget_problems",
           "Guard", "IsTrue", "Known", "tree_size", "within_budget", "And", "Arith",
           "Compare", "Fact", "Fail", "Failure", "IfElse", "In", "Length", "Match", "Neg", "Node", "Not", "Or",
           "Plan", "PlanCache", "PlanError", "PlanState", "Problem", "ReasonPlan", "Succeeds", "Valid", "Value",
           "arithmetic", "build_plan", "build_reasons", "failure", "first_failure", "holds", "regex_match", "FALSE",
           "TRUE"]

PLAN_BUDGET = 3_000
"""The most nodes one store's plan (or its reasons) may have written out as a tree (see :func:`tree_size`): about
300 characters of SQL each, so under 1 MB of SQL per store. A policy or store override whose plan could be larger
for some user is a load error located at its largest condition (:func:`plan_budget_problems`); planning checks it
again (a :class:`PlanError` naming it; in an every-store plan, that store alone fails closed)."""

PlanState = Literal["enabled", "disabled", "hidden", "visible"]
PLAN_STATES: tuple[str, ...] = ("enabled", "disabled", "hidden", "visible")


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
    :data:`~policyengine.ir.numbers.CONTEXT` (28 significant digits, half-even), ``//`` and ``%`` truncating
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
    if value.__class__ is not Value and known == known_(value):
        return value  # unknown where it is not known: a named condition read alone is that condition, not a copy
    return Guard(known, value)


_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


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


# -- the plan language's evaluator (Kleene logic: None is unknown, as NULL in SQL) ------------------------------
# It reads plan nodes, not the IR: Valid, Known, IsTrue, Guard, Succeeds and Fail exist only here, and values are as
# a database holds them (numbers as exact Decimals). It is the reference meaning of what policyengine.sql compiles
# (the tests' oracle for plans, and the text of a failed computation's reason); its operations are the runtime's
# own (ir.numbers.ARITHMETIC, ir.regexes, ir.values.check_value).
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
    closed: Any = None
    """When the condition is known for this user (it reads no row fact): its value as :mod:`ir.kleene` gives it
    (True, False or Unknown with the problems evaluate names), else None."""
    inner: tuple[tuple[Node, Reason], ...] | None = None
    """Problems meant only where the node is unknown (None: ``problems``): for ``and``/``or``, each operand's own
    problems ungated, the last operand's inner ones. Where the connective is unknown, an earlier operand whose
    problems are all absent is decided, and not decisively, so the first present one is still evaluate's; after
    every earlier operand is decided the last is unknown. A node's ``problems`` gate every operand's by the others
    (quadratic in a wide ``or``); a reasons plan that has already dealt with the rows where the node is decided
    reads these instead (see :func:`_then`)."""

    @property
    def conditional(self) -> tuple[tuple[Node, Reason], ...]:
        return self.problems if self.inner is None else self.inner

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
    known: bool = False
    """Whether the action is decided for this user alone (it reads no row fact); then ``known_errors`` are the
    decision's errors."""
    known_errors: tuple[FactProblem, ...] = ()


class _Planner:
    """Plans every condition of one policy for one user, lazily (only what the planned action needs)."""

    def __init__(self, policy: CompiledPolicy, user_values: Mapping[str, tuple[Any, str | None]], *,
                 sizing: bool = False) -> None:
        self.policy = policy
        self.user = user_values  # user fact -> (normalised value, problem message or None)
        # only measuring (see plan_budget_problems): every user fact is known but its value is not, so what reads
        # only them is an opaque stand-in at least as large as any value's fold; what would be refused is planned
        self.sizing = sizing
        if sizing:
            self.user = {f.name: (None, None) for f in policy.facts if f.source[:1] == ("user",)}
        self.stand_ins = 0
        self.conditions: dict[str, _Sym] = {}
        self.actions: dict[str, _ActionSym] = {}
        self.by_id = {a.id: a for a in policy.actions}
        self.known_memo: dict[ir.Node, bool] = {}
        self.value = _Values(self)

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
        return _Translate(self, expr).condition(expr.ir)

    def stand_in(self, kind: str = "bool") -> Fact:
        """A node of one plan node's size that never folds and equals no other (sizing only)."""
        self.stand_ins += 1
        return Fact(f"?{self.stand_ins}", kind)

    def opaque(self, node: ir.Node) -> _Sym:
        """A known condition, sized: no smaller than true, false or unknown, with as many problems as it can have
        (one per user fact and per computation that can fail in what it reads, named conditions and actions too)."""
        facts: set[str] = set()
        fallible = 0
        roots, seen = [node], set()
        while roots:
            root = roots.pop()
            for item in walk_ir.nodes(root):
                if isinstance(item, ir.Fact):
                    facts.add(item.name)
                elif _may_fail(item):
                    fallible += 1
                elif isinstance(item, (ir.ConditionRef, ir.ActionRef)) and item not in seen:
                    seen.add(item)
                    roots += ([self.policy.conditions[item.name].ir] if isinstance(item, ir.ConditionRef)
                              else [e.ir for e in self.by_id[item.action].exprs()])
        problems = tuple((self.stand_in(), "?") for _ in range(len(facts) + fallible))
        return _Sym(Guard(self.stand_in(), self.stand_in()), problems, True)

    def known(self, node: ir.Node) -> bool:
        """Whether ``node`` reads nothing of the row: only user facts, and conditions and actions known alike."""
        memo = self.known_memo
        if node not in memo:
            for item in walk_ir.nodes(node):  # children first, iteratively: conditions nest deeply
                if item in memo:
                    continue
                if isinstance(item, ir.Fact):
                    memo[item] = item.name in self.user
                elif isinstance(item, ir.ConditionRef):
                    memo[item] = self.condition(item.name).closed is not None
                elif isinstance(item, ir.ActionRef):
                    memo[item] = self.action(item.action).known
                else:
                    memo[item] = all(memo[child] for child in walk_ir.children(item))
        return memo[node]

    def compute(self, node: ir.Node) -> Any:
        """The value of the known ``node`` (its references good), computed by its Python; raises what it raises."""
        if isinstance(node, ir.Const):
            return node.value
        refs, run = _python(node)
        return run(*map(self.known_value, refs))

    def known_value(self, ref: _Ref) -> Any:
        if isinstance(ref, ir.Fact):
            return self.user[ref.name][0]
        if isinstance(ref, ir.ConditionRef):
            return self.condition(ref.name).closed
        state = self.state(ref.action, ref.state)
        return state is TRUE

    def known_problems(self, group: tuple[_Ref, ...]) -> tuple[FactProblem, ...]:
        """Why a known atom reading ``group`` (the references one interpreter parameter stands for) is unknown."""
        ref = group[0]
        if isinstance(ref, ir.Fact):
            message = self.user[ref.name][1]
            return (FactProblem(ref.name, message),) if message is not None else ()
        if isinstance(ref, ir.ConditionRef):
            value = self.condition(ref.name).closed
            return value.problems if value.__class__ is kleene.Unknown else ()
        target = self.action(ref.action)
        trusted = all(r.state in ("visible", "hidden") for r in group)  # type: ignore[union-attr]
        # a shown action's visibility is trusted under errors; any other read of a state decided under them is not
        return () if trusted and target.visible is TRUE else target.known_errors

    def param(self, group: tuple[_Ref, ...], trusted: set[str]) -> tuple[Node, tuple[tuple[Node, Reason], ...]]:
        """What an atom reading ``group`` (the references one interpreter parameter stands for) depends on: where it
        is known, and its problems (each present where it is bad)."""
        ref = group[0]
        if isinstance(ref, ir.ActionRef):
            target = self.action(ref.action)
            # evaluate trusts an action's visibility read alone (visible or hidden) unless it is itself unknown;
            # any other read of an action decided under errors is unknown
            # (the errors are present only where the action is decided under them, visibility's only where it is
            # unknown: gating them by `unknown` would copy it into each)
            if ref.action in trusted:
                return target.vis.known, target.vis.problems
            unknown = or_(not_(target.vis.known), and_(
                target.visible, or_(*(not_(s.known) for s in (target.allow, *target.guards, *target.effects)))))
            return not_(unknown), target.errors
        if isinstance(ref, ir.ConditionRef):
            sym = self.condition(ref.name)
            return sym.known, sym.problems
        spec = self.policy.facts[ref.index]
        if self.sizing and ref.name in self.user:
            return self.stand_in(), ((self.stand_in(), "?"),)
        if ref.name in self.user:
            message = self.user[ref.name][1]
            if message is None:
                return TRUE, ()
            return FALSE, ((TRUE, f"could not be decided: {FactProblem(ref.name, message)}"),)
        valid = Valid(self.fact(spec))
        return valid, ((not_(valid), Problem(self.fact(spec))),)

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
        syms = (vis, allow, *guards, *effects)
        if any(s.closed is None for s in syms):
            return _ActionSym(action, vis, allow, guards, effects, visible, enabled, errors)
        known_errors = (kleene.problems_of(vis.closed) if vis.closed is not True
                        else kleene.problems_of(*(s.closed for s in syms[1:])))
        return _ActionSym(action, vis, allow, guards, effects, visible, enabled, errors, True, known_errors)

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
        """Branches in CASE order, as evaluate decides: problems of visibility, hidden, problems of the rest (allow,
        guards, effects), allow, guards (each condition's problems laid out by :func:`_then`)."""
        sym = self.action(action_id)
        shape = ActionShape.of(sym.action)
        tail: list[tuple[Node, Reason]] = [(is_true(not_(sym.allow.tri)), shape.allow_reason())]
        tail += [(is_true(g.tri), guard.spec.reason) for g, guard in zip(sym.guards, sym.action.guards, strict=True)]
        sizes: tuple[dict[int, int], list[Any]] = ({}, [])  # one memo by node id, every list measured kept alive
        for s in reversed((sym.allow, *sym.guards, *sym.effects)):
            tail = _then(s, tail, sizes)
        return _then(sym.vis, [(is_true(not_(sym.vis.tri)), hidden_decision(sym.action).reasons[0]), *tail], sizes)


def _then(sym: _Sym, rest: list[tuple[Node, Reason]],
          sizes: tuple[dict[int, int], list[Any]]) -> list[tuple[Node, Reason]]:
    """The top-level branches of a reasons plan (where ``None`` means the action applies): ``sym``'s problems, then
    ``rest`` (which decides the rows where ``sym`` is known), as the smaller of two equivalent lists. Either
    ``sym.problems`` first, or the known rows first (``rest`` gated by ``known(sym)``, then "applies" for the known
    rows ``rest`` lets through) and then ``sym.inner``, which needs no gating where ``sym`` is unknown: a wide
    ``and``/``or`` then costs its own width, not its width squared."""
    if sym.inner is None:
        return [*sym.problems, *rest]
    known = sym.known
    memo, kept = sizes
    kept.append((known, sym.inner, sym.problems))  # (a node freed while the memo lives could pass its id on)
    # The two lists share ``rest``'s reasons; the first adds ``known`` (and one And) to each of its conditions, the
    # known rows' branch and ``inner``, where the plain one has ``problems``: compared without writing either out
    # (walking ``rest`` per condition made a load's budget check quadratic in an action's guards). A gate that
    # folds makes the first list a little smaller than counted; the choice only ever picks the smaller layout.
    known_size = tree_size(known, memo)
    grown = len(rest) * (1 + known_size) + known_size + tree_size(sym.inner, memo)
    if grown < tree_size(sym.problems, memo):
        return [*_gate(known, tuple(rest)), (known, None), *sym.inner]
    return [*sym.problems, *rest]


def _gate(where: Node, problems: tuple[tuple[Node, Reason], ...]) -> tuple[tuple[Node, Reason], ...]:
    """``problems``, each present only where ``where`` holds too."""
    gated = ((and_(where, g), r) for g, r in problems)
    return tuple((g, r) for g, r in gated if g is not FALSE)


def _connective(left: _Sym, right: _Sym, is_or: bool) -> _Sym:
    """The residue of Kleene's ``or``/``and`` over two operands that are not both known (what ir.kleene decides
    for known values, written as a plan: SQL's own three-valued ``AND``/``OR``). Unknown, it has the problems of
    its unknown operands, in order. An operand's problems are present only where it is unknown, so the connective
    is unknown exactly where, besides, the other operand does not decide: each problem is gated by the other
    operand alone (not by every enclosing connective, which would copy them per level)."""
    tri = or_(left.tri, right.tri) if is_or else and_(left.tri, right.tri)

    def undecisive(other: _Sym) -> Node:
        return not_(is_true(other.tri if is_or else not_(other.tri)))

    return _Sym(tri, (*_gate(undecisive(right), left.problems), *_gate(undecisive(left), right.problems)))


def _choice(test: _Sym, then: _Sym, otherwise: _Sym) -> _Sym:
    """The residue of ``test ? then : otherwise`` whose test is not known: unknown with the test's problems where
    the test is, else the branch taken."""
    take_then, take_else = is_true(test.tri), is_true(not_(test.tri))
    tri = then.tri if then.tri == otherwise.tri and two_valued(test.tri) else IfElse(test.tri, then.tri, otherwise.tri)
    return _Sym(tri, (*test.problems, *_gate(take_then, then.problems), *_gate(take_else, otherwise.problems)))


_OPS = {"add": "+", "sub": "-", "mul": "*", "tdiv": "/", "fdiv": "//", "mod": "%", "pow": "**"}
"""The IR's arithmetic names -> the plan's operators."""

_Ref = Union[ir.Fact, ir.ConditionRef, ir.ActionRef]  # noqa: UP007


@functools.lru_cache(maxsize=4096)
def _python(node: ir.Node) -> tuple[tuple[_Ref, ...], Callable[..., Any]]:
    """``node``'s executable meaning (:mod:`policyengine.ir.python`) as a function of the references it reads,
    each passed as its value (a fact's, a condition's bool, an action state's bool): what every fold runs, so a
    plan folds exactly as ``evaluate`` computes. A pure function of the node, hence cached."""
    names: dict[_Ref, str] = {}

    def reference(ref: ir.Node) -> str:
        return names.setdefault(ref, f"r{len(names)}")  # type: ignore[arg-type]  # a reference node

    constants: dict[str, Any] = {}
    source = PythonSource("p", constants, reference).expr(node)
    return tuple(names), function(tuple(names.values()), source, namespace_for(constants))


def _param_name(ref: _Ref) -> str:
    """The interpreter's name of what ``ref`` reads: evaluate lists an atom's problems in the order of these."""
    if isinstance(ref, ir.Fact):
        return f"f{ref.index}"
    return f"c_{ref.name}" if isinstance(ref, ir.ConditionRef) else f"a_{ref.action}"


@functools.lru_cache(maxsize=4096)
def _refs(node: ir.Node) -> tuple[tuple[str, tuple[_Ref, ...]], ...]:
    """The references inside the atom ``node``, grouped by interpreter name, sorted by it."""
    groups: dict[str, list[_Ref]] = {}
    for item in walk_ir.nodes(node):
        if isinstance(item, (ir.Fact, ir.ConditionRef, ir.ActionRef)):
            groups.setdefault(_param_name(item), []).append(item)
    return tuple((name, tuple(groups[name])) for name in sorted(groups))


def _may_fail(node: ir.Node) -> bool:
    """Whether computing ``node`` itself can raise for some value (a division, a power, a regex's length bound)."""
    return isinstance(node, ir.Match) or (isinstance(node, ir.Arith) and node.op not in ("add", "sub", "mul"))


def _as_value(value: Any, kind: str) -> Value:
    """A Python value of the IR type ``kind`` (as ir.python computes it) as a plan constant."""
    if kind == "number":
        return Value(to_decimal(value), "number")
    if kind == "set":
        return Value(frozenset(value), "set")
    return constant(value, kind)


@attrs.frozen(slots=True)
class _Val:
    """A value inside an atom: its plan ``node``, the computations in it that can fail in Python's evaluation order
    (``fallible``), and the first that would be under a short-circuit (``nested``: its op and the construct)."""

    node: Node
    fallible: tuple[Node, ...] = ()
    nested: tuple[str, str] | None = None


class _Translate:
    """One condition's IR -> plan nodes, memoised per IR node (equal sub-expressions are planned once): what is
    known (the user's facts, conditions and action states they decide) is substituted and folded by
    :func:`policyengine.ir.kleene.evaluate` with atoms computed by :func:`_python`; the rest is the plan."""

    def __init__(self, planner: _Planner, expr: CompiledExpr) -> None:
        self.planner = planner
        self.expr = expr
        self.syms: dict[ir.Node, _Sym] = {}
        self.atoms: dict[ir.Node, Any] = {}  # known atoms' three-valued values

    # -- the skeleton: and/or/not/?: from the top, three-valued (Kleene) over atoms, as evaluate decides --
    def condition(self, node: ir.Node) -> _Sym:
        sym = self.syms.get(node)
        if sym is None:
            sym = self.syms[node] = self._condition(node)
        return sym

    def _condition(self, node: ir.Node) -> _Sym:
        if self.planner.known(node):
            if self.planner.sizing:
                return self.planner.opaque(node)
            return _known_sym(kleene.evaluate(node, self.known_atom))
        if isinstance(node, (ir.And, ir.Or)):
            syms = [self.condition(operand) for operand in node.operands]
            sym = functools.reduce(lambda left, right: _connective(left, right, isinstance(node, ir.Or)), syms)
            inner = (*(p for s in syms[:-1] for p in s.problems), *syms[-1].conditional)
            return attrs.evolve(sym, inner=inner)
        if isinstance(node, ir.Not):  # a chain of `not`s at once: one frame, however long
            chain = []
            while isinstance(node, ir.Not) and node not in self.syms:
                chain.append(node)
                node = node.operand
            sym = self.condition(node)
            for item in reversed(chain):
                sym = self.syms[item] = _Sym(not_(sym.tri), sym.problems, inner=sym.inner)
            return sym
        if isinstance(node, ir.If) and node.type == "bool":
            test = self.condition(node.test)
            if isinstance(test.tri, Value):  # decided for this user: the other is not read
                return self.condition(node.then if test.tri.value else node.otherwise)
            return _choice(test, self.condition(node.then), self.condition(node.otherwise))
        return self.atom(node)

    def known_atom(self, node: ir.Node) -> Any:
        """A known atom's value as evaluate computes it: unknown with the problems of what it reads (in parameter
        order), else its Python (unknown, naming the condition, when that raises)."""
        if node not in self.atoms:
            self.atoms[node] = self._known_atom(node)
        return self.atoms[node]

    def _known_atom(self, node: ir.Node) -> Any:
        refs = _refs(node)
        problems = [p for _, group in refs for p in self.planner.known_problems(group)]
        if problems:
            return kleene.Unknown(tuple(dict.fromkeys(problems)))
        try:
            return bool(self.planner.compute(node))
        except Exception as exc:  # noqa: BLE001 - e.g. a division by zero: unknown, fail closed, as evaluate decides
            expr = self.expr
            facts = ", ".join(sorted(expr.facts)) or "(condition)"
            return kleene.Unknown((FactProblem(facts, f"`{expr.text}` ({expr.where}) failed: {exc!r}"),))

    def atom(self, node: ir.Node) -> _Sym:
        """An atom reading the row: unknown where anything it reads is (its problems in parameter-name order, as
        evaluate lists them), or where its computation fails."""
        refs = _refs(node)
        actions = [ref for _, group in refs for ref in group if isinstance(ref, ir.ActionRef)]
        # evaluate trusts an action read for its visibility alone (visible or hidden), however the atom spells it
        trusted = {a.action for a in actions} - {a.action for a in actions if a.state not in ("visible", "hidden")}
        params = [self.planner.param(group, trusted) for _, group in refs]
        known_node = and_(*(k for k, _ in params))
        problems = tuple(p for _, items in params for p in items)
        if known_node is FALSE:  # a bad user fact: evaluate does not compute it
            return _Sym(UNKNOWN, problems)
        value = self.planner.value(node)
        if value.nested is not None and not self.planner.sizing:  # whether Python reaches it: not modelled
            op, construct = value.nested
            raise PlanError(f"cannot plan `{self.expr.text}` ({self.expr.where}): a computation that can fail "
                            f"({op}) inside {construct} nested in a comparison; split the condition")
        if not value.fallible:  # (a named condition read alone is unknown where it is: its inner problems too)
            inner = self.planner.condition(node.name).inner if isinstance(node, ir.ConditionRef) else None
            return _Sym(guard(known_node, value.node), problems, inner=inner)
        expr = self.expr
        facts = ", ".join(sorted(expr.facts)) or "(condition)"
        prefix = f"could not be decided: {facts}: `{expr.text}` ({expr.where}) failed: "
        fallible = value.fallible
        fails = next((i for i, n in enumerate(fallible) if isinstance(n, Fail)), None)
        if fails == 0:  # fails for this user wherever it is computed
            return _Sym(UNKNOWN, (*problems, (known_node, prefix + fallible[0].error)))  # type: ignore[union-attr]
        check = Succeeds(tuple(fallible[:None if fails is None else fails + 1]))
        return _Sym(guard(and_(known_node, check), value.node), (*problems, (and_(known_node, not_(check)),
                                                                             Failure(prefix, check))))


def _known_sym(value: Any) -> _Sym:
    """A condition known for this user (true, false, or unknown with its problems) as a skeleton node."""
    if value.__class__ is kleene.Unknown:
        return _Sym(UNKNOWN, tuple((TRUE, f"could not be decided: {p}") for p in value.problems), value)
    return _Sym(TRUE if value else FALSE, (), value)


class _Values:
    """The plan nodes of values inside atoms (operands of comparisons, arithmetic...), memoised per IR node for
    one policy and user: a known value is computed by its Python (a failure becomes a :class:`Fail`)."""

    def __init__(self, planner: _Planner) -> None:
        self.planner = planner
        self.memo: dict[ir.Node, _Val] = {}

    def __call__(self, node: ir.Node) -> _Val:
        val = self.memo.get(node)
        if val is None:
            val = self.memo[node] = self.value(node)
        return val

    def value(self, node: ir.Node) -> _Val:  # noqa: PLR0911 - one branch per construct
        planner = self.planner
        if isinstance(node, ir.Const):
            return _Val(constant(node.value, node.type))
        if isinstance(node, ir.Members):
            return _Val(Value(frozenset(node.values), "list"))
        if planner.known(node) and planner.sizing:
            stand_in = planner.stand_in(node.type)
            return _Val(stand_in, (stand_in,) if any(map(_may_fail, walk_ir.nodes(node))) else ())
        if planner.known(node):
            try:
                return _Val(_as_value(planner.compute(node), node.type))
            except Exception as exc:  # noqa: BLE001 - the atom is then unknown, as evaluate decides
                fail = Fail(repr(exc), node.type)
                return _Val(fail, (fail,))
        if isinstance(node, ir.Fact):
            return _Val(planner.fact(planner.policy.facts[node.index]))
        if isinstance(node, ir.ConditionRef):
            return _Val(planner.condition(node.name).value)
        if isinstance(node, ir.ActionRef):
            return _Val(planner.state(node.action, node.state))
        if isinstance(node, ir.Length):
            inner = self(node.operand)
            return _Val(Length(inner.node), inner.fallible, inner.nested)
        if isinstance(node, ir.Neg):
            inner = self(node.operand)
            return inner if isinstance(inner.node, Fail) else _Val(Neg(inner.node), inner.fallible, inner.nested)
        if isinstance(node, ir.Not):
            inner = self(node.operand)
            return _Val(not_(inner.node), inner.fallible, inner.nested)
        if isinstance(node, (ir.And, ir.Or)):
            parts = [self(operand) for operand in node.operands]
            combine = and_ if isinstance(node, ir.And) else or_
            return self.joined(combine(*(p.node for p in parts)), parts, "`and`" if isinstance(node, ir.And) else "`or`")
        if isinstance(node, ir.If):
            return self.choice(node)
        if isinstance(node, ir.Compare):
            left, right = self(node.left), self(node.right)
            return self.joined(compare(node.op, left.node, right.node), [left, right])
        if isinstance(node, ir.Contains):
            member, container = self(node.member), self(node.container)
            return self.joined(contains(member.node, container.node), [member, container])
        if isinstance(node, ir.Match):
            return self.match(node)
        if isinstance(node, ir.Arith):
            return self.arith(node)
        raise PlanError(f"cannot plan a {type(node).__name__} node")  # constants and members are always known

    @staticmethod
    def joined(node: Node, parts: list[_Val], construct: str | None = None, own: tuple[Node, ...] = ()) -> _Val:
        """``node`` computed from ``parts`` in order (then ``own``); under ``construct`` (a short-circuit) none of
        them may fail."""
        fallible = tuple(f for p in parts for f in p.fallible) + own
        nested = next((p.nested for p in parts if p.nested is not None), None)
        if nested is None and construct is not None and fallible:
            nested = (fallible[0].to_dict()["op"], construct)
        return _Val(node, fallible, nested)

    def choice(self, node: ir.If) -> _Val:
        test = self(node.test)
        if isinstance(test.node, Value):  # the branch not taken is not computed (it may fail)
            return self(node.then if test.node.value else node.otherwise)
        then, otherwise = self(node.then), self(node.otherwise)
        branches = self.joined(TRUE, [then, otherwise], "`?:`")
        nested = test.nested or branches.nested
        if test.node.type == "bool" and then.node == otherwise.node:
            return _Val(then.node, test.fallible + branches.fallible, nested)
        # (the test once: a copy per branch would double per level)
        return _Val(IfElse(test.node, then.node, otherwise.node), test.fallible + branches.fallible, nested)

    def match(self, node: ir.Match) -> _Val:
        inner = self(node.operand)
        if isinstance(inner.node, Fail):
            return inner
        result = Match(inner.node, node.pattern, node.search)
        return self.joined(not_(result) if node.negated else result, [inner], own=(result,))

    def arith(self, node: ir.Arith) -> _Val:
        op = _OPS[node.op]
        left, right = self(node.left), self(node.right)
        if isinstance(left.node, Fail) or isinstance(right.node, Fail):  # evaluate raises there first
            return self.joined(left.node if isinstance(left.node, Fail) else right.node, [left, right])
        result = Arith(op, left.node, right.node)
        # + - * fail only past 1e999999 (see docs/plans.md): never on a database's numbers
        return self.joined(result, [left, right], own=() if op in "+-*" else (result,))


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


def plan_budget_problems(policy: CompiledPolicy, memo: dict[Any, int] | None = None,
                         base: CompiledPolicy | None = None) -> list[Diagnostic]:
    """A located load error for each action of ``policy`` whose plan, for some user, would be over
    :data:`PLAN_BUDGET` (issue 21: refused when the policy loads, not when a query is planned).

    Measured once, for a user whose facts are known but not their values: whatever reads only user facts is an
    opaque stand-in (:meth:`_Planner.opaque`: a known condition as ``Guard(?, ?)`` with one problem per user fact and
    per computation that can fail in what it reads; a known value as one node, fallible if it can fail). A real
    user's values fold each stand-in to no more (true, false, the three-node unknown, a constant or one
    :class:`Fail`, with at most that many problems), a known ``?:`` test keeps one branch, and each construction
    (``and_``, ``or_``, ``not_``, ``guard``, ``compare``...) maps smaller operands to no larger nodes; so this size
    bounds every user's (and :func:`within_budget` should never refuse a policy that loaded). ``memo`` (one per
    load) keeps each verdict under everything the action's plan reads (the IR of its conditions, and of the named
    conditions and actions they read), so a store that changes none of it is not measured again. ``base`` (a
    store's, measured already): only the actions whose plan reads something the store changed are looked at."""
    out: list[Diagnostic] = []
    planner: _Planner | None = None
    keys = _BudgetKeys(policy)
    changed = _Changed(policy, base) if base is not None else None
    for action in policy.actions:
        if changed is not None and not changed.action(action.id):
            continue  # the very objects the base's plan was measured over
        key = keys.action(action.id)
        if memo is not None and key in memo:
            continue  # measured (and, when over, reported) for an earlier version or store of this load
        planner = planner or _Planner(policy, {}, sizing=True)
        size = tree_size((planner.state(action.id, "enabled"), planner.reasons(action.id)))
        if memo is not None:
            memo[key] = size
        if size > PLAN_BUDGET:
            out.append(_largest(planner, action, base).diagnostic(
                f"action {action.id!r} would have a query plan of {size} nodes, over the plan budget of "
                f"{PLAN_BUDGET} (about 1 MB of SQL)", hint="split its conditions into fewer, flatter ones"))
    return out


class _Changed:
    """Whether an action's plan reads an action or named condition a store changed (not the base's very object)."""

    def __init__(self, policy: CompiledPolicy, base: CompiledPolicy) -> None:
        self.policy = policy
        self.by_id = {a.id: a for a in policy.actions}
        ours = {a.id: a for a in base.actions}
        self.memo: dict[tuple[str, str], bool] = {
            **{("action", a.id): True for a in policy.actions if ours.get(a.id) is not a},
            **{("condition", n): True for n, c in policy.conditions.items() if base.conditions.get(n) is not c}}

    def action(self, action_id: str) -> bool:
        found = self.memo.get(("action", action_id))
        if found is None:
            found = self.memo["action", action_id] = any(map(self.expr, self.by_id[action_id].exprs()))
        return found

    def condition(self, name: str) -> bool:
        found = self.memo.get(("condition", name))
        if found is None:
            found = self.memo["condition", name] = self.expr(self.policy.conditions[name])
        return found

    def expr(self, expr: CompiledExpr) -> bool:
        return any(map(self.condition, expr.conditions)) or any(map(self.action, expr.actions))


class _BudgetKeys:
    """What each action's plan reads, as IR: its conditions, and (recursively) each named condition and action they
    read; memoised per name, so one policy's keys cost one pass over its conditions."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.by_id = {a.id: a for a in policy.actions}
        self.memo: dict[tuple[str, str], tuple[Any, ...]] = {}

    def action(self, action_id: str) -> tuple[Any, ...]:
        key = self.memo.get(("action", action_id))
        if key is None:
            action = self.by_id[action_id]
            key = (action_id, len(action.guards), *map(self.expr, action.exprs()))
            self.memo["action", action_id] = key
        return key

    def condition(self, name: str) -> tuple[Any, ...]:
        key = self.memo.get(("condition", name))
        if key is None:
            key = self.memo["condition", name] = (name, self.expr(self.policy.conditions[name]))
        return key

    def expr(self, expr: CompiledExpr) -> Any:
        if not (expr.conditions or expr.actions):
            return expr.ir
        return (expr.ir, *map(self.condition, sorted(expr.conditions)), *map(self.action, sorted(expr.actions)))


def _largest(planner: _Planner, action: CompiledAction, base: CompiledPolicy | None) -> Any:
    """The action's condition (its spec :class:`~policyengine.pipeline.model.Expr`) whose plan is the largest; for
    a store, among those its override wrote if any (the store is what changed)."""
    specs: list[tuple[CompiledExpr, Any]] = [(action.visible, action.spec.visible), (action.allow, action.spec.allow),
                                             *((g.when, g.spec.when) for g in action.guards),
                                             *((e.when, e.spec.when) for e in action.effects if e.when is not None)]
    if base is not None:
        specs = [p for p in specs if p[1].doc.file != base.spec.doc.file] or specs

    def size(pair: tuple[CompiledExpr, Any]) -> int:
        sym = planner.sym(pair[0])
        return tree_size((sym.tri, sym.problems))

    return max(specs, key=size)[1]


def within_budget(node: Any, label: str, action: str) -> Any:
    """``node`` (a plan or reasons' branches), or :class:`PlanError` when it is over :data:`PLAN_BUDGET`."""
    nodes = tree_size(node)
    if nodes > PLAN_BUDGET:
        raise PlanError(f"cannot plan `{action}` of {label}: its plan has {nodes} nodes, over the plan budget of "
                        f"{PLAN_BUDGET} (about 1 MB of SQL); split its conditions into fewer, flatter ones")
    return node


def children(node: Node) -> tuple[Node, ...]:
    """The plan nodes directly under ``node``."""
    kind = node.__class__
    if kind is And or kind is Or:
        return node.args  # type: ignore[union-attr]
    if kind is Succeeds:
        return node.values  # type: ignore[union-attr,return-value]
    return tuple(getattr(node, name) for name in _CHILD_FIELDS[kind])


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    Value: (), Fact: (), Fail: (), Valid: ("fact",), Compare: ("left", "right"), In: ("member", "container"),
    Length: ("value",), Match: ("value",), Arith: ("left", "right"), Neg: ("value",),
    IfElse: ("test", "then", "otherwise"), Not: ("arg",), Known: ("arg",), IsTrue: ("arg",),
    Guard: ("known", "value")}
"""Each node class's child fields, in order (And, Or and Succeeds hold a tuple)."""


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


def tree_size(roots: Any, memo: dict[int, int] | None = None) -> int:
    """How many nodes the plan under ``roots`` has written out as a tree (as SQL text writes it: a shared
    sub-expression once per use), computed over the DAG in linear time: what the plan budget bounds. ``memo``
    (node id -> size) may be shared by calls over nodes that stay alive meanwhile."""
    memo = {} if memo is None else memo

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
    facts = {n.name for n in walk(out) if isinstance(n, Fact)}  # (one walk: the branches share their nodes)
    return ReasonPlan(action, label, tuple(out), tuple(sorted(facts)), tuple(blocks))
