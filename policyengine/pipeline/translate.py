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

from .numbers import MAX_LITERAL_DIGITS, MAX_LITERAL_EXPONENT, compare_literal, literal_problem, member_sets
from .numbers import to_decimal as to_decimal  # re-exported: where it was
from .regexes import MAX_MATCHED_LENGTH, unsafe_reason

__all__ = ["ACTION_STATES", "Refs", "TranslationError", "translate", "type_name"]

ACTION_STATES = ("visible", "hidden", "enabled", "disabled")
"""What a condition may ask of another action: ``actions.delete.enabled``."""

_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
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


_EXACT = "9007199254740992.0"
"""2**53: below it, an int and a float compare in Python as rule-engine compares them."""

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

MAX_DEPTH = 32
"""How deeply a condition may nest (a chain of ``and``/``or`` counts once): deeper is a load error, so neither
rule-engine's parser nor Python's compiler ever meet a condition they cannot handle."""

MAX_LIST_ITEMS = 10_000
"""How many members one list literal may have."""


class _Translator:
    def __init__(self, facts: Mapping[str, Any], fact_index: Mapping[str, int], conditions: set[str],
                 actions: set[str], refs: Refs, prefix: str) -> None:
        self.facts = facts  # name -> FactSpec
        self.fact_index = fact_index
        self.conditions = conditions
        self.actions = actions
        self.refs = refs
        self.prefix = prefix
        self.depth = 0
        self.enum_values: dict[str, frozenset[str]] = {}  # per enum fact, for checks in time linear in the literals
        self.decimal: set[int] = set()  # ids of nodes whose Python value is a Decimal (rule-engine's exact value)

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
        """``node``'s Python source; refuses nesting past :data:`MAX_DEPTH` (rule-engine's parser, which recurses
        more than this, has already accepted the condition, and compiler.MAX_OPERATORS keeps it far from Python's
        recursion limit)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise TranslationError(f"the condition nests more than {MAX_DEPTH} levels deep (the limit)", None,
                                       "split it into named conditions")
            return self.node(node)
        finally:
            self.depth -= 1

    def node(self, node: Any) -> str:
        if isinstance(node, (ast.SymbolExpression, ast.GetAttributeExpression)):
            return self.reference(node)
        if isinstance(node, ast.BooleanExpression):
            return "True" if node.value else "False"
        if isinstance(node, ast.FloatExpression):
            self.decimal.add(id(node))  # alone (a ternary's branch, say), a literal is its exact Decimal
            return self.constant(self.number(node))
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
            # rule-engine negates a Decimal under its context, so more than 28 digits are rounded: so do we
            self.decimal.add(id(node))
            return f"D_neg({self.as_decimal(node.right)})"
        if isinstance(node, ast.LogicExpression):
            operands = []  # a chain of one operator is one flat Python expression, however long
            todo = [node]
            while todo:
                current = todo.pop()
                if isinstance(current, ast.LogicExpression) and current.type == node.type:
                    todo += [current.right, current.left]
                else:
                    self.require_bool(current, node.type)
                    operands.append(self.expr(current))
            return "(" + f" {node.type} ".join(operands) + ")"
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
            # rule-engine computes in Decimal (so 0.1 * 3 == 0.3 and -7 // 2 == -3): so do we, exactly, under the
            # one fixed context (numbers.CONTEXT), whatever the caller's thread-local context is.
            self.decimal.add(id(node))
            return f"D_{node.type}({self.as_decimal(node.left)}, {self.as_decimal(node.right)})"
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
            return str(node.value).lower() if isinstance(node.value, bool) else str(node.value)
        return None

    def number(self, node: Any) -> Decimal:
        """A number literal's value, within the load budget."""
        problem = literal_problem(node.value)
        if problem:
            raise TranslationError(problem, self.needle(node) if node.value.is_finite() else None,
                                   "number literals are finite, with at most "
                                   f"{MAX_LITERAL_DIGITS} digits, between 1e-{MAX_LITERAL_EXPONENT} and "
                                   f"1e{MAX_LITERAL_EXPONENT}")
        return node.value  # type: ignore[no-any-return]

    @staticmethod
    def check_length(node: Any) -> None:
        if len(node.value) > MAX_LIST_ITEMS:
            raise TranslationError(f"a list literal has {len(node.value)} members (the limit is {MAX_LIST_ITEMS})")

    def collection(self, node: Any) -> str:
        """A list literal of strings or bools (numbers: see :meth:`numbers_in`)."""
        self.check_length(node)
        members = []
        for member in node.value:
            if not isinstance(member, (ast.StringExpression, ast.FloatExpression, ast.BooleanExpression)):
                raise TranslationError("list members must be literal values", self.needle(member))
            members.append(member.value)
        return self.constant(frozenset(members))

    def numbers_in(self, member: Any, container: Any) -> str:
        """``member in [number literals]`` as rule-engine decides it: Decimal equality with each literal."""
        values = [self.number(item) for item in container.value]
        code = self.expr(member)
        if id(member) in self.decimal:
            return f"({code} in {self.constant(frozenset(values))})"
        floats, ints, single = member_sets(values)
        if single:
            return f"({code} in {self.constant(floats)})"
        return f"({code} in {self.constant(floats)} if {code}.__class__ is float else {code} in {self.constant(ints)})"

    def check_enum_literal(self, fact_node: Any, literal_node: Any) -> None:
        spec = self.enum_fact(fact_node)
        if spec is None or not isinstance(literal_node, ast.StringExpression):
            return
        values = self.enum_values.get(spec.name)
        if values is None:
            values = self.enum_values[spec.name] = frozenset(spec.values)
        if literal_node.value not in values:
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
        op = _COMPARE[node.type]
        if not _is(lt, DataType.FLOAT):
            return f"({left_code} {op} {right_code})"
        return self.compare_numbers(left, op, right, left_code, right_code)

    def compare_numbers(self, left: Any, op: str, right: Any, left_code: str, right_code: str) -> str:
        """Numbers compared exactly as rule-engine compares them (as Decimals): see :mod:`.numbers`."""
        native = {id(n) for n in (left, right) if id(n) not in self.decimal}  # Python ints and floats
        if id(left) in native and isinstance(right, ast.FloatExpression):
            return compare_literal(left_code, op, self.number(right))
        if id(right) in native and isinstance(left, ast.FloatExpression):
            return compare_literal(right_code, _FLIP[op], self.number(left))
        if len(native) == 2:
            # Two ints or two floats compare in Python exactly as in Decimal; so do an int and a float below 2**53
            # (the float's shortest repr is on the same side of every integer as the float itself); else Decimal.
            small = f"-{_EXACT} < {{0}} < {_EXACT}"
            return (f"({left_code} {op} {right_code} if {left_code}.__class__ is {right_code}.__class__ or "
                    f"({small.format(left_code)} and {small.format(right_code)}) "
                    f"else D({left_code}) {op} D({right_code}))")
        return f"({self.as_decimal(left)} {op} {self.as_decimal(right)})"

    def as_decimal(self, node: Any) -> str:
        """``node`` as a Decimal, converted the way rule-engine converts numbers."""
        code = self.expr(node)
        if id(node) in self.decimal:
            return code
        return f"D({code})"

    def contains(self, node: Any) -> str:
        container, member = node.container, node.member
        numbers = False
        if isinstance(container, (ast.ArrayExpression, ast.SetExpression)):
            self.check_length(container)
            numbers = _is(member.result_type, DataType.FLOAT)
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
        if numbers:
            return self.numbers_in(member, container)
        return f"({self.expr(member)} in {self.expr(container)})"

    def regex(self, node: Any) -> str:
        if not isinstance(node.right, ast.StringExpression):
            raise TranslationError("the right side of =~ must be a literal regular expression", self.needle(node.right))
        if not _is(node.left.result_type, DataType.STRING):
            raise TranslationError("=~ matches strings only", self.needle(node.left))
        compiled = re.compile(node.right.value)
        unsafe = unsafe_reason(node.right.value)
        if unsafe:
            raise TranslationError(f"regular expression {node.right.value!r} could take exponential or polynomial "
                                   f"time to match: {unsafe}", node.right.value,
                                   "patterns without nested or overlapping quantifiers, backreferences or "
                                   "lookaround always match in linear time")
        pattern = self.constant(compiled)
        method = "search" if node.type.endswith("fzs") else "match"
        negate = "is None" if node.type.startswith("ne") else "is not None"
        value = self.expr(node.left)
        # past MAX_MATCHED_LENGTH characters the match is not tried: TOO_LONG raises, the condition is unknown
        return (f"({pattern}.{method}({value}) {negate} if len({value}) <= {MAX_MATCHED_LENGTH} "
                f"else TOO_LONG({value}))")


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
