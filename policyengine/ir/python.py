"""The IR as Python source: the executable meaning of every atom, which the generated evaluators, the interpreter
and every fold of a plan run.

The source reads local names (``f<i>`` for the i-th fact, ``c_<name>`` for a named condition, ``a_<id>`` for another
action's Decision, unless the caller renders references its own way) and module constants it registers as it goes
(compiled regexes, frozensets, exact Decimals). Numbers are decided exactly as rule-engine decides them: facts stay
plain Python numbers on the hot path, compared with thresholds computed at load (:mod:`~policyengine.ir.numbers`);
arithmetic runs in ``Decimal`` under the one fixed context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .nodes import (
    ActionRef,
    And,
    Arith,
    Compare,
    ConditionRef,
    Const,
    Contains,
    Fact,
    If,
    Length,
    Match,
    Members,
    Neg,
    Node,
    Not,
    Or,
)
from .numbers import ARITHMETIC, compare_literal, member_sets, to_decimal
from .regexes import MAX_MATCHED_LENGTH, too_long

__all__ = ["SAFE_BUILTINS", "PythonSource", "default_reference", "function", "is_decimal", "namespace_for"]

SAFE_BUILTINS = {"len": len, "str": str, "int": int, "float": float, "bool": bool, "dict": dict,
                 "frozenset": frozenset, "Exception": Exception, "KeyError": KeyError, "TypeError": TypeError,
                 "D": to_decimal, "TOO_LONG": too_long, **{f"D_{name}": op for name, op in ARITHMETIC.items()}}
"""The only builtins emitted source may use."""

_STATE_CODE = {"visible": "{0}.visible", "hidden": "(not {0}.visible)", "enabled": "{0}.enabled",
               "disabled": "({0}.state == 'disabled')"}

_EXACT = "9007199254740992.0"
"""2**53: below it, an int and a float compare in Python as rule-engine compares them."""

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

Reference = Callable[[Node], "str | None"]
"""Renders a fact, condition or action reference its own way (None: the default local name)."""


def default_reference(node: Fact | ConditionRef | ActionRef) -> str:
    if isinstance(node, Fact):
        return f"f{node.index}"
    if isinstance(node, ConditionRef):
        return f"c_{node.name}"
    return _STATE_CODE[node.state].format(f"a_{node.action}")


def is_decimal(node: Node) -> bool:
    """Whether ``node``'s Python value is a ``Decimal`` (rule-engine's exact value) rather than a plain int/float:
    literals and arithmetic are; facts and lengths are not; a ternary is when either branch is."""
    if isinstance(node, (Const, Neg, Arith)):
        return isinstance(node, (Neg, Arith)) or node.type == "number"
    if isinstance(node, If):
        return is_decimal(node.then) or is_decimal(node.otherwise)
    return False


class PythonSource:
    """Emits Python source for IR nodes. ``constants`` collects the module constants the source names, each named
    ``K_<prefix>_<n>``; ``reference`` may render references its own way (inlined conditions, lazy fact reads)."""

    def __init__(self, prefix: str, constants: dict[str, Any], reference: Reference | None = None) -> None:
        self.prefix = prefix
        self.constants = constants
        self.reference = reference
        self.count = 0

    def constant(self, value: Any) -> str:
        name = f"K_{self.prefix}_{self.count}"
        self.count += 1
        self.constants[name] = value
        return name

    def expr(self, node: Node) -> str:  # noqa: PLR0911 - one branch per construct
        if isinstance(node, (Fact, ConditionRef, ActionRef)):
            custom = self.reference(node) if self.reference is not None else None
            return custom if custom is not None else default_reference(node)
        if isinstance(node, Length):
            return f"len({self.expr(node.operand)})"
        if isinstance(node, Const):
            if node.type == "number":
                return self.constant(node.value)
            return ("True" if node.value else "False") if node.type == "bool" else repr(node.value)
        if isinstance(node, Members):
            return self.constant(frozenset(node.values))
        if isinstance(node, Not):
            return f"(not {self.expr(node.operand)})"
        if isinstance(node, (And, Or)):
            word = " and " if isinstance(node, And) else " or "
            return "(" + word.join(self.expr(operand) for operand in node.operands) + ")"
        if isinstance(node, Neg):
            return f"D_neg({self.as_decimal(node.operand)})"
        if isinstance(node, Arith):
            return f"D_{node.op}({self.as_decimal(node.left)}, {self.as_decimal(node.right)})"
        if isinstance(node, If):
            if is_decimal(node):
                then, otherwise = self.as_decimal(node.then), self.as_decimal(node.otherwise)
            else:
                then, otherwise = self.expr(node.then), self.expr(node.otherwise)
            return f"({then} if {self.expr(node.test)} else {otherwise})"
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Contains):
            return self.contains(node)
        if isinstance(node, Match):
            return self.match(node)
        raise TypeError(f"not an IR node: {node!r}")

    def as_decimal(self, node: Node) -> str:
        """``node`` as a Decimal, converted the way rule-engine converts numbers."""
        code = self.expr(node)
        return code if is_decimal(node) else f"D({code})"

    def compare(self, node: Compare) -> str:
        op, left, right = node.op, node.left, node.right
        if node.operand_type != "number":
            return f"({self.expr(left)} {op} {self.expr(right)})"
        native_left, native_right = not is_decimal(left), not is_decimal(right)
        if native_left and isinstance(right, Const):
            return compare_literal(self.expr(left), op, right.value)  # type: ignore[arg-type]  # a number
        if native_right and isinstance(left, Const):
            return compare_literal(self.expr(right), _FLIP[op], left.value)  # type: ignore[arg-type]
        if native_left and native_right:
            # Two ints or two floats compare in Python exactly as in Decimal; so do an int and a float below 2**53
            # (the float's shortest repr is on the same side of every integer as the float itself); else Decimal.
            left_code, right_code = self.expr(left), self.expr(right)
            small = f"-{_EXACT} < {{0}} < {_EXACT}"
            return (f"({left_code} {op} {right_code} if {left_code}.__class__ is {right_code}.__class__ or "
                    f"({small.format(left_code)} and {small.format(right_code)}) "
                    f"else D({left_code}) {op} D({right_code}))")
        return f"({self.as_decimal(left)} {op} {self.as_decimal(right)})"

    def contains(self, node: Contains) -> str:
        member, container = node.member, node.container
        if not (isinstance(container, Members) and container.member_type == "number"):
            return f"({self.expr(member)} in {self.expr(container)})"
        # ``member in [number literals]`` as rule-engine decides it: Decimal equality with each literal
        code = self.expr(member)
        if is_decimal(member):
            return f"({code} in {self.constant(frozenset(container.values))})"
        floats, ints, single = member_sets(container.values)  # type: ignore[arg-type]  # numbers
        if single:
            return f"({code} in {self.constant(floats)})"
        return f"({code} in {self.constant(floats)} if {code}.__class__ is float else {code} in {self.constant(ints)})"

    def match(self, node: Match) -> str:
        pattern = self.constant(re.compile(node.pattern))
        method = "search" if node.search else "match"
        negate = "is None" if node.negated else "is not None"
        value = self.expr(node.operand)
        # past MAX_MATCHED_LENGTH characters the match is not tried: TOO_LONG raises, the condition is unknown
        return (f"({pattern}.{method}({value}) {negate} if len({value}) <= {MAX_MATCHED_LENGTH} "
                f"else TOO_LONG({value}))")


def namespace_for(constants: Mapping[str, Any]) -> dict[str, Any]:
    """Globals for emitted source: ``constants`` and the few builtins the source uses, nothing else."""
    namespace: dict[str, Any] = dict(constants)
    namespace["__builtins__"] = dict(SAFE_BUILTINS)
    return namespace


def function(params: Sequence[str], source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """``source`` (emitted by :class:`PythonSource`) as a function of ``params``: the one place emitted source
    becomes code outside the generated evaluators' modules."""
    return eval(f"lambda {', '.join(params)}: {source}", namespace)  # type: ignore[no-any-return]  # noqa: S307 - our own emission
