"""Lowering: the one module that reads rule-engine's tree. It type-checks what rule-engine does not (comparing a
bool with a string, an enum with a value it does not declare, a non-boolean used as a condition, literals outside
the load budget) and builds the condition's :mod:`IR <.nodes>`.

Only a documented subset of rule-engine is accepted; anything else is a load-time error, never a silent difference
from rule-engine's own evaluation (which the test suite uses as the oracle). When a condition does not lower, the
compiler asks this module, too, for what the diagnostics name (:func:`bad_literals`, :func:`static_mismatch`,
:func:`non_literal_member`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import rule_engine
import rule_engine.errors
from rule_engine import DataType, ast

from ..pipeline.literals import BadLiteral
from ..pipeline.model import FactSpec
from .nodes import (
    ACTION_STATES,
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
    Type,
)
from .numbers import MAX_LITERAL_DIGITS, MAX_LITERAL_EXPONENT, literal_problem
from .regexes import unsafe_reason

__all__ = ["MAX_DEPTH", "MAX_LIST_ITEMS", "LoweringError", "bad_literals", "lower", "non_literal_member",
           "static_mismatch", "type_name"]

_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

MAX_DEPTH = 32
"""How deeply a condition may nest (a chain of ``and``/``or`` counts once): deeper is a load error, so neither
rule-engine's parser nor any backend ever meets a condition it cannot handle."""

MAX_LIST_ITEMS = 10_000
"""How many members one list literal may have."""


class LoweringError(Exception):
    """A condition that parses but that the policy language rejects; ``needle`` locates it in the text."""

    def __init__(self, message: str, needle: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.needle, self.hint = message, needle, hint


def type_name(dt: Any) -> str:
    """A policy author's name for a rule-engine type."""
    name = getattr(dt, "name", str(dt))
    return {"BOOLEAN": "bool", "STRING": "string", "FLOAT": "number", "SET": "set", "ARRAY": "list",
            "NULL": "null"}.get(name, name.lower())


def _is(dt: Any, kind: Any) -> bool:
    return bool(DataType.is_type(dt, kind))


_LITERALS = (ast.StringExpression, ast.FloatExpression, ast.BooleanExpression)


class _Lowering:
    def __init__(self, facts: Mapping[str, Any], fact_index: Mapping[str, int], conditions: set[str]) -> None:
        self.facts = facts  # name -> FactSpec
        self.fact_index = fact_index
        self.conditions = conditions
        self.depth = 0
        self.enum_values: dict[str, frozenset[str]] = {}  # per enum fact, for checks in time linear in the literals

    # -- references -----------------------------------------------------------------------------------------
    def dotted(self, node: Any) -> list[str] | None:
        names: list[str] = []
        while isinstance(node, ast.GetAttributeExpression):
            if node.safe:
                raise LoweringError("safe navigation (&.) is not needed: facts are never null", "&.")
            names.append(node.name)
            node = node.object
        if isinstance(node, ast.SymbolExpression):
            names.append(node.name)
            return names[::-1]
        return None

    def enum_fact(self, node: Any) -> Any:
        """The FactSpec of an enum fact, if ``node`` reads one directly."""
        names = self.dotted(node)
        if names:
            spec = self.facts.get(".".join(names))
            if spec is not None and spec.type == "enum":
                return spec
        return None

    def reference(self, node: Any) -> Node:
        names = self.dotted(node)
        if names is None:  # an attribute of a computed value, such as `(order.flag ? order.a : order.b).length`
            raise LoweringError(f"attribute {node.name!r} is only supported on a fact (order.<fact>.length), not on "
                                "a computed value", node.name)
        if names[0] == "actions":
            if len(names) != 3:
                raise LoweringError("an action reference reads one state: actions.<id>.<state>",
                                    ".".join(names), "states: " + ", ".join(ACTION_STATES))
            return ActionRef(names[1], names[2])
        if len(names) == 1 and names[0] in self.conditions:
            return ConditionRef(names[0])
        for cut in range(len(names), 1, -1):
            fact = ".".join(names[:cut])
            if fact in self.facts:
                lowered: Node = Fact(fact, self.fact_index[fact], self.facts[fact].type)
                for attribute in names[cut:]:
                    if attribute != "length":
                        raise LoweringError(f"attribute {attribute!r} is not supported on facts (only .length)",
                                            attribute)
                    lowered = Length(lowered)
                return lowered
        raise LoweringError(f"{'.'.join(names)!r} is a group of facts, not a value", ".".join(names))

    # -- expressions -----------------------------------------------------------------------------------------
    def expr(self, node: Any) -> Node:
        """``node`` lowered; refuses nesting past :data:`MAX_DEPTH` (rule-engine's parser, which recurses more than
        this, has already accepted the condition, and compiler.MAX_OPERATORS keeps it far from Python's recursion
        limit)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise LoweringError(f"the condition nests more than {MAX_DEPTH} levels deep (the limit)", None,
                                    "split it into named conditions")
            return self.node(node)
        finally:
            self.depth -= 1

    def node(self, node: Any) -> Node:  # noqa: PLR0911 - one branch per construct of the language
        if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
            return self.reference(node)
        if isinstance(node, ast.BooleanExpression):
            return Const(bool(node.value))
        if isinstance(node, ast.FloatExpression):
            return Const(self.number(node))
        if isinstance(node, ast.StringExpression):
            return Const(node.value)
        if isinstance(node, ast.NullExpression):
            raise LoweringError("null is not a fact value: facts are never null", "null")
        if isinstance(node, (ast.ArrayExpression, ast.SetExpression)):
            return self.collection(node)
        if isinstance(node, ast.UnaryExpression):
            if node.type == "not":
                self.require_bool(node.right, "not")
                return Not(self.expr(node.right))
            if not _is(node.right.result_type, DataType.FLOAT):  # `-order.note` loaded and crashed the solver
                raise LoweringError(f"unary minus needs a number, got {type_name(node.right.result_type)}",
                                    self.needle(node.right))
            return Neg(self.expr(node.right))  # rule-engine negates a Decimal under its context (28 digits)
        if isinstance(node, ast.LogicExpression):
            return self.logic(node)
        if isinstance(node, ast.FuzzyComparisonExpression):
            return self.regex(node)
        if isinstance(node, ast.ComparisonExpression):  # includes ArithmeticComparisonExpression
            return self.compare(node)
        if isinstance(node, ast.ContainsExpression):
            return self.contains(node)
        if isinstance(node, (ast.ArithmeticExpression, ast.AddExpression, ast.SubtractExpression)):
            for side in (node.left, node.right):
                if not _is(side.result_type, DataType.FLOAT):
                    raise LoweringError(f"arithmetic needs numbers, got {type_name(side.result_type)}")
            return Arith(node.type, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.TernaryExpression):
            self.require_bool(node.condition, "?")
            then, otherwise = self.expr(node.case_true), self.expr(node.case_false)
            return If(self.expr(node.condition), then, otherwise)
        raise LoweringError(f"{type(node).__name__.replace('Expression', '').lower()} expressions are not "
                            "supported in policy conditions")

    def logic(self, node: Any) -> Node:
        """A chain of one operator is one flat node, however long."""
        operands = []
        todo = [node]
        while todo:
            current = todo.pop()
            if isinstance(current, ast.LogicExpression) and current.type == node.type:
                todo += [current.right, current.left]
            else:
                self.require_bool(current, node.type)
                operands.append(self.expr(current))
        return And(tuple(operands)) if node.type == "and" else Or(tuple(operands))

    def require_bool(self, node: Any, operator: str) -> None:
        if not _is(node.result_type, DataType.BOOLEAN):
            raise LoweringError(f"'{operator}' needs true/false operands, got {type_name(node.result_type)}",
                                self.needle(node))

    def shown(self, node: Any) -> str:
        """How to show an operand in a message: a fact's name, or a literal as written (strings quoted)."""
        if isinstance(node, ast.StringExpression):
            return repr(node.value)
        return self.needle(node) or "a " + type_name(node.result_type)

    def needle(self, node: Any) -> str | None:
        names = self.dotted(node) if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)) else None
        if names:
            return ".".join(names)
        if isinstance(node, _LITERALS):
            return str(node.value).lower() if isinstance(node.value, bool) else str(node.value)
        return None

    def number(self, node: Any) -> Decimal:
        """A number literal's value, within the load budget."""
        problem = literal_problem(node.value)
        if problem:
            raise LoweringError(problem, self.needle(node) if node.value.is_finite() else None,
                                "number literals are finite, with at most "
                                f"{MAX_LITERAL_DIGITS} digits, between 1e-{MAX_LITERAL_EXPONENT} and "
                                f"1e{MAX_LITERAL_EXPONENT}")
        return node.value  # type: ignore[no-any-return]  # rule-engine ships no types

    @staticmethod
    def check_length(node: Any) -> None:
        if len(node.value) > MAX_LIST_ITEMS:
            raise LoweringError(f"a list literal has {len(node.value)} members (the limit is {MAX_LIST_ITEMS})")

    def collection(self, node: Any, member_type: Any = None) -> Members:
        """A list literal; its members' type is the looked-for value's (``member_type``) or its first member's."""
        self.check_length(node)
        values: list[Any] = []
        for member in node.value:
            if not isinstance(member, _LITERALS):
                raise LoweringError("list members must be literal values", self.needle(member))
            values.append(self.number(member) if isinstance(member, ast.FloatExpression) else member.value)
        if member_type is None:
            return Members(tuple(values), Const(values[0]).type if values else "string")
        return Members(tuple(values), _TYPE.get(type_name(member_type), "string"))

    def check_enum_literal(self, fact_node: Any, literal_node: Any) -> None:
        spec = self.enum_fact(fact_node)
        if spec is None or not isinstance(literal_node, ast.StringExpression):
            return
        values = self.enum_values.get(spec.name)
        if values is None:
            values = self.enum_values[spec.name] = frozenset(spec.values)
        if literal_node.value not in values:
            close = difflib.get_close_matches(literal_node.value, spec.values, n=1, cutoff=0.6)
            raise LoweringError(
                f"{spec.name} is never {literal_node.value!r}; its declared values are: {', '.join(spec.values)}",
                literal_node.value, f"did you mean {close[0]!r}?" if close else None)

    def compare(self, node: Any) -> Node:
        left, right = node.left, node.right
        lt, rt = left.result_type, right.result_type
        lowered = Compare(_COMPARE[node.type], self.expr(left), self.expr(right))  # a bad reference explains itself
        if type_name(lt) != type_name(rt):
            raise LoweringError(
                f"cannot compare {self.shown(left)} ({type_name(lt)}) with {self.shown(right)} ({type_name(rt)})",
                self.needle(right) if isinstance(right, ast.LiteralExpressionBase) else self.needle(left))
        if node.type in ("lt", "le", "gt", "ge") and not (_is(lt, DataType.FLOAT) or _is(lt, DataType.STRING)):
            raise LoweringError(f"'{_COMPARE[node.type]}' compares numbers or strings, not {type_name(lt)}",
                                self.needle(left))
        self.check_enum_literal(left, right)
        self.check_enum_literal(right, left)
        return lowered

    def contains(self, node: Any) -> Node:
        container, member = node.container, node.member
        if isinstance(container, (ast.ArrayExpression, ast.SetExpression)):
            self.check_length(container)
            for item in container.value:
                if type_name(item.result_type) != type_name(member.result_type):
                    raise LoweringError(
                        f"cannot look for {self.needle(member) or 'a ' + type_name(member.result_type)} "
                        f"({type_name(member.result_type)}) among {type_name(item.result_type)} values",
                        self.needle(item))
                self.check_enum_literal(member, item)
            if _is(member.result_type, DataType.FLOAT):  # every member within the literal budget, first
                members = self.collection(container, member.result_type)
                return Contains(self.expr(member), members)
            return Contains(self.expr(member), self.collection(container, member.result_type))
        if _is(container.result_type, DataType.SET) or _is(container.result_type, DataType.ARRAY):
            if type_name(container.result_type.value_type) != type_name(member.result_type):
                raise LoweringError(f"cannot look for a {type_name(member.result_type)} in a set of "
                                    f"{type_name(container.result_type.value_type)}", self.needle(member))
        elif _is(container.result_type, DataType.STRING):
            if not _is(member.result_type, DataType.STRING):
                raise LoweringError("only a string can be looked for in a string", self.needle(member))
        else:
            raise LoweringError(f"'in' needs a list, set or string on its right, got "
                                f"{type_name(container.result_type)}", self.needle(container))
        return Contains(self.expr(member), self.expr(container))

    def regex(self, node: Any) -> Node:
        if not isinstance(node.right, ast.StringExpression):
            raise LoweringError("the right side of =~ must be a literal regular expression", self.needle(node.right))
        if not _is(node.left.result_type, DataType.STRING):
            raise LoweringError("=~ matches strings only", self.needle(node.left))
        re.compile(node.right.value)  # re.error: the compiler reports it, located
        unsafe = unsafe_reason(node.right.value)
        if unsafe:
            raise LoweringError(f"regular expression {node.right.value!r} could take exponential or polynomial "
                                f"time to match: {unsafe}", node.right.value,
                                "patterns without nested or overlapping quantifiers, backreferences or "
                                "lookaround always match in linear time")
        return Match(self.expr(node.left), node.right.value, node.type.endswith("fzs"), node.type.startswith("ne"))


_TYPE: dict[str, Type] = {"bool": "bool", "number": "number", "string": "string", "set": "set"}


def lower(rule: rule_engine.Rule, *, facts: Mapping[str, Any], fact_index: Mapping[str, int],
          conditions: set[str]) -> Node:
    """``rule``'s condition as IR; raises :class:`LoweringError`."""
    node = rule.statement.expression
    lowering = _Lowering(facts, fact_index, conditions)
    if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
        lowering.reference(node)  # a group of facts or a bare action reference explains itself
    if not _is(node.result_type, DataType.BOOLEAN):
        raise LoweringError(f"a condition must be true or false, but this is a {type_name(node.result_type)}",
                            lowering.needle(node))
    return lowering.expr(node)


# -- reading a condition that does not lower: the diagnostics that name every problem at once -------------------------

_OPERANDS = ("left", "right", "member", "container", "condition", "case_true", "case_false")


def _operands(node: Any, *, whole: bool = False) -> list[Any]:
    """``node``'s operands in the order written; ``whole`` adds the object an attribute is read from and a list
    literal's members (every sub-expression)."""
    keys = (*_OPERANDS, "object") if whole else _OPERANDS
    out = [child for key in keys if isinstance(child := getattr(node, key, None), ast.ExpressionBase)]
    members = getattr(node, "value", None) if whole else None
    if isinstance(members, (tuple, list)):
        out += [item for item in members if isinstance(item, ast.ExpressionBase)]
    return out


def _dotted_name(node: Any) -> str | None:
    """``order.status`` for a chain of attributes read from a symbol, else None."""
    names: list[str] = []
    while isinstance(node, ast.GetAttributeExpression):
        names.append(node.name)
        node = node.object
    if isinstance(node, ast.SymbolExpression):
        return ".".join([node.name, *reversed(names)])
    return None


def _pairs(node: Any) -> Iterator[tuple[Any, Any]]:
    """(fact side, literal side) of each comparison and ``in`` list under ``node``, in reading order."""
    stack = [node]
    while stack:
        current = stack.pop()
        # `==`/`!=` only: a regex (`=~`) or an ordering compares no declared value
        if type(current) is ast.ComparisonExpression:
            yield current.left, current.right
            yield current.right, current.left
        elif isinstance(current, ast.ContainsExpression) and isinstance(current.container,
                                                                        (ast.ArrayExpression, ast.SetExpression)):
            for item in current.container.value:
                yield current.member, item
        stack.extend(reversed(_operands(current, whole=True)))


def bad_literals(rule: rule_engine.Rule, facts: Mapping[str, FactSpec]) -> list[BadLiteral]:
    """Every string literal compared with (or listed for ``in``) an enum fact that does not declare it, in order."""
    found: list[BadLiteral] = []
    for fact_node, literal in _pairs(rule.statement.expression):
        name = _dotted_name(fact_node)
        spec = facts.get(name) if name is not None else None
        if spec is None or spec.type != "enum" or not isinstance(literal, ast.StringExpression):
            continue
        bad = BadLiteral(spec, literal.value)
        if literal.value not in spec.values and bad not in found:
            found.append(bad)
    return found


def _static_type(node: Any, facts: Mapping[str, FactSpec], conditions: set[str]) -> tuple[str, str] | None:
    """(type, how to show it) of a reference or literal, from the declarations alone."""
    if isinstance(node, ast.StringExpression):
        return "string", repr(node.value)
    if isinstance(node, ast.FloatExpression):
        return "number", str(node.value)
    if isinstance(node, ast.BooleanExpression):
        return "bool", str(node.value).lower()
    dotted = _dotted_name(node)
    if dotted is None:
        return None
    if dotted in facts:
        kind = facts[dotted].type
        return ("string" if kind == "enum" else kind), dotted
    if dotted in conditions:
        return "bool", dotted
    return None


def static_mismatch(text: str, facts: Mapping[str, FactSpec], conditions: set[str]) -> tuple[str, str] | None:
    """(message, needle) of the comparison rule-engine's typed parse rejected without saying where, found by
    parsing ``text`` untyped; None when there is none."""
    try:
        root = rule_engine.Rule(text).statement.expression
    except rule_engine.errors.EngineError:
        return None
    todo = [root]
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.ComparisonExpression):
            left, right = (_static_type(n, facts, conditions) for n in (node.left, node.right))
            if left and right and left[0] != right[0]:
                return f"cannot compare {left[1]} ({left[0]}) with {right[1]} ({right[0]})", right[1].strip("'")
        todo += _operands(node)
    return None


def non_literal_member(rule: rule_engine.Rule) -> str | None:
    """How to show the first member of a list or set literal in ``rule`` that is not a literal (a fact, say), or
    None. Lists hold literals only; the ``in`` translation reads each member's value."""
    todo = [rule.statement.expression]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.ArrayExpression, ast.SetExpression)):
            for member in node.value:
                if not isinstance(member, _LITERALS):
                    return _dotted_name(member) or "an expression"
            todo += list(node.value)
        todo += _operands(node)
        todo += [node.object] if isinstance(getattr(node, "object", None), ast.ExpressionBase) else []
    return None
