"""Python regular expressions as PostgreSQL ARE (``~``) patterns, for the constructs whose meaning provably agrees.

A policy's regex has already passed :mod:`policyengine.ir.regexes` (no backreferences, no lookaround).
Whether a pattern matches a string somewhere (or at its start) does not depend on a matcher's preferences
(Python's leftmost-first versus PostgreSQL's leftmost-longest), so a translation that matches the same set of
strings decides alike. Translated exactly:

* literal characters: every one written as ``\\Uxxxxxxxx`` (a code point, whatever the character);
* character sets ``[...]`` and ``[^...]`` of literals and ranges (by code point, as both engines compare), and
  ``.`` as ``[^\\n]`` (Python's ``.`` stops at a line break; its ``[^a]`` does not, nor does PostgreSQL's);
* groups (as ``(?:...)``), alternation, greedy and lazy quantifiers up to 255 repeats;
* anchors: ``^`` and ``\\A`` (the start), ``\\Z`` (the end), ``$`` (the end or before a final line break, as
  Python's ``$`` without MULTILINE: ``(?=\\n?$)``).

Refused with :class:`~policyengine.runtime.plan.PlanError` naming the construct: ``\\d \\w \\s \\b \\B`` and their
negations (Unicode classes, whose tables differ between Python and the server's locale), inline flags (``(?i)``...),
possessive quantifiers and atomic groups (they can forbid a match that exists), repeat counts above 255
(PostgreSQL's limit), and patterns past two complexity bounds (:data:`MAX_EXPANSION` copies of their pieces,
:data:`MAX_OPTIONAL` optional pieces: see docs/plans.md).
"""

from __future__ import annotations

import functools
from typing import Any

from ..ir.regexes import _sre, _sre_parse  # type: ignore[attr-defined]
from ..runtime.plan import PlanError

__all__ = ["to_postgresql"]

_MAX_REPEAT = 255
MAX_EXPANSION = 1_000
"""The most copies of a pattern's pieces its bounded repeats may expand to: PostgreSQL compiles ``x{m,n}`` by
copying ``x`` up to ``n`` times, so nested repeats multiply (``(a{1,255}){1,255}`` is "too complex" there, and
patterns near its limit run super-linearly per row). Refused when planning, not met when querying."""
MAX_OPTIONAL = 64
"""The most optional pieces a pattern may hold once its repeats are copied out (see :func:`_optional`): at 64, every
pattern tried compiles in PostgreSQL in a few milliseconds; at 128, up to about 40 ms; at 256, seconds."""


def _refuse(pattern: str, construct: str) -> PlanError:
    return PlanError(f"PostgreSQL cannot match the regular expression {pattern!r} exactly as Python's re does: "
                     f"{construct} has no exact equivalent there; use SQLite (its registered REGEXP runs Python's "
                     "re), spell the pattern without it, or declare a fact computed by the app")


@functools.lru_cache(maxsize=256)
def to_postgresql(pattern: str, search: bool) -> str:
    """The ARE pattern matching exactly the strings ``pattern`` matches (``re.search`` when ``search``, else
    ``re.match``), or :class:`PlanError` naming the construct that has no exact translation."""
    parsed = _sre_parse.parse(pattern)
    if parsed.state.flags & ~(_sre.SRE_FLAG_UNICODE):
        raise _refuse(pattern, "an inline flag such as (?i)")
    cost = _expansion(parsed)
    if cost > MAX_EXPANSION:
        raise _refuse(pattern, f"repeats expanding to {cost} copies of its pieces (the limit is {MAX_EXPANSION})")
    optional = _optional(parsed)
    if optional > MAX_OPTIONAL:
        raise _refuse(pattern, f"{optional} optional pieces once its repeats are copied out (the limit is "
                               f"{MAX_OPTIONAL}; PostgreSQL's regex compiler is super-linear in them)")
    body = _Writer(pattern).sequence(parsed)
    return body if search else f"^(?:{body})"


def _expansion(items: Any) -> int:
    """How many pieces PostgreSQL's regex compiler makes of ``items`` (bounded repeats copied out)."""
    total = 0
    for op, av in items:
        if op is _sre.SUBPATTERN:
            total += _expansion(av[3])
        elif op is _sre.BRANCH:
            total += sum(_expansion(branch) for branch in av[1])
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, body = av
            total += _expansion(body) * max(1, low + 1 if high == _sre.MAXREPEAT else high)
        else:
            total += 1
    return total


_ATOMS = (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN)


def _nullable(items: Any) -> bool:
    """Whether ``items`` can match the empty string."""
    for op, av in items:
        if op is _sre.SUBPATTERN:
            if not _nullable(av[3]):
                return False
        elif op is _sre.BRANCH:
            if not any(_nullable(branch) for branch in av[1]):
                return False
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if av[0] > 0 and not _nullable(av[2]):
                return False
        elif op is not _sre.AT:
            return False
    return True


def _optional(items: Any) -> int:
    """How many optional pieces PostgreSQL's NFA holds for ``items`` once bounded repeats are copied out: a
    quantified single character (``a?``, ``.{0,255}``, ``[a-z]*``) is one; an optional copy of a longer body is
    one more besides what each copy holds, so a nullable body repeated (``(?:a?){0,255}``, ``(?:a*){0,255}``)
    multiplies. Removing the empty paths between them is what takes PostgreSQL's compiler seconds (measured: 128
    of them about 40 ms, 256 about 2 s, 500 about 17 s), before a single row is matched."""
    total = 0
    for op, av in items:
        if op is _sre.SUBPATTERN:
            total += _optional(av[3])
        elif op is _sre.BRANCH:
            total += sum(_optional(branch) for branch in av[1]) + any(_nullable(branch) for branch in av[1])
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, body = av
            varies = high != low
            if len(body) == 1 and body[0][0] in _ATOMS:
                total += int(varies)
                continue
            copies = low + 1 if high == _sre.MAXREPEAT else high
            extra = (1 if high == _sre.MAXREPEAT else high - low) if varies else 0
            total += copies * _optional(body) + extra
    return total


def _char(code: int) -> str:
    return f"\\U{code:08x}"


class _Writer:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op: Any, av: Any) -> str:
        if op is _sre.LITERAL:
            return _char(av)
        if op is _sre.NOT_LITERAL:
            return f"[^{_char(av)}]"
        if op is _sre.ANY:
            return "[^\\n]"
        if op is _sre.IN:
            return self.charset(av)
        if op is _sre.SUBPATTERN:
            group, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise _refuse(self.pattern, "a scoped inline flag such as (?i:...)")
            return f"(?:{self.sequence(body)})"
        if op is _sre.BRANCH:
            return "(?:" + "|".join(self.sequence(branch) for branch in av[1]) + ")"
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, body = av
            if low > _MAX_REPEAT or (high != _sre.MAXREPEAT and high > _MAX_REPEAT):
                raise _refuse(self.pattern, f"a repeat count above {_MAX_REPEAT}")
            count = f"{{{low},}}" if high == _sre.MAXREPEAT else f"{{{low},{high}}}"
            return f"(?:{self.sequence(body)}){count}"
        if op is _sre.AT:
            if av in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING):
                return "^"
            if av is _sre.AT_END_STRING:
                return "$"
            if av is _sre.AT_END:
                return "(?=\\n?$)"
            raise _refuse(self.pattern, "a word boundary (\\b or \\B)")
        name = getattr(op, "name", str(op)).lower().replace("_", " ")
        raise _refuse(self.pattern, f"a {name}")

    def charset(self, items: Any) -> str:
        negate = ""
        parts = []
        for kind, value in items:
            if kind is _sre.NEGATE:
                negate = "^"
            elif kind is _sre.LITERAL:
                parts.append(_char(value))
            elif kind is _sre.RANGE:
                parts.append(f"{_char(value[0])}-{_char(value[1])}")
            else:
                raise _refuse(self.pattern, "a class such as \\d, \\w or \\s")
        if not parts:  # [^] cannot be written; Python never produces it
            raise _refuse(self.pattern, "an empty character set")
        return f"[{negate}{''.join(parts)}]"
