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
or passes the value on to :func:`check_value`. Accepting a new kind of value (say ``Decimal`` numbers) is a change
to :func:`check_value` (normalise it); to :data:`EXACT` only to make it fast as well.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
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
    elif kind == "set" and cls in SEQUENCES:
        members = tuple(value)  # an exact container: its iteration is its own, not the host's
        if _STR_ONLY.issuperset(map(type, members)):
            return (value if cls is frozenset else frozenset(members)), None
        if all(issubclass(type(m), str) for m in members):
            return frozenset(str.__str__(m) for m in members), None
    return value, f"expected {_TYPE_WORDS[kind]}, got {_type_name(cls)} {describe(value)}"


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
