"""Numbers exactly as rule-engine sees them, computed under one fixed decimal context.

rule-engine turns every number into a :class:`~decimal.Decimal`: an ``int`` exactly, a ``float`` through its
shortest ``repr`` (so ``0.1`` is ``Decimal('0.1')``, and ``float(2**60)`` is ``Decimal('1152921504606847000')``,
not ``2**60``), and computes arithmetic under a decimal context. The translated conditions keep facts as plain
Python numbers on the hot path and still decide exactly as rule-engine does:

* a comparison of a fact with a literal becomes a comparison with thresholds computed here, once, at load time:
  a float threshold for float facts (``repr`` is monotonic, so ``Decimal(repr(f)) < L`` is ``f < g`` or
  ``f <= g`` for one float ``g``) and an integer threshold for int facts, or one plain literal when both agree;
* a list of number literals becomes a set of the floats and a set of the ints that equal one of its members;
* everything else (arithmetic, unary minus, comparisons mixing an int with a float) runs in ``Decimal`` under
  :data:`CONTEXT`.

:data:`CONTEXT` is rule-engine's default context, fixed and private: the caller's thread-local context (a host
running at 40 digits) never changes a decision, a proof or a table. Its flags are set by operations and never read.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

__all__ = ["CONTEXT", "MAX_LITERAL_DIGITS", "MAX_LITERAL_EXPONENT", "ARITHMETIC", "compare_literal",
           "literal_problem", "member_sets", "to_decimal"]

CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999, capitals=1, clamp=0,
                          flags=[], traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
"""The one decimal context of every condition, table and proof: Python's (and rule-engine's) default context,
built from explicit values so that not even a change to ``decimal.DefaultContext`` reaches it."""

MAX_LITERAL_DIGITS = 100
"""A number literal has at most this many significant digits."""

MAX_LITERAL_EXPONENT = 1000
"""A non-zero number literal lies between ``1e-1000`` and ``1e1000`` in magnitude (so no threshold computed from
it is ever a huge integer)."""

ARITHMETIC = {"add": CONTEXT.add, "sub": CONTEXT.subtract, "mul": CONTEXT.multiply, "tdiv": CONTEXT.divide,
              "fdiv": CONTEXT.divide_int, "mod": CONTEXT.remainder, "pow": CONTEXT.power, "neg": CONTEXT.minus}
"""rule-engine's operators (``Decimal.__add__`` and friends) as methods of :data:`CONTEXT`, by rule-engine's names."""


def to_decimal(value: Any) -> Decimal:
    """A number as rule-engine sees it: ints exactly, floats through their shortest repr."""
    if value.__class__ is Decimal:
        return value
    if isinstance(value, int):
        return Decimal(int(value))
    return Decimal(float.__repr__(value))


def literal_problem(value: Decimal) -> str | None:
    """Why a number literal is outside the load budget, or None."""
    if not value.is_finite():
        return f"number literal {value} is not finite"
    if value.is_zero():
        return None
    digits = len(value.as_tuple().digits)
    if digits > MAX_LITERAL_DIGITS:
        return f"number literal has {digits} significant digits (the limit is {MAX_LITERAL_DIGITS})"
    if abs(value.adjusted()) > MAX_LITERAL_EXPONENT:
        return (f"number literal {value:.3e} is out of range (the limit is 1e-{MAX_LITERAL_EXPONENT} to "
                f"1e{MAX_LITERAL_EXPONENT} in magnitude)")
    return None


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=decimal.ROUND_CEILING))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=decimal.ROUND_FLOOR))


def _int_form(op: str, value: Decimal) -> tuple[str, int] | None:
    """``n <op> value`` for every int ``n``, as ``n <op'> k``; None when it is never true (``==`` a non-integer)."""
    if op == "<":
        return "<", _ceil(value)
    if op == "<=":
        return "<=", _floor(value)
    if op == ">":
        return ">", _floor(value)
    if op == ">=":
        return ">=", _ceil(value)
    return (op, int(value)) if value == value.to_integral_value() else None


def _float_form(op: str, value: Decimal) -> tuple[str, float] | None:
    """``Decimal(repr(f)) <op> value`` for every finite float ``f``, as ``f <op'> g``; None when never true.

    ``g`` is the float nearest ``value``. Every float below ``g`` has a repr below ``value`` and every float above
    it one above (``value`` lies in ``g``'s rounding interval, each repr in its own float's), so only ``g`` itself
    needs the exact comparison of its repr with ``value``, done here."""
    g = float(value)  # the nearest float (correctly rounded; +-inf past the float range)
    if not math.isfinite(g):  # past the float range: every finite float is on one side
        return (op, g) if op != "==" else None
    side = (to_decimal(g) > value) - (to_decimal(g) < value)
    if op == "<":
        return ("<" if side >= 0 else "<="), g
    if op == "<=":
        return ("<" if side > 0 else "<="), g
    if op == ">":
        return (">" if side <= 0 else ">="), g
    if op == ">=":
        return (">" if side < 0 else ">="), g
    return ("==", g) if side == 0 else None


def _source(number: float | int) -> str:
    if isinstance(number, float) and not math.isfinite(number):
        return "1e999" if number > 0 else "-1e999"
    return repr(number)


def compare_literal(code: str, op: str, value: Decimal) -> str:
    """Python source deciding ``<code> <op> <value>`` as rule-engine does, where ``code`` is a Python int or float
    (a fact, a ``len``) and ``value`` a number literal. One plain comparison when a single threshold serves both ints
    and floats (``order.total > 100``, ``order.total < 0.5``), else one per type."""
    if op == "!=":
        return f"(not {compare_literal(code, '==', value)})"
    as_float, as_int = _float_form(op, value), _int_form(op, value)
    if as_float is not None and math.isfinite(as_float[1]) and _int_form(as_float[0], Decimal(as_float[1])) == as_int:
        return f"({code} {as_float[0]} {_source(as_float[1])})"  # the same threshold for ints (compared exactly)
    if as_float is None and as_int is None:
        return f"({code} != {code})"  # never true for a valid number; still reads the value
    float_code = f"{code} {as_float[0]} {_source(as_float[1])}" if as_float else f"{code} != {code}"
    int_code = f"{code} {as_int[0]} {as_int[1]!r}" if as_int else f"{code} != {code}"
    return f"({float_code} if {code}.__class__ is float else {int_code})"


def member_sets(values: Iterable[Decimal]) -> tuple[frozenset[float], frozenset[int], bool]:
    """The floats and the ints equal, as rule-engine compares them, to one of ``values``; and whether the floats
    alone serve both (every value is exactly a float whose repr is itself, like ``2`` or ``0.5``: Python then
    compares an int with them exactly)."""
    floats: set[float] = set()
    ints: set[int] = set()
    single = True
    for value in values:
        g = float(value)  # the nearest float (correctly rounded; +-inf past the float range)
        if math.isfinite(g) and to_decimal(g) == value:
            floats.add(g)
            single = single and Decimal(g) == value
        else:
            single = False
        if value == value.to_integral_value():
            ints.add(int(value))
    return frozenset(floats), frozenset(ints), single
