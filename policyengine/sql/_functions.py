"""SQLite functions that compute what SQLite's own operators cannot compute as a policy does, with the very code
``evaluate`` runs: decimal arithmetic under rule-engine's context (SQLite has only 64-bit integers and doubles),
Python's ``re`` (SQLite has no regular expressions), set equality of two JSON arrays, and the wording of a bad
value (``check_value``'s own text, for any value SQLite may hold).

They are registered as *deterministic* functions on each SQLite connection (:func:`install`), so the database
still answers the query (indexes on expressions, no per-row round trip through the driver). Every function returns
NULL rather than raising on a value it does not expect: a bad fact's row is decided by the plan's validity checks,
and an exception inside a SQLite function would abort the whole query.

A computed number travels between them as text: ``"D:<decimal>"`` for a value, ``"E:<repr of the exception>"``
for a failed computation (the first failure, in Python's operand order, wins, as in ``evaluate``).
"""

from __future__ import annotations

import functools
import json
import math
from decimal import Decimal
from typing import Any

from ..ir.numbers import ARITHMETIC, to_decimal
from ..ir.regexes import RegexTooLong
from ..ir.values import check_value
from ..runtime.plan import arithmetic, regex_match
from .values import engine_value

__all__ = ["FUNCTIONS", "register"]


def _operand(value: Any) -> Decimal | str | None:
    """A number as rule-engine reads it (a Decimal), an error text ("E:..."), or None (not a number)."""
    kind = type(value)
    if kind is int:
        return Decimal(value)
    if kind is float:
        return to_decimal(value) if math.isfinite(value) else None
    if kind is str:
        if value.startswith("D:"):
            return Decimal(value[2:])
        if value.startswith("E:"):
            return str(value)
    return None


def _result(compute: Any) -> str:
    try:
        return "D:" + str(compute())
    except Exception as exc:  # noqa: BLE001 - exactly what evaluate turns into an unknown condition
        return "E:" + repr(exc)


def pe_arith(op: str, left: Any, right: Any) -> str | None:
    a, b = _operand(left), _operand(right)
    if a is None or b is None:
        return None
    if isinstance(a, str):
        return a
    if isinstance(b, str):
        return b
    return _result(lambda: arithmetic(op, a, b))


def pe_neg(value: Any) -> str | None:
    a = _operand(value)
    if a is None or isinstance(a, str):
        return a
    negate: Any = ARITHMETIC["neg"]
    return _result(lambda: negate(a))


_COMPARE = {"==": Decimal.__eq__, "!=": Decimal.__ne__, "<": Decimal.__lt__, "<=": Decimal.__le__,
            ">": Decimal.__gt__, ">=": Decimal.__ge__}


def pe_cmp(op: str, left: Any, right: Any) -> int | None:
    a, b = _operand(left), _operand(right)
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return None
    return int(_COMPARE[op](a, b))


def pe_err(value: Any) -> str | None:
    return value[2:] if type(value) is str and value.startswith("E:") else None


def pe_match(pattern: str, search: int, value: Any) -> int | None:
    if type(value) is not str:
        return None
    try:
        return int(regex_match(pattern, bool(search), value))
    except RegexTooLong:
        return None


def pe_match_err(value: Any) -> str | None:
    if type(value) is not str:
        return None
    try:
        regex_match("", False, value)
    except RegexTooLong as exc:
        return repr(exc)
    return None


def _strings(value: Any) -> frozenset[str] | None:
    if type(value) is not str:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if type(parsed) is not list or any(type(m) is not str for m in parsed):
        return None
    return frozenset(parsed)


def pe_instr(container: Any, member: Any) -> int | None:
    return int(member in container) if type(container) is str and type(member) is str else None


def pe_strlen(value: Any) -> int | None:
    return len(value) if type(value) is str else None


def pe_set_has(column: Any, member: Any) -> int | None:
    members = _strings(column)
    return None if members is None or type(member) is not str else int(member in members)


def pe_set_len(column: Any) -> int | None:
    members = _strings(column)
    return None if members is None else len(members)


@functools.lru_cache(maxsize=64)
def _list(values: str) -> frozenset[str]:
    return frozenset(json.loads(values))


def pe_in(member: Any, values: str) -> int | None:
    return None if type(member) is not str else int(member in _list(values))


def pe_set_eq(left: Any, right: Any) -> int | None:
    a, b = _strings(left), _strings(right)
    return None if a is None or b is None else int(a == b)


def pe_problem(name: str, kind: str, values: str, raw: Any) -> str | None:
    """What ``check_value`` says of a database value of a fact (the text ``bulk`` quotes), or None when good."""
    from ..runtime.plan import Fact, _spec  # noqa: PLC0415

    spec = _spec(Fact(name, kind, tuple(json.loads(values))))
    return check_value(spec, engine_value(spec, raw))[1]


FUNCTIONS = {"pe_arith": (pe_arith, 3), "pe_neg": (pe_neg, 1), "pe_cmp": (pe_cmp, 3), "pe_err": (pe_err, 1),
             "pe_match": (pe_match, 3), "pe_match_err": (pe_match_err, 1), "pe_set_eq": (pe_set_eq, 2),
             "pe_problem": (pe_problem, 4), "pe_set_has": (pe_set_has, 2), "pe_set_len": (pe_set_len, 1),
             "pe_in": (pe_in, 2), "pe_instr": (pe_instr, 2), "pe_strlen": (pe_strlen, 1)}
"""name -> (function, number of arguments)."""


def register(dbapi_connection: Any) -> None:
    """Register :data:`FUNCTIONS` on one ``sqlite3`` connection (deterministic: same arguments, same result)."""
    for name, (function, arity) in FUNCTIONS.items():
        dbapi_connection.create_function(name, arity, function, deterministic=True)
