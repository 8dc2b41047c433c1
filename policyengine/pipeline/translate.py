"""Part of stage 3, compile: type-check one parsed condition and translate its rule-engine AST into Python source.

rule-engine parses and type-checks the text under the typed context the compiler builds; this module adds the
checks rule-engine does not make (comparing a bool with a string, an enum with a value it does not declare, a
non-boolean used as a condition) and emits an equivalent Python expression over local names:

* ``f<i>``: the value of the i-th fact the policy reads,
* ``c_<name>``: the value of a named condition,
* ``a_<id>``: the Decision of an action referenced as ``actions.<id>.<state>``.

Only a documented subset of rule-engine is accepted; anything else is a load-time error, never a silent
difference from rule-engine's own evaluation (which the test suite uses as the oracle).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import rule_engine
from rule_engine import DataType, ast

__all__ = ["ACTION_STATES", "Refs", "TranslationError", "translate", "type_name"]

ACTION_STATES = ("visible", "hidden", "enabled", "disabled")
"""What a condition may ask of another action: ``actions.delete.enabled``."""

_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "tdiv": "/", "fdiv": "//", "mod": "%", "pow": "**"}
_STATE_CODE = {"visible": "{0}.visible", "hidden": "(not {0}.visible)", "enabled": "{0}.enabled",
               "disabled": "({0}.state == 'disabled')"}


class TranslationError(Exception):
    """A condition that parses but that the policy language rejects; ``needle`` locates it in the text."""

    def __init__(self, message: str, needle: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.needle, self.hint = message, needle, hint


@attrs.define
class Refs:
    """What one condition reads directly: facts, named conditions and other actions' states."""

    facts: set[str] = attrs.field(factory=set)
    conditions: set[str] = attrs.field(factory=set)
    actions: set[str] = attrs.field(factory=set)
    action_states: set[tuple[str, str]] = attrs.field(factory=set)
    """(action id, state) pairs read, e.g. ("delete", "enabled")."""
    constants: dict[str, Any] = attrs.field(factory=dict)
    """Module-level constants (compiled regexes, frozensets) the expression's Python source refers to."""


def type_name(dt: Any) -> str:
    """A policy author's name for a rule-engine type."""
    name = getattr(dt, "name", str(dt))
    return {"BOOLEAN": "bool", "STRING": "string", "FLOAT": "number", "SET": "set", "ARRAY": "list",
            "NULL": "null"}.get(name, name.lower())


def _is(dt: Any, kind: Any) -> bool:
    return bool(DataType.is_type(dt, kind))


def _round_trips(value: Any) -> bool:
    """Whether a number literal means the same as a Python int/float (so plain comparison equals rule-engine's)."""
    if not isinstance(value, Decimal):
        return True
    if value == value.to_integral_value():
        return True
    return Decimal(repr(float(value))) == value


def to_decimal(value: Any) -> Decimal:
    """A fact's number as rule-engine sees it (ints exactly, floats through their shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(int(value))
    return Decimal(repr(value))


def _literal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class _Translator:
    def __init__(self, facts: Mapping[str, Any], fact_index: Mapping[str, int], conditions: set[str],
                 actions: set[str], refs: Refs, prefix: str) -> None:
        self.facts = facts  # name -> FactSpec
        self.fact_index = fact_index
        self.conditions = conditions
        self.actions = actions
        self.refs = refs
        self.prefix = prefix
        self.decimal: set[int] = set()  # ids of nodes whose Python value is a Decimal

    def constant(self, value: Any) -> str:
        name = f"K_{self.prefix}_{len(self.refs.constants)}"
        self.refs.constants[name] = value
        return name

    # -- references -----------------------------------------------------------------------------------------
    def dotted(self, node: Any) -> list[str] | None:
        names: list[str] = []
        while isinstance(node, ast.GetAttributeExpression):
            if node.safe:
                raise TranslationError("safe navigation (&.) is not needed: facts are never null", "&.")
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

    def reference(self, node: Any) -> str:
        names = self.dotted(node)
        assert names is not None
        if names[0] == "actions":
            if len(names) != 3:
                raise TranslationError("an action reference reads one state: actions.<id>.<state>",
                                       ".".join(names), "states: " + ", ".join(ACTION_STATES))
            self.refs.actions.add(names[1])
            self.refs.action_states.add((names[1], names[2]))
            return _STATE_CODE[names[2]].format(f"a_{names[1]}")
        if len(names) == 1 and names[0] in self.conditions:
            self.refs.conditions.add(names[0])
            return f"c_{names[0]}"
        for cut in range(len(names), 1, -1):
            fact = ".".join(names[:cut])
            if fact in self.facts:
                self.refs.facts.add(fact)
                code = f"f{self.fact_index[fact]}"
                for attribute in names[cut:]:
                    if attribute != "length":
                        raise TranslationError(f"attribute {attribute!r} is not supported on facts (only .length)",
                                               attribute)
                    code = f"len({code})"
                return code
        raise TranslationError(f"{'.'.join(names)!r} is a group of facts, not a value", ".".join(names))

    # -- expressions -----------------------------------------------------------------------------------------
    def expr(self, node: Any) -> str:
        if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
            return self.reference(node)
        if isinstance(node, ast.BooleanExpression):
            return "True" if node.value else "False"
        if isinstance(node, ast.FloatExpression):
            value = _literal(node.value)
            if _round_trips(node.value):
                return repr(value)
            self.decimal.add(id(node))  # more digits than a float holds: compare as rule-engine does, in Decimal
            return self.constant(node.value)
        if isinstance(node, ast.StringExpression):
            return repr(node.value)
        if isinstance(node, ast.NullExpression):
            raise TranslationError("null is not a fact value: facts are never null", "null")
        if isinstance(node, (ast.ArrayExpression, ast.SetExpression)):
            return self.collection(node)
        if isinstance(node, ast.UnaryExpression):
            if node.type == "not":
                self.require_bool(node.right, "not")
                return f"(not {self.expr(node.right)})"
            code = f"(-{self.expr(node.right)})"
            if id(node.right) in self.decimal:
                self.decimal.add(id(node))
            return code
        if isinstance(node, ast.LogicExpression):
            self.require_bool(node.left, node.type)
            self.require_bool(node.right, node.type)
            return f"({self.expr(node.left)} {node.type} {self.expr(node.right)})"
        if isinstance(node, ast.FuzzyComparisonExpression):
            return self.regex(node)
        if isinstance(node, ast.ComparisonExpression):  # includes ArithmeticComparisonExpression
            return self.compare(node)
        if isinstance(node, ast.ContainsExpression):
            return self.contains(node)
        if isinstance(node, (ast.ArithmeticExpression, ast.AddExpression, ast.SubtractExpression)):
            for side in (node.left, node.right):
                if not _is(side.result_type, DataType.FLOAT):
                    raise TranslationError(f"arithmetic needs numbers, got {type_name(side.result_type)}")
            # rule-engine computes in Decimal (so 0.1 * 3 == 0.3 and -7 // 2 == -3): so do we, exactly.
            self.decimal.add(id(node))
            return f"({self.as_decimal(node.left)} {_ARITH[node.type]} {self.as_decimal(node.right)})"
        if isinstance(node, ast.TernaryExpression):
            self.require_bool(node.condition, "?")
            true, false = self.expr(node.case_true), self.expr(node.case_false)
            if {id(node.case_true), id(node.case_false)} & self.decimal:
                self.decimal.add(id(node))
                true, false = self.as_decimal(node.case_true), self.as_decimal(node.case_false)
            return f"({true} if {self.expr(node.condition)} else {false})"
        raise TranslationError(f"{type(node).__name__.replace('Expression', '').lower()} expressions are not "
                               "supported in policy conditions")

    def require_bool(self, node: Any, operator: str) -> None:
        if not _is(node.result_type, DataType.BOOLEAN):
            raise TranslationError(f"'{operator}' needs true/false operands, got {type_name(node.result_type)}",
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
        if isinstance(node, (ast.StringExpression, ast.FloatExpression, ast.BooleanExpression)):
            return str(_literal(node.value)).lower() if isinstance(node.value, bool) else str(_literal(node.value))
        return None

    def collection(self, node: Any) -> str:
        members = []
        for member in node.value:
            if not isinstance(member, (ast.StringExpression, ast.FloatExpression, ast.BooleanExpression)):
                raise TranslationError("list members must be literal values", self.needle(member))
            members.append(_literal(member.value))
        return self.constant(frozenset(members))

    def check_enum_literal(self, fact_node: Any, literal_node: Any) -> None:
        spec = self.enum_fact(fact_node)
        if spec is None or not isinstance(literal_node, ast.StringExpression):
            return
        if literal_node.value not in spec.values:
            import difflib

            close = difflib.get_close_matches(literal_node.value, spec.values, n=1, cutoff=0.6)
            raise TranslationError(
                f"{spec.name} is never {literal_node.value!r}; its declared values are: {', '.join(spec.values)}",
                literal_node.value, f"did you mean {close[0]!r}?" if close else None)

    def compare(self, node: Any) -> str:
        left, right = node.left, node.right
        lt, rt = left.result_type, right.result_type
        left_code, right_code = self.expr(left), self.expr(right)  # first: a bad reference or null explains itself
        if type_name(lt) != type_name(rt):
            raise TranslationError(
                f"cannot compare {self.shown(left)} ({type_name(lt)}) with {self.shown(right)} ({type_name(rt)})",
                self.needle(right) if isinstance(right, ast.LiteralExpressionBase) else self.needle(left))
        if node.type in ("lt", "le", "gt", "ge") and not (_is(lt, DataType.FLOAT) or _is(lt, DataType.STRING)):
            raise TranslationError(f"'{_COMPARE[node.type]}' compares numbers or strings, not {type_name(lt)}",
                                   self.needle(left))
        self.check_enum_literal(left, right)
        self.check_enum_literal(right, left)
        if {id(left), id(right)} & self.decimal:
            left_code, right_code = self.as_decimal(left), self.as_decimal(right)
        return f"({left_code} {_COMPARE[node.type]} {right_code})"

    def as_decimal(self, node: Any) -> str:
        """``node`` as a Decimal, converted the way rule-engine converts numbers."""
        code = self.expr(node)
        if id(node) in self.decimal:
            return code
        if isinstance(node, ast.FloatExpression):
            return self.constant(node.value)
        return f"D({code})"

    def contains(self, node: Any) -> str:
        container, member = node.container, node.member
        if isinstance(container, (ast.ArrayExpression, ast.SetExpression)):
            for item in container.value:
                if type_name(item.result_type) != type_name(member.result_type):
                    raise TranslationError(
                        f"cannot look for {self.needle(member) or 'a ' + type_name(member.result_type)} "
                        f"({type_name(member.result_type)}) among {type_name(item.result_type)} values",
                        self.needle(item))
                self.check_enum_literal(member, item)
        elif _is(container.result_type, DataType.SET) or _is(container.result_type, DataType.ARRAY):
            if type_name(container.result_type.value_type) != type_name(member.result_type):
                raise TranslationError(f"cannot look for a {type_name(member.result_type)} in a set of "
                                       f"{type_name(container.result_type.value_type)}", self.needle(member))
        elif _is(container.result_type, DataType.STRING):
            if not _is(member.result_type, DataType.STRING):
                raise TranslationError("only a string can be looked for in a string", self.needle(member))
        else:
            raise TranslationError(f"'in' needs a list, set or string on its right, got "
                                   f"{type_name(container.result_type)}", self.needle(container))
        return f"({self.expr(member)} in {self.expr(container)})"

    def regex(self, node: Any) -> str:
        if not isinstance(node.right, ast.StringExpression):
            raise TranslationError("the right side of =~ must be a literal regular expression", self.needle(node.right))
        if not _is(node.left.result_type, DataType.STRING):
            raise TranslationError("=~ matches strings only", self.needle(node.left))
        pattern = self.constant(re.compile(node.right.value))
        method = "search" if node.type.endswith("fzs") else "match"
        negate = "is None" if node.type.startswith("ne") else "is not None"
        return f"({pattern}.{method}({self.expr(node.left)}) {negate})"


def translate(rule: rule_engine.Rule, *, facts: Mapping[str, Any], fact_index: Mapping[str, int],
              conditions: set[str], actions: set[str], prefix: str) -> tuple[str, Refs]:
    """Python source equivalent to ``rule`` and what it reads; raises :class:`TranslationError`."""
    refs = Refs()
    node = rule.statement.expression
    translator = _Translator(facts, fact_index, conditions, actions, refs, prefix)
    if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
        translator.reference(node)  # a group of facts or a bare action reference explains itself
    if not _is(node.result_type, DataType.BOOLEAN):
        raise TranslationError(f"a condition must be true or false, but this is a {type_name(node.result_type)}",
                               translator.needle(node))
    return translator.expr(node), refs
