"""What a fact's value may be: the one definition every evaluation path shares.

Two parts, and every path uses one of them:

* :data:`EXACT`: per fact type, the classes whose instances the fast paths take as they are: the precomputed table,
  the C batch loop (``_batch.c`` receives these classes from :mod:`.codegen`), and the checks inlined into the
  generated evaluator (also rendered from here). The test is on the exact class, ``type(value) is cls``, never
  ``isinstance`` or ``value.__class__``: a subclass, a proxy or a look-alike that compares and hashes equal to
  ``'admin'`` is not an exact ``str``, so no fast path ever looks it up or compares it.
* :func:`check_value`: the complete check every other value goes to (the generated evaluator's fail-closed path and
  the interpreter). It accepts what the fast paths accept, unchanged, and may accept more by *normalising* it into
  an exact value first (a ``str`` subclass such as a ``StrEnum`` member into its plain string), so nothing a host
  class defines (``__eq__``, ``__hash__``, ``__iter__``) ever runs inside a condition. Whatever the value does, it
  returns: a host object that raises from ``__class__``, ``__repr__``, ``__iter__`` or ``__len__`` is reported as a
  bad fact, never raised.

So the paths cannot disagree: a fast path either takes an exact value (which :func:`check_value` returns unchanged)
or passes the value on to :func:`check_value`. Accepting a new kind of value is a change to :func:`check_value`
(normalise it); to :data:`EXACT` only to make it fast as well.

What :func:`check_value` normalises, beyond the exact classes (ORM values: SQLAlchemy ``Numeric`` and ``Enum``
columns, Django ``DecimalField`` and ``TextChoices``):

* a finite :class:`~decimal.Decimal` for a number fact, into the ``int`` or ``float`` rule-engine sees as the same
  number: an integral Decimal into its ``int`` (``Decimal('1000.00')`` is ``1000``), any other into the float whose
  shortest ``repr`` is that number (``Decimal('1000.01')`` is ``1000.01``: every Decimal of up to 15 significant
  digits has one). So a Decimal decides exactly as the equal int or float does. A Decimal no int or float equals
  exactly (``Decimal('0.10000000000000000001')``), NaN and the infinities are refused, never rounded;
* an :class:`enum.Enum` member, for an enum, string, number or set fact, into its ``.value`` (read from the member
  itself, ``_value_``: no property of the host's runs), which is then checked as if it had been given: a member
  whose value is ``'admin'`` is ``'admin'``, one whose value is ``2`` is ``2`` for a number fact and wrong for a
  string fact. Never for a bool fact: bools stay strict (no ``0``/``1``, no enum member, no bool for a number);
* a ``str``/``int``/``float`` subclass (a ``StrEnum``, ``IntEnum``) into its plain value.

:func:`check_value` also fills in a fact's declared ``default:`` for a *missing* value (:data:`MISSING`: the key or
attribute is absent); ``None`` or a wrong value is never replaced by the default, it fails closed.
"""

from __future__ import annotations

import enum
import math
import reprlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..pipeline.model import FactSpec

__all__ = ["EXACT", "MISSING", "SEQUENCES", "check_value", "describe", "exact_test", "safe_text"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""The value of a fact the adapter could not find."""

EXACT: Mapping[str, tuple[type, ...]] = {
    "bool": (bool,),
    "enum": (str,),
    "string": (str,),
    "number": (int, float),  # a float only when finite (the generated check and check_value both test it)
    "set": (frozenset,),  # of exact str members; lists, tuples and sets of them are normalised into one
}
"""Per fact type: the classes taken as they are, tested with ``type(value) is cls``."""

SEQUENCES: frozenset[type] = frozenset({list, tuple, set, frozenset})
"""The containers a set fact is accepted from (exact classes; their members must be exact ``str``)."""

_STR_ONLY = frozenset({str})


def exact_test(kind: str, var: str) -> str:
    """Python source testing that ``var`` holds a value of a fact of type ``kind`` that the fast paths take as-is
    (the generated evaluator's inlined check; ``type`` must be the builtin there)."""
    tests = [f"type({var}) is {cls.__name__}" for cls in EXACT[kind]]
    return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"


def check_value(fact: FactSpec, value: Any) -> tuple[Any, str | None]:
    """Normalise ``value`` for ``fact`` or say what is wrong with it (the complete, slow check). Never raises."""
    if value is MISSING:
        if fact.default is not None:  # declared `default:`: already a valid, normalised value (checked at load)
            return fact.default, None
        return value, "missing"
    if value is None:
        return value, "missing (null)"
    try:
        return _check(fact, value)
    except Exception as exc:  # a host object that raises while we look at it (iteration, a conversion)
        return value, f"could not be read: {type(exc).__name__}: {safe_text(exc)}"


def _check(fact: FactSpec, value: Any) -> tuple[Any, str | None]:
    kind = fact.type
    cls = type(value)  # the real class: `value.__class__` is the object's to define, and may raise or lie
    if kind != "bool" and issubclass(cls, enum.Enum) and not issubclass(cls, (str, int, float)):
        # a plain Enum member counts as its value (a str/int Enum mixin is that type already, handled below)
        inner = object.__getattribute__(value, "_value_")
        if type(inner) is bool or issubclass(type(inner), enum.Enum):  # no bool for a number, no enum of enums
            return value, f"expected {_TYPE_WORDS[kind]}, got {_type_name(cls)} {describe(value)}"
        plain, message = _check(fact, inner)
        return (value, message) if message else (plain, None)
    if kind == "bool":
        if cls is bool:
            return value, None
    elif kind in ("enum", "string"):
        if issubclass(cls, str):
            plain = value if cls is str else str.__str__(value)  # a StrEnum member counts as its value
            if kind == "enum" and plain not in fact.values:
                return value, f"{describe(plain)} is not a declared value (expected one of: {', '.join(fact.values)})"
            return plain, None
    elif kind == "number":
        if cls is not bool and issubclass(cls, (int, float)):
            number = value if cls in (int, float) else (int.__int__(value) if issubclass(cls, int)
                                                        else float.__float__(value))
            if type(number) is float and not math.isfinite(number):
                return value, f"{number!r} is not a finite number"
            return number, None
        if issubclass(cls, Decimal):
            return _from_decimal(Decimal(value))  # Decimal(): a plain copy, whatever a subclass overrides
    elif kind == "set" and cls in SEQUENCES:
        members = tuple(value)  # an exact container: its iteration is its own, not the host's
        if _STR_ONLY.issuperset(map(type, members)):
            return (value if cls is frozenset else frozenset(members)), None
        plain_members = []
        for member in members:
            plain, message = _member(fact, member)
            if message is not None:
                return value, message
            plain_members.append(plain)
        return frozenset(plain_members), None
    return value, f"expected {_TYPE_WORDS[kind]}, got {_type_name(cls)} {describe(value)}"


def _member(fact: FactSpec, member: Any) -> tuple[str, str | None]:
    """One member of a set fact as a plain str (a str subclass, or an Enum member whose value is a str)."""
    cls = type(member)
    if issubclass(cls, str):
        return str.__str__(member), None
    if issubclass(cls, enum.Enum) and not issubclass(cls, (int, float)):
        inner = object.__getattribute__(member, "_value_")
        if issubclass(type(inner), str):
            return str.__str__(inner), None
    return "", f"expected {_TYPE_WORDS[fact.type]}, got a member {_type_name(cls)} {describe(member)}"


MAX_DECIMAL_EXPONENT = 4300
"""An integral Decimal past ``1e4300`` in magnitude is refused rather than turned into an integer of thousands of
digits (Python's own limit on converting such integers to text)."""


def _from_decimal(number: Decimal) -> tuple[Any, str | None]:
    """A finite Decimal as the int or float rule-engine sees as the same number (see the module docstring)."""
    if not number.is_finite():
        return number, f"{describe(number)} is not a finite number"
    if number.is_zero():
        return 0, None
    if number.adjusted() > MAX_DECIMAL_EXPONENT:
        return number, f"{describe(number)} is out of range (larger than 1e{MAX_DECIMAL_EXPONENT})"
    if number.as_tuple().exponent >= 0 or number == number.to_integral_value():  # type: ignore[operator]
        return int(number), None
    nearest = float(number)  # correctly rounded; repr() of it is its shortest form, as rule-engine reads a float
    if math.isfinite(nearest) and Decimal(float.__repr__(nearest)) == number:
        return nearest, None
    return number, (f"{describe(number)} has more significant digits than a float keeps "
                    "(round it first, e.g. to the column's scale)")


_TYPE_WORDS = {"bool": "true/false", "enum": "a string", "string": "a string", "number": "a number",
               "set": "a list of strings"}

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3

_MAX_INT_BITS = 200
"""Integers longer than this are described by their size: their decimal form is slow to compute (and past Python's
conversion limit, refused)."""


def _type_name(cls: type) -> str:
    try:
        name = type.__dict__["__name__"].__get__(cls)  # the real name, even if a metaclass overrides __name__
        return name if type(name) is str else "object"
    except Exception:
        return "object"


def describe(value: Any) -> str:
    """A short ``repr`` of a host value for a message: bounded in length and cost, and never raising (a ``repr``
    that raises, or an integer of thousands of digits, is described instead of shown)."""
    try:
        if issubclass(type(value), int) and int.bit_length(value) > _MAX_INT_BITS:
            return f"<an integer of {int.bit_length(value)} bits>"
        text = _REPR.repr(value)
        return text if type(text) is str else f"<{_type_name(type(value))}>"
    except Exception:
        return f"<{_type_name(type(value))} that cannot be shown>"


def safe_text(exc: BaseException, limit: int = 200) -> str:
    """``str(exc)`` for a message: bounded, and never raising (an exception whose ``__str__`` raises is named by its
    class only)."""
    try:
        text = str(exc)
        if type(text) is not str:
            raise TypeError
    except Exception:
        return "<no message: its text could not be read>"
    return text if len(text) <= limit else text[:limit] + "..."
