"""Regular expressions that cannot backtrack catastrophically.

Python's ``re`` backtracks, so some patterns take exponential (``(a+)+$``) or high-polynomial (``.*a.*a.*b``) time
on a short hostile string. The core keeps its four dependencies, so a linear-time engine (google-re2) is not an
option; instead a pattern is refused at load, with the reason, when it has any construct that can make a backtracking
matcher try a string's characters in more than one way:

* a **backreference** (``\\1``, ``(?P=name)``, ``(?(1)...)``) or a **lookaround** (``(?=``, ``(?!``, ``(?<=``,
  ``(?<!``);
* a **nested quantifier**: a variable-length quantifier inside another quantifier (``(a+)+``, ``(a*b?)*``);
* a **quantified alternation** whose branches can start with the same character or match nothing
  (``(a|ab)*``, ``(a|)+``);
* two **unbounded quantifiers over overlapping characters** anywhere in one pattern (``a*a*``, ``.*x.*y``,
  ``\\d+\\w+``): each split of the run between them is another try. A quantifier counts as unbounded when its count
  may vary by more than 16 (``\\d{1,3}`` does not, ``.{0,100}`` does).

The rules are conservative: a few linear patterns are refused too (``(ab?)*``, ``[a-z]+(\\.[a-z]+)*``); rewrite
them without the nesting, or split the condition.

What is left matches in time linear in the string for ``=~`` (a match at the start) and at most quadratic for
``=~~`` (Python tries each start position). At evaluate time a string longer than :data:`MAX_MATCHED_LENGTH` is not
matched at all: the condition is unknown and the action fails closed, so no call does more than a bounded amount of
work. (This is the one deliberate difference from rule-engine, which would try.)
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse

__all__ = ["MAX_MATCHED_LENGTH", "MAX_PATTERN_LENGTH", "RegexTooLong", "unsafe_reason", "too_long"]

MAX_MATCHED_LENGTH = 4096
"""The longest string a condition's regex is applied to; a longer one makes that condition unknown."""

MAX_PATTERN_LENGTH = 1000
"""The longest regex pattern a condition may hold."""


class RegexTooLong(ValueError):
    """Raised (and turned into an unknown condition) for a string past :data:`MAX_MATCHED_LENGTH`."""


def too_long(value: str) -> bool:
    """Refuse to match ``value``: always raises :class:`RegexTooLong` (used in generated code)."""
    raise RegexTooLong(f"a string of {len(value)} characters is longer than {MAX_MATCHED_LENGTH}, the most a "
                       "regular expression is applied to")


_ANY = None
"""A character set we do not enumerate: overlaps everything."""

_WIDE = 256
"""Ranges wider than this count as :data:`_ANY` (enumerating them buys nothing)."""

_LONG = 16
"""A quantifier whose count may vary by more than this (``*``, ``+``, ``{0,100}``) counts as unbounded."""


def _chars(op: Any, av: Any) -> set[int] | None:
    """The characters one LITERAL/IN/ANY item matches, or None for many or uncertain ones."""
    if op is _sre.LITERAL:
        return {av}
    if op is _sre.IN:
        out: set[int] = set()
        for kind, value in av:
            if kind is _sre.LITERAL:
                out.add(value)
            elif kind is _sre.RANGE and value[1] - value[0] <= _WIDE:
                out.update(range(value[0], value[1] + 1))
            else:  # NEGATE, CATEGORY, wide ranges
                return _ANY
        return out
    return _ANY


def _overlap(a: set[int] | None, b: set[int] | None) -> bool:
    return a is None or b is None or bool(a & b)


def _union(a: set[int] | None, b: set[int] | None) -> set[int] | None:
    return None if a is None or b is None else a | b


class _Walker:
    def __init__(self) -> None:
        self.unbounded: list[set[int] | None] = []  # the characters of every long quantifier seen so far

    def first(self, items: Any) -> tuple[set[int] | None, bool]:
        """The characters a sequence can start with, and whether it can match the empty string."""
        out: set[int] | None = set()
        for op, av in items:
            chars, empty = self.first_item(op, av)
            out = _union(out, chars)
            if not empty:
                return out, False
        return out, True

    def first_item(self, op: Any, av: Any) -> tuple[set[int] | None, bool]:
        if op in (_sre.LITERAL, _sre.IN, _sre.ANY, _sre.NOT_LITERAL):
            return _chars(op, av), False
        if op is _sre.AT:
            return set(), True
        if op is _sre.SUBPATTERN:
            return self.first(av[-1])
        if op in _REPEATS:
            chars, empty = self.first(av[2])
            return chars, empty or av[0] == 0
        if op is _sre.BRANCH:
            out: set[int] | None = set()
            empty = False
            for branch in av[1]:
                chars, can_be_empty = self.first(branch)
                out, empty = _union(out, chars), empty or can_be_empty
            return out, empty
        if op is getattr(_sre, "ATOMIC_GROUP", None):
            return self.first(av)
        return _ANY, True

    def chars(self, items: Any) -> set[int] | None:
        """Every character a sequence can match anywhere."""
        out: set[int] | None = set()
        for op, av in items:
            if op in (_sre.LITERAL, _sre.IN, _sre.ANY, _sre.NOT_LITERAL):
                out = _union(out, _chars(op, av))
            elif op is _sre.SUBPATTERN:
                out = _union(out, self.chars(av[-1]))
            elif op in _REPEATS:
                out = _union(out, self.chars(av[2]))
            elif op is _sre.BRANCH:
                for branch in av[1]:
                    out = _union(out, self.chars(branch))
            elif op is not _sre.AT:
                return _ANY
        return out

    def check(self, items: Any, quantified: bool) -> str | None:
        for op, av in items:
            reason = self.check_item(op, av, quantified)
            if reason:
                return reason
        return None

    def check_item(self, op: Any, av: Any, quantified: bool) -> str | None:
        if op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
            return "it uses a backreference"
        if op in (_sre.ASSERT, _sre.ASSERT_NOT):
            return "it uses a lookahead or lookbehind"
        if op is _sre.SUBPATTERN:
            return self.check(av[-1], quantified)
        if op is _sre.BRANCH:
            if quantified:
                seen: set[int] | None = set()
                for branch in av[1]:
                    chars, empty = self.first(branch)
                    if empty or _overlap(seen, chars):
                        return "a repeated alternation has branches that can match the same text"
                    seen = _union(seen, chars)
            for branch in av[1]:
                reason = self.check(branch, quantified)
                if reason:
                    return reason
            return None
        if op in _REPEATS:
            low, high, body = av
            variable = low != high
            if quantified and variable:
                return "it nests a quantifier inside another quantifier"
            if high - low > _LONG:
                chars = self.chars(body)
                if any(_overlap(other, chars) for other in self.unbounded):
                    return "two unbounded quantifiers can match the same characters"
                self.unbounded.append(chars)
            if high > 1 or quantified:
                if high > 1 and self.first(body)[1]:
                    return "a quantifier repeats something that can match the empty string"
                return self.check(body, quantified or high > 1)
            return self.check(body, quantified)
        if op is getattr(_sre, "ATOMIC_GROUP", None):
            return self.check(av, quantified)
        return None


_REPEATS = tuple(getattr(_sre, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
                 if hasattr(_sre, name))


def unsafe_reason(pattern: str) -> str | None:
    """Why ``pattern`` could backtrack super-linearly (see the module's rules), or None when it cannot. The pattern
    must already compile."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"it is {len(pattern)} characters long (the limit is {MAX_PATTERN_LENGTH})"
    return _Walker().check(_sre_parse.parse(pattern), False)
