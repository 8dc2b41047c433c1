"""The few SQL constructs whose text depends on the database: checking that a column holds a good value of a fact
type, set facts (JSON arrays in SQLite, ``text[]`` in PostgreSQL), exact text comparison, substrings, lengths,
exact number literals and the texts of bad-fact reasons.

Each construct is a SQLAlchemy ``ColumnElement`` compiled per dialect (``sqlalchemy.ext.compiler``), so
:func:`policyengine.sql.where` stays dialect-free and the same expression runs on SQLite and PostgreSQL. Other
dialects are refused at compile time rather than given SQL whose meaning differs.
"""

from __future__ import annotations

import functools
import json
import warnings
from decimal import Context, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

from ..runtime.plan import Fact, PlanError

__all__ = ["ColumnTypeError", "ExactText", "Isolated", "Shared", "StoreFailsClosedWarning",
           "NumberLiteral", "ProblemText", "SetContains", "SetEquals", "SetLength", "SetLiteral",
           "StrLength", "Substring", "TruthOf", "ValidFact", "exact_number_text"]

_MAX_FLOAT = 1.7976931348623157e308
_FLOAT_OVERFLOW = 2**1024 - 2**970
"""The least magnitude a conversion to a double rounds to infinity (halfway between the largest double and 2**1024)."""
_SUPPORTED = ("sqlite", "postgresql")
_HALF_TINIEST = format(Context(prec=1100).power(Decimal(2), -1075), "f")
"""2**-1075, exactly: half the smallest subnormal double. A NUMERIC at most this small reads as 0.0 (Python's
float() rounds it so); PostgreSQL's cast to double precision would raise instead (underflow)."""


def _no_nul(values: Any, where: str) -> None:
    """PostgreSQL text cannot hold NUL: refuse a policy string holding one by name (never a query-time error)."""
    if any("\x00" in v for v in values):
        raise PlanError(f"PostgreSQL text cannot hold the NUL character (U+0000) of {where}; no row can equal it, "
                        "but the driver refuses to send it: spell the policy without it")


class _Construct(ColumnElement[Any]):
    inherit_cache = False  # built per plan; nothing to gain from SQLAlchemy's statement cache

    def __init__(self, *args: Any, type_: Any = None) -> None:
        self.args = args
        self.type = type_ if type_ is not None else sa.Boolean()

    @property
    def _from_objects(self) -> list[Any]:  # so that select(reason(...)) finds its tables
        return [f for a in self.args if isinstance(a, ClauseElement) for f in a._from_objects]

    def get_children(self, **kw: Any) -> list[Any]:
        return [a for a in self.args if isinstance(a, ClauseElement)]


def _refuse(element: Any, compiler: Any, **kw: Any) -> str:
    raise sa.exc.CompileError(f"policyengine.sql supports {' and '.join(_SUPPORTED)}, not {compiler.dialect.name}")


def _both(cls: type) -> type:
    cls.inherit_cache = False  # type: ignore[attr-defined]  # set per class, or SQLAlchemy warns
    compiles(cls)(_refuse)
    return cls


def _memo(function: Any) -> Any:
    """Compile one construct once per statement: the translator shares one element wherever a plan reuses a
    sub-expression, so the SQL text repeats it but SQLAlchemy need not build it again (bound parameters keep their
    one name, which every driver accepts more than once)."""
    def compile_once(element: Any, compiler: Any, **kw: Any) -> str:
        memo = compiler.__dict__.setdefault("_pe_memo", {})
        try:  # (the keywords as SQLAlchemy passes them, in its own order: a different order only misses the memo)
            key = (function, id(element), tuple(kw.items()))
            hit = memo.get(key)
        except TypeError:  # an unhashable keyword value: compiled, not kept
            return function(element, compiler, **kw)  # type: ignore[no-any-return]
        if hit is None:
            hit = memo[key] = (element, function(element, compiler, **kw))
        return hit[1]  # type: ignore[no-any-return]
    return compile_once


def _sql(compiler: Any, expression: Any, **kw: Any) -> str:
    return f"({compiler.process(expression, **kw)})"


def _bound(compiler: Any, text: str, **kw: Any) -> str:
    """``text`` (anything a policy wrote: an enum value, a pattern, a message) as a bound parameter, or, when the
    SQL is printed with ``literal_binds``, as the dialect's own string literal: never spliced into the SQL text,
    where a driver would read ``%(x)s`` or ``%s`` in it as a placeholder."""
    return _sql(compiler, sa.literal(text, sa.Text()), **kw)


@_both
class Shared(_Construct):
    """A sub-expression a plan reuses (a DAG): compiled once per statement and its text repeated, where SQLAlchemy
    would compile it again at every use (time proportional to the plan written out as a tree)."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, type_=expression.type)


@compiles(Shared, "sqlite")
@compiles(Shared, "postgresql")
@_memo
def _shared(element: Shared, compiler: Any, **kw: Any) -> str:
    return _sql(compiler, element.args[0], **kw)


class StoreFailsClosedWarning(UserWarning):
    """An every-store ``where`` compiled for a database that cannot run one store's policy exactly: that store's
    orders fail closed (hidden), every other store's are decided as before. The message names the store, the
    database and the construct."""


@_both
class Isolated(_Construct):
    """One store's part of an every-store plan: ``part``, or ``fallback`` (the store failing closed) where the
    dialect cannot compile ``part`` (a construct it cannot decide exactly): one tenant's policy never makes the
    query fail for the others. Decided when the statement is compiled, so ``where`` stays dialect-free."""

    def __init__(self, part: Any, fallback: Any, stores: tuple[str, ...]) -> None:
        super().__init__(part, fallback, stores)


@compiles(Isolated, "sqlite")
@compiles(Isolated, "postgresql")
@_memo
def _isolated(element: Isolated, compiler: Any, **kw: Any) -> str:
    part, fallback, stores = element.args
    depth = len(compiler.stack)
    try:
        return _sql(compiler, part, **kw)
    except PlanError as exc:  # raised by our constructs before they write anything (no half-written bind state)
        del compiler.stack[depth:]
        for store in stores:
            warnings.warn(f"store {store} fails closed on {compiler.dialect.name}: {exc}", StoreFailsClosedWarning,
                          stacklevel=2)
        return _sql(compiler, fallback, **kw)


_INLINE_MEMBERS = 64
"""Up to this many strings a membership test lists one bound parameter each (SQLite); more travel as one JSON
parameter, so no statement nears a driver's or database's parameter limit (PostgreSQL always binds one array)."""


@_both
class InList(_Construct):
    """``member`` is one of the literal strings ``values`` (compared by code point): one bound array parameter in
    PostgreSQL, a registered function over one JSON parameter in SQLite for long lists (exact for any string,
    NUL included)."""

    def __init__(self, member: Any, values: tuple[str, ...]) -> None:
        super().__init__(member, values)


@compiles(InList, "sqlite")
@_memo
def _in_list_sqlite(element: InList, compiler: Any, **kw: Any) -> str:
    member, values = element.args
    if not values:
        return "0"
    if len(values) <= _INLINE_MEMBERS:
        return _sql(compiler, ExactText(member).in_([sa.literal(v, sa.Text()) for v in values]), **kw)
    return f"(pe_in({_sql(compiler, member, **kw)}, {_bound(compiler, json.dumps(list(values)), **kw)}) = 1)"


@compiles(InList, "postgresql")
@_memo
def _in_list_postgresql(element: InList, compiler: Any, **kw: Any) -> str:
    member, values = element.args
    _no_nul(values, "a declared enum value or a literal list")
    array = sa.literal(list(values), postgresql.ARRAY(sa.Text()))
    return f"({_sql(compiler, ExactText(member), **kw)} = ANY({_sql(compiler, array, **kw)}))"


@_both
class ValidFact(_Construct):
    """True where ``column`` holds a good value of ``fact``'s type; false otherwise, never NULL."""


@compiles(ValidFact, "sqlite")
@_memo
def _valid_sqlite(element: ValidFact, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    kind = sa.func.typeof(column)
    if fact.type == "bool":
        check = sa.and_(kind == "integer", column.in_([0, 1]))
    elif fact.type == "enum":
        check = sa.and_(kind == "text", InList(column, tuple(fact.values)))
    elif fact.type == "string":
        check = kind == "text"
    elif fact.type == "number":  # SQLite stores NaN as NULL; infinities are REALs beyond the finite range
        check = sa.and_(kind.in_(["integer", "real"]), column.between(-_MAX_FLOAT, _MAX_FLOAT))
    else:
        check = _json_set_valid(column)
    return _sql(compiler, check, **kw)


def _json_each(column: Any) -> Any:
    return sa.func.json_each(column).table_valued("value", "type")


def _json_set_valid(column: Any) -> Any:
    """A JSON array of strings (checked without ever handing malformed JSON to json_each, which would raise)."""
    each = _json_each(column)
    strings_only = ~sa.exists().select_from(each).where(each.c.type != "text")
    is_json = sa.and_(sa.func.typeof(column) == "text", sa.func.json_valid(column) == 1)
    return sa.case((is_json, sa.and_(sa.func.json_type(column) == "array", strings_only)), else_=sa.false())


@compiles(ValidFact, "postgresql")
@_memo
def _valid_postgresql(element: ValidFact, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    if fact.type == "enum":
        check = sa.func.coalesce(InList(column, tuple(fact.values)), sa.false())
    elif fact.type == "number":  # NaN and the infinities fall outside; NULL is not valid either
        # evaluate reads an integral NUMERIC as an int (any size), another as the nearest double: finite below
        # the overflow threshold. No cast to a double here: past its range PostgreSQL would raise, not answer.
        number = sa.cast(column, sa.Numeric())
        finite = sa.and_(number.isnot(None), number.not_in([sa.literal_column("'NaN'::numeric"),
                                                             sa.literal_column("'Infinity'::numeric"),
                                                             sa.literal_column("'-Infinity'::numeric")]))
        check = sa.func.coalesce(sa.and_(finite, sa.or_(number == sa.func.trunc(number), sa.func.abs(number) <
                                                        sa.literal_column(f"{_FLOAT_OVERFLOW}::numeric"))), sa.false())
    elif fact.type == "set":  # a one-dimensional text[] without NULL members (array_position raises on more)
        _pg_set_column(compiler, column, **kw)
        check = sa.case((sa.func.coalesce(sa.func.array_ndims(column), 1) == 1,  # type: ignore[assignment]
                         sa.and_(column.isnot(None), sa.func.array_position(column, sa.null()).is_(None))),
                        else_=sa.false())
    else:
        check = column.isnot(None)
    return _sql(compiler, check, **kw)


@_both
class TruthOf(_Construct):
    """A bool fact's column as a SQL boolean (SQLite stores booleans as 0/1)."""


@compiles(TruthOf, "sqlite")
@_memo
def _truth_sqlite(element: TruthOf, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} = 1)"


@compiles(TruthOf, "postgresql")
@_memo
def _truth_postgresql(element: TruthOf, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} IS TRUE)"


@_both
class ExactText(_Construct):
    """Text compared by code point whatever the column's collation (UTF-8 byte order is code-point order)."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, type_=sa.Text())


@compiles(ExactText, "sqlite")
@_memo
def _text_sqlite(element: ExactText, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} COLLATE BINARY)"


@compiles(ExactText, "postgresql")
@_memo
def _text_postgresql(element: ExactText, compiler: Any, **kw: Any) -> str:
    column = element.args[0]
    kind = getattr(column, "type", None)
    if isinstance(kind, sa.CHAR):
        # char(n) (declared, or reflected: SQLAlchemy reads bpchar as CHAR): the text the driver hands evaluate,
        # blank padding kept (a cast to text drops it, `=` between bpchar ignores it); concat() would turn NULL
        # into '', so NULL stays NULL
        v = _sql(compiler, column, **kw)
        return f"((CASE WHEN {v} IS NOT NULL THEN concat({v}) END) COLLATE \"C\")"
    return f"({_sql(compiler, column, **kw)} COLLATE \"C\")"


def exact_number_text(value: Decimal) -> str | None:
    """``value`` as a SQLite number literal that means exactly what rule-engine compares, or None when a double
    cannot hold it (SQLite has no exact decimals)."""
    if value == value.to_integral_value() and abs(value) < 2**63:
        return str(int(value))
    as_float = float(value)
    return repr(as_float) if Decimal(repr(as_float)) == value else None


@_both
class NumberLiteral(_Construct):
    """An exact number: NUMERIC in PostgreSQL; in SQLite an integer or a double that holds it exactly."""

    def __init__(self, value: Decimal) -> None:
        super().__init__(value, type_=sa.Numeric())


@compiles(NumberLiteral, "sqlite")
@_memo
def _number_sqlite(element: NumberLiteral, compiler: Any, **kw: Any) -> str:
    text = exact_number_text(element.args[0])
    if text is None:
        raise PlanError(f"SQLite cannot compare with {element.args[0]} exactly (a double does not hold it); "
                        "use PostgreSQL, or a literal with at most 17 significant digits")
    return text


@compiles(NumberLiteral, "postgresql")
@_memo
def _number_postgresql(element: NumberLiteral, compiler: Any, **kw: Any) -> str:
    return f"CAST('{element.args[0]}' AS NUMERIC)"  # a Decimal's str has digits, '.', 'E', '+', '-' only


@_both
class SetContains(_Construct):
    """``member`` is one of the set fact's strings."""


@compiles(SetContains, "sqlite")
@_memo
def _contains_sqlite(element: SetContains, compiler: Any, **kw: Any) -> str:
    column, member = element.args  # Python's json: SQLite's json_each cuts a member at an escaped NUL
    return f"(pe_set_has({_sql(compiler, column, **kw)}, {_sql(compiler, member, **kw)}) = 1)"


@compiles(SetContains, "postgresql")
@_memo
def _contains_postgresql(element: SetContains, compiler: Any, **kw: Any) -> str:
    column, member = element.args  # by code point whatever the column's collation
    return f"(({_sql(compiler, member, **kw)} COLLATE \"C\") = ANY({_pg_set_column(compiler, column, **kw)}))"


@_both
class SetLength(_Construct):
    """How many distinct strings the set fact holds (a set: duplicates in the stored list count once)."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, type_=sa.Integer())


@compiles(SetLength, "sqlite")
@_memo
def _set_length_sqlite(element: SetLength, compiler: Any, **kw: Any) -> str:
    return f"pe_set_len({_sql(compiler, element.args[0], **kw)})"


@compiles(SetLength, "postgresql")
@_memo
def _set_length_postgresql(element: SetLength, compiler: Any, **kw: Any) -> str:
    column = _pg_set_column(compiler, element.args[0], **kw)
    return f"(SELECT count(DISTINCT pe_m COLLATE \"C\") FROM unnest({column}) AS pe_m)"


@_both
class SetEquals(_Construct):
    """The set fact holds exactly the literal strings (in any order, duplicates allowed)."""


@compiles(SetEquals, "sqlite")
@_memo
def _set_equals_sqlite(element: SetEquals, compiler: Any, **kw: Any) -> str:
    column, values = element.args
    return f"(pe_set_eq({_sql(compiler, column, **kw)}, {_bound(compiler, json.dumps(sorted(values)), **kw)}) = 1)"


@compiles(SetEquals, "postgresql")
@_memo
def _set_equals_postgresql(element: SetEquals, compiler: Any, **kw: Any) -> str:
    column, values = element.args
    literal = postgresql.array(sorted(values), type_=sa.Text()) if values else sa.cast(postgresql.array([]),
                                                                                      postgresql.ARRAY(sa.Text()))
    _no_nul(values, "a set literal")
    col = _pg_set(_pg_set_column(compiler, column, **kw))
    lit = _pg_set(_sql(compiler, literal, **kw))
    return f"({col} @> {lit} AND {col} <@ {lit})"


class ColumnTypeError(sa.exc.CompileError):
    """A fact mapped to a column whose type policyengine.sql does not read on that database (naming both): the
    host's mapping, never one store's policy, so no store is failed closed alone for it."""


def _pg_set_column(compiler: Any, column: Any, **kw: Any) -> str:
    """A set fact's column as SQL, or :class:`CompileError` naming it when its declared type is JSON/JSONB: sets are
    ``text[]`` on PostgreSQL; a JSON array has no exact reading here (a member may be a number, a null, an object,
    which ``evaluate`` reads as bad, or the whole value a JSON string), so it is refused rather than approximated."""
    kind = getattr(column, "type", None)
    if isinstance(kind, sa.JSON):
        name = f"{column.table.name}.{column.name}" if getattr(column, "table", None) is not None else str(column)
        raise ColumnTypeError(
            f"policyengine.sql reads a set fact on PostgreSQL from a text[] column; column {name} is "
            f"{kind.compile(dialect=compiler.dialect)}, which it does not read (store the set as text[], "
            "sqlalchemy.ARRAY(sqlalchemy.Text), or map the fact to a text[] column)")
    return _sql(compiler, column, **kw)


def _pg_set(v: str) -> str:
    """A set column as ``text[]`` compared by code point (a ``varchar[]`` or a case-insensitive collation would
    otherwise fail or compare otherwise)."""
    return f"(CAST({v} AS TEXT[]) COLLATE \"C\")"


@_both
class Substring(_Construct):
    """``member`` occurs in ``container`` (both strings; the empty string occurs everywhere)."""


@compiles(Substring, "sqlite")
@_memo
def _substring_sqlite(element: Substring, compiler: Any, **kw: Any) -> str:
    member, container = element.args
    # Python's `in`: SQLite's instr() stops at a NUL character
    return f"(pe_instr({_sql(compiler, container, **kw)}, {_sql(compiler, member, **kw)}) = 1)"


@compiles(Substring, "postgresql")
@_memo
def _substring_postgresql(element: Substring, compiler: Any, **kw: Any) -> str:
    member, container = element.args
    return f"(strpos({_sql(compiler, container, **kw)}, {_sql(compiler, member, **kw)}) > 0)"


@_both
class StrLength(_Construct):
    """Characters (code points) of a string."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, type_=sa.Integer())


@compiles(StrLength, "sqlite")
@_memo
def _length_sqlite(element: StrLength, compiler: Any, **kw: Any) -> str:
    return f"pe_strlen({_sql(compiler, element.args[0], **kw)})"  # (SQLite's length() stops at a NUL)


@compiles(StrLength, "postgresql")
@_memo
def _length_postgresql(element: StrLength, compiler: Any, **kw: Any) -> str:
    return f"char_length({_sql(compiler, element.args[0], **kw)})"


# -- reasons: what is wrong with a bad value, as text ----------------------------------------------------------
_WORDS = {"bool": "true/false", "enum": "a string", "string": "a string", "number": "a number",
          "set": "a list of strings"}


@_both
class ProblemText(_Construct):
    """What is wrong with a bad value of ``fact`` in ``column``, as ``check_value`` says it."""

    def __init__(self, column: Any, fact: Fact) -> None:
        super().__init__(column, fact, type_=sa.Text())


@compiles(ProblemText, "sqlite")
@_memo
def _problem_sqlite(element: ProblemText, compiler: Any, **kw: Any) -> str:
    column, fact = element.args  # check_value's own words, through the registered function (see sql.install)
    values = json.dumps(list(fact.values))
    return (f"pe_problem({_bound(compiler, fact.name, **kw)}, {_bound(compiler, fact.type, **kw)}, "
            f"{_bound(compiler, values, **kw)}, {_sql(compiler, column, **kw)})")


@functools.cache  # (a quarter second: computed when a PostgreSQL reason is first compiled, not at import)
def _unprintable_bounds() -> tuple[int, ...]:
    """Where Python's ``str.isprintable`` changes, from U+0001 on: ``(start0, end0 + 1, start1, end1 + 1, ...)``,
    so a code point is one ``repr`` escapes exactly where ``width_bucket`` over these is odd (control, format,
    separator, private-use and unassigned characters, by the Unicode tables of the Python running the engine).
    Surrogates are left out: PostgreSQL text (UTF-8) cannot hold them."""
    bounds: list[int] = []
    printable = True
    for code in range(1, 0x110000):
        now = chr(code).isprintable() or 0xD800 <= code <= 0xDFFF
        if now != printable:
            bounds.append(code)
            printable = now
    return tuple(bounds)


_REPR_CHARS = 61
"""The most characters :func:`_pg_repr` is given (reprlib's 60, or 28 + 29): its LIMIT, which changes nothing but
keeps PostgreSQL's cost estimate of the per-character subquery small (else it guesses 1,000 characters per value
and a reason query crosses ``jit_above_cost``: seconds of JIT compilation for a few rows)."""


def _pg_repr(v: str, bounds: str) -> str:
    """Python's ``repr`` of the text ``v``, character by character: the backslash and the quote escaped, and every
    character ``str.isprintable`` refuses as ``\\t \\n \\r``, ``\\xhh``, ``\\uhhhh`` or ``\\Uhhhhhhhh`` (``bounds``:
    the SQL of :func:`_unprintable_bounds` as an ``int[]``)."""
    hexed = ("chr(92) || CASE WHEN pe_t.n = 9 THEN 't' WHEN pe_t.n = 10 THEN 'n' WHEN pe_t.n = 13 THEN 'r' "
             "WHEN pe_t.n < 256 THEN 'x' || lpad(to_hex(pe_t.n), 2, '0') "
             "WHEN pe_t.n < 65536 THEN 'u' || lpad(to_hex(pe_t.n), 4, '0') ELSE 'U' || lpad(to_hex(pe_t.n), 8, '0') END")
    each = (f"CASE WHEN pe_t.n = 92 THEN chr(92) || chr(92) WHEN pe_t.n = 39 AND pe_q.o = chr(39) THEN chr(92) || chr(39) "
            f"WHEN mod(width_bucket(pe_t.n, {bounds}), 2) = 1 THEN {hexed} ELSE pe_t.c END")  # (no %: a placeholder)
    body = (f"(SELECT string_agg({each}, '' ORDER BY pe_t.i) FROM (SELECT pe_s.c, ascii(pe_s.c) AS n, pe_s.i "
            f"FROM regexp_split_to_table(pe_q.v, '') WITH ORDINALITY AS pe_s(c, i) LIMIT {_REPR_CHARS}) AS pe_t)")
    return (f"(SELECT pe_q.o || coalesce({body}, '') || pe_q.o FROM (SELECT pe_x.v, CASE WHEN strpos(pe_x.v, chr(39)) > 0 "
            f"AND strpos(pe_x.v, chr(34)) = 0 THEN chr(34) ELSE chr(39) END AS o FROM (SELECT {v} AS v) AS pe_x) AS pe_q)")


def pg_short_repr(v: str, bounds: str) -> str:
    """``reprlib`` (60 characters) of the text ``v``, as ``describe`` shows a value: past 60 characters, the
    ``repr`` of the first 28 and the last 29 characters (Python's ``x[len(x) - 29:]``, which for a string shorter
    than 29 counts from the end again), cut to its first 28 and last 29 characters around ``...``."""
    head = _pg_repr(f"substr({v}, 1, 60)", "pe_b.b")  # (the bounds written once, read by both)
    tail = f"substr({v}, CASE WHEN char_length({v}) >= 29 THEN char_length({v}) - 28 ELSE greatest(2 * char_length({v}) - 28, 1) END)"
    cut = _pg_repr(f"(substr({v}, 1, 28) || {tail})", "pe_b.b")
    return (f"(SELECT CASE WHEN char_length(pe_h.h) <= 60 THEN pe_h.h ELSE left(pe_c.c, 28) || '...' || right(pe_c.c, 29) END "
            f"FROM (SELECT {bounds} AS b) AS pe_b, LATERAL (SELECT {head} AS h) AS pe_h, "
            f"LATERAL (SELECT CASE WHEN char_length(pe_h.h) > 60 THEN {cut} END AS c) AS pe_c)")


@functools.cache
def _pg_bounds_literal() -> str:
    return "('{" + ",".join(map(str, _unprintable_bounds())) + "}'::INTEGER[])"


def _pg_bounds(compiler: Any, **kw: Any) -> str:
    """:func:`_unprintable_bounds` as one bound ``int[]`` per statement (however many values a reason shows); printed
    with literal binds, as one literal written once (our own constant: nothing a policy wrote)."""
    if kw.get("literal_binds"):
        return _pg_bounds_literal()
    bounds = compiler.__dict__.get("_pe_bounds")
    if bounds is None:
        bounds = compiler.__dict__["_pe_bounds"] = sa.literal(list(_unprintable_bounds()), postgresql.ARRAY(sa.Integer()))
    return _sql(compiler, bounds, **kw)


@compiles(ProblemText, "postgresql")
@_memo
def _problem_postgresql(element: ProblemText, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    v = _sql(compiler, column, **kw)
    if fact.type == "enum":
        declared = _bound(compiler, f" is not a declared value (expected one of: {', '.join(fact.values)})", **kw)
        # (where it is not NULL: concat keeps a char(n)'s padding, which a cast to text drops)
        shown = pg_short_repr(f"concat({v})", _pg_bounds(compiler, **kw))
        return f"(CASE WHEN {v} IS NULL THEN 'missing (null)' ELSE {shown} || {declared} END)"
    if fact.type == "number":  # NaN, the infinities, or a fraction past the doubles (read as an infinite float)
        number = f"CAST({v} AS NUMERIC)"
        return (f"(CASE WHEN {v} IS NULL THEN 'missing (null)' WHEN {number} = 'NaN' THEN 'nan is not a finite number' "
                f"WHEN {number} > 0 THEN 'inf is not a finite number' ELSE '-inf is not a finite number' END)")
    if fact.type == "set":  # a NULL member, or (2-D) a list member: check_value names the first
        _pg_set_column(compiler, column, **kw)
        # reprlib's list: its first 6 members (each a reprlib string), then '...'
        member = pg_short_repr("pe_m", _pg_bounds(compiler, **kw))
        row = (f"(SELECT '[' || string_agg(CASE WHEN pe_i > 6 THEN '...' WHEN pe_m IS NULL THEN 'None' ELSE {member} END, "
               f"', ' ORDER BY pe_i) || ']' FROM unnest(({v})[1:1]) WITH ORDINALITY AS pe_u(pe_m, pe_i) WHERE pe_i <= 7)")
        return (f"(CASE WHEN {v} IS NULL THEN 'missing (null)' WHEN array_ndims({v}) > 1 THEN "
                f"'expected a list of strings, got a member list ' || {row} ELSE "
                "'expected a list of strings, got a member NoneType None' END)")
    return "'missing (null)'"


# -- numbers computed as a policy computes them ---------------------------------------------------------------
# SQLite: the registered functions of ._functions (Python's own Decimal code). PostgreSQL: NUMERIC, exact, then
# rounded to 28 significant digits half-even (rule-engine's context); a division is carried to at least 31 digits
# plus a sticky digit (is the rest zero?), which rounds exactly as the infinitely precise quotient would.
DIVISION_BY_ZERO = "DivisionByZero([<class 'decimal.DivisionByZero'>])"
DIVISION_UNDEFINED = "InvalidOperation([<class 'decimal.DivisionUndefined'>])"
DIVISION_IMPOSSIBLE = "InvalidOperation([<class 'decimal.DivisionImpossible'>])"
INVALID_OPERATION = "InvalidOperation([<class 'decimal.InvalidOperation'>])"


def _pg_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pg_exponent(v: str) -> str:
    """The adjusted exponent of the NUMERIC ``v`` (its leading digit's power of ten), exactly, from its text."""
    frac = f"split_part(abs({v})::text, '.', 2)"
    return (f"(CASE WHEN abs({v}) >= 1 THEN length(trunc(abs({v}))::text) - 1 "
            f"ELSE -1 - (length({frac}) - length(ltrim({frac}, '0'))) END)")


def _pg_power(exponent: str) -> str:
    """10 ** ``exponent`` (an integer expression) as an exact NUMERIC."""
    return f"('1e' || ({exponent}))::numeric"


def pg_round28(x: str) -> str:
    """``x`` (NUMERIC) rounded to 28 significant digits, half to even, as rule-engine's context rounds. Only
    powers of ten that NUMERIC holds are formed: an integer of 28 digits or more is rounded through ``div`` by
    ``10 ** (e - 27)`` (``10 ** (27 - e)`` would overflow past 16,383 digits: a 20,001-digit integer), a smaller
    number through ``trunc`` at ``27 - e`` decimals."""
    big = ("(SELECT CASE WHEN 2 * abs(b.v - b.q * b.p) > b.p OR (2 * abs(b.v - b.q * b.p) = b.p AND mod(b.q, 2) <> 0) "
           "THEN (b.q + sign(b.v)) * b.p ELSE b.q * b.p END "
           f"FROM (SELECT r.v, {_pg_power('r.e - 27')} AS p, div(r.v, {_pg_power('r.e - 27')}) AS q) AS b)")
    small = ("(SELECT CASE WHEN abs(c.f) > 0.5 OR (abs(c.f) = 0.5 AND mod(c.t * c.p, 2) <> 0) "
             f"THEN c.t + sign(c.v) * {_pg_power('-c.s')} ELSE c.t END "
             "FROM (SELECT q.v, q.s, q.p, trunc(q.v, q.s) AS t, (q.v - trunc(q.v, q.s)) * q.p AS f "
             f"FROM (SELECT r.v, 27 - r.e AS s, {_pg_power('27 - r.e')} AS p) AS q) AS c)")
    return (f"(SELECT CASE WHEN r.v = 0 OR r.v IS NULL THEN r.v WHEN r.e >= 27 THEN {big} ELSE {small} END "
            f"FROM (SELECT x.v, {_pg_exponent('x.v')} AS e FROM (SELECT CAST({x} AS NUMERIC) AS v) AS x) AS r)")


def pg_divide(a: str, b: str) -> str:
    """``a / b`` correctly rounded to 28 digits (NULL where ``b`` is zero: that is a failure, see pg_failure). The
    dividend is scaled by ``10 ** k`` (or, for a huge dividend, the divisor by ``10 ** -k``): only powers NUMERIC
    holds are formed."""
    k = f"(31 - ({_pg_exponent('d.a')} - {_pg_exponent('d.b')}))"
    num = f"(CASE WHEN t.k >= 0 THEN abs(d.a) * {_pg_power('greatest(t.k, 0)')} ELSE abs(d.a) END)"
    den = f"(CASE WHEN t.k >= 0 THEN abs(d.b) ELSE abs(d.b) * {_pg_power('greatest(-t.k, 0)')} END)"
    quotient = (f"sign(d.a) * sign(d.b) * (t.t * 10 + CASE WHEN {num} - t.t * {den} <> 0 "
                f"THEN 1 ELSE 0 END) * {_pg_power('-(t.k + 1)')}")
    scaled = (f"CASE WHEN {k} >= 0 THEN div(abs(d.a) * {_pg_power(f'greatest({k}, 0)')}, abs(d.b)) "
              f"ELSE div(abs(d.a), abs(d.b) * {_pg_power(f'greatest(-{k}, 0)')}) END")
    return (f"(SELECT CASE WHEN d.b = 0 THEN NULL WHEN d.a = 0 THEN 0::numeric ELSE "
            f"(SELECT {pg_round28(quotient)} FROM (SELECT {scaled} AS t, {k} AS k) AS t) "
            f"END FROM (SELECT CAST({a} AS NUMERIC) AS a, CAST({b} AS NUMERIC) AS b) AS d)")


def _pg_int_div(op: str, a: str, b: str) -> str:
    result = "q.q" if op == "//" else "d.a - d.b * q.q"
    return (f"(SELECT CASE WHEN d.b = 0 THEN NULL WHEN length(abs(q.q)::text) > 28 THEN NULL "
            f"ELSE {pg_round28(result)} END FROM (SELECT CAST({a} AS NUMERIC) AS a, CAST({b} AS NUMERIC) AS b) AS d, "
            f"LATERAL (SELECT CASE WHEN d.b = 0 THEN NULL ELSE div(d.a, d.b) END AS q) AS q)")


def _pg_failure(op: str, a: str, b: str) -> str:
    zero = INVALID_OPERATION if op == "%" else DIVISION_BY_ZERO
    checks = (f"WHEN d.b = 0 AND d.a = 0 THEN {_pg_quote(DIVISION_UNDEFINED)} "
              f"WHEN d.b = 0 THEN {_pg_quote(zero)} ")
    if op in ("//", "%"):
        checks += f"WHEN length(abs(div(d.a, d.b))::text) > 28 THEN {_pg_quote(DIVISION_IMPOSSIBLE)} "
    return (f"(SELECT CASE {checks}END FROM (SELECT CAST({a} AS NUMERIC) AS a, CAST({b} AS NUMERIC) AS b) AS d "
            f"WHERE d.a IS NOT NULL AND d.b IS NOT NULL)")


# PostgreSQL: session-local SQL functions (pg_temp: nothing is left in the database), so that the planner sees a
# cheap call, not a tree of subqueries per operator (which inflates its cost estimate into JIT compilation).
PG_FUNCTIONS = {
    "pe_round28(numeric)": ("numeric", pg_round28("$1")),
    "pe_div(numeric, numeric)": ("numeric", pg_divide("$1", "$2")),
    "pe_idiv(numeric, numeric)": ("numeric", _pg_int_div("//", "$1", "$2")),
    "pe_mod(numeric, numeric)": ("numeric", _pg_int_div("%", "$1", "$2")),
    "pe_div_err(numeric, numeric)": ("text", _pg_failure("/", "$1", "$2")),
    "pe_idiv_err(numeric, numeric)": ("text", _pg_failure("//", "$1", "$2")),
    "pe_mod_err(numeric, numeric)": ("text", _pg_failure("%", "$1", "$2")),
}


def pg_function_sql() -> list[str]:
    """``CREATE FUNCTION`` statements of :data:`PG_FUNCTIONS` (in ``pg_temp``: this session only)."""
    return [f"CREATE OR REPLACE FUNCTION pg_temp.{signature} RETURNS {returns} LANGUAGE sql IMMUTABLE PARALLEL SAFE "
            f"COST 1 AS $pe$ SELECT {body} $pe$" for signature, (returns, body) in PG_FUNCTIONS.items()]


_PG_NAMES = {"/": "pe_div", "//": "pe_idiv", "%": "pe_mod"}


def pg_arith(op: str, a: str, b: str) -> str:
    if op in ("+", "-", "*"):
        return f"pg_temp.pe_round28(({a}) {op} ({b}))"
    if op in _PG_NAMES:  # NULL where it fails (a zero divisor, a quotient past 28 digits)
        return f"pg_temp.{_PG_NAMES[op]}({a}, {b})"
    raise PlanError(f"PostgreSQL cannot compute `{op}` exactly as a policy does (Python's decimal power is not "
                    "correctly rounded in every case, so no SQL reproduces it); use SQLite (its registered functions "
                    "run Python's own code), or declare the computed value as a fact")


def pg_failure(op: str, a: str, b: str) -> str:
    """The ``repr`` of the exception ``a <op> b`` raises in Decimal, or NULL (``+ - *`` raise only past 1e999999,
    beyond NUMERIC's range, where PostgreSQL raises an error instead of answering)."""
    if op in ("+", "-", "*"):
        return "CAST(NULL AS TEXT)"
    if op not in _PG_NAMES:
        pg_arith(op, a, b)  # raises PlanError naming it
    return f"pg_temp.{_PG_NAMES[op]}_err({a}, {b})"


def _number_operand_sqlite(compiler: Any, operand: Any, **kw: Any) -> str:
    if isinstance(operand, NumberLiteral):  # exact as text: no double in between
        return _pg_quote("D:" + str(operand.args[0]))
    return _sql(compiler, operand, **kw)


@_both
class Computed(_Construct):
    """``left <op> right`` as a policy computes it (NULL where the computation fails)."""

    def __init__(self, op: str, left: Any, right: Any) -> None:
        super().__init__(op, left, right, type_=sa.Numeric())


@compiles(Computed, "sqlite")
@_memo
def _computed_sqlite(element: Computed, compiler: Any, **kw: Any) -> str:
    op, left, right = element.args
    return (f"pe_arith({_pg_quote(op)}, {_number_operand_sqlite(compiler, left, **kw)}, "
            f"{_number_operand_sqlite(compiler, right, **kw)})")


@compiles(Computed, "postgresql")
@_memo
def _computed_postgresql(element: Computed, compiler: Any, **kw: Any) -> str:
    op, left, right = element.args
    return pg_arith(op, _sql(compiler, left, **kw), _sql(compiler, right, **kw))


@_both
class OwnFailure(_Construct):
    """Why ``left <op> right`` itself fails (its operands computed): the exception's ``repr``, or NULL."""

    def __init__(self, op: str, left: Any, right: Any) -> None:
        super().__init__(op, left, right, type_=sa.Text())


@compiles(OwnFailure, "sqlite")
@_memo
def _failure_sqlite(element: OwnFailure, compiler: Any, **kw: Any) -> str:
    return f"pe_err({_computed_sqlite(element, compiler, **kw)})"


@compiles(OwnFailure, "postgresql")
@_memo
def _failure_postgresql(element: OwnFailure, compiler: Any, **kw: Any) -> str:
    op, left, right = element.args
    return pg_failure(op, _sql(compiler, left, **kw), _sql(compiler, right, **kw))


@_both
class Negated(_Construct):
    """``-value``, rounded to 28 digits as rule-engine's context rounds."""

    def __init__(self, value: Any) -> None:
        super().__init__(value, type_=sa.Numeric())


@compiles(Negated, "sqlite")
@_memo
def _negated_sqlite(element: Negated, compiler: Any, **kw: Any) -> str:
    return f"pe_neg({_number_operand_sqlite(compiler, element.args[0], **kw)})"


@compiles(Negated, "postgresql")
@_memo
def _negated_postgresql(element: Negated, compiler: Any, **kw: Any) -> str:
    return f"pg_temp.pe_round28(-({_sql(compiler, element.args[0], **kw)}))"


@_both
class NumCompare(_Construct):
    """Two numbers compared exactly, either of them computed."""


@compiles(NumCompare, "sqlite")
@_memo
def _num_compare_sqlite(element: NumCompare, compiler: Any, **kw: Any) -> str:
    op, left, right = element.args
    return (f"(pe_cmp({_pg_quote(op)}, {_number_operand_sqlite(compiler, left, **kw)}, "
            f"{_number_operand_sqlite(compiler, right, **kw)}) = 1)")


@compiles(NumCompare, "postgresql")
@_memo
def _num_compare_postgresql(element: NumCompare, compiler: Any, **kw: Any) -> str:
    op, left, right = element.args
    return f"({_sql(compiler, left, **kw)} {'=' if op == '==' else '<>' if op == '!=' else op} {_sql(compiler, right, **kw)})"


@_both
class NumberFact(_Construct):
    """A number fact as ``evaluate`` reads it: PostgreSQL hands a non-integral NUMERIC over as the nearest double
    (see ``engine_value``), so it is rounded alike (PostgreSQL prints a double's shortest exact text, as Python's
    ``repr``); NaN and the infinities (never valid) are NULL."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, type_=sa.Numeric())


@compiles(NumberFact, "sqlite")
@_memo
def _number_fact_sqlite(element: NumberFact, compiler: Any, **kw: Any) -> str:
    return _sql(compiler, element.args[0], **kw)


@compiles(NumberFact, "postgresql")
@_memo
def _number_fact_postgresql(element: NumberFact, compiler: Any, **kw: Any) -> str:
    column = element.args[0]
    if isinstance(getattr(column, "type", None), sa.Float):  # a double's shortest exact text (a cast would keep 15 digits)
        v = f"CAST(CAST({_sql(compiler, column, **kw)} AS TEXT) AS NUMERIC)"
    else:
        v = f"CAST({_sql(compiler, column, **kw)} AS NUMERIC)"
    return (f"(CASE WHEN {v} IN ('NaN', 'Infinity', '-Infinity') THEN NULL WHEN {v} = trunc({v}) THEN {v} "
            f"WHEN abs({v}) <= {_HALF_TINIEST}::numeric THEN 0::numeric "
            f"WHEN abs({v}) < {_FLOAT_OVERFLOW}::numeric THEN CAST(CAST(CAST({v} AS DOUBLE PRECISION) AS TEXT) AS NUMERIC) END)")


# -- regular expressions ----------------------------------------------------------------------------------------
def regex_too_long_text(length: Any) -> Any:
    return (sa.literal("RegexTooLong('a string of ", sa.Text()) + sa.cast(length, sa.Text())
            + sa.literal(" characters is longer than 4096, the most a regular expression is applied to')", sa.Text()))


@_both
class RegexMatch(_Construct):
    """``value =~ pattern`` (``=~~`` when ``search``) with Python's ``re``; NULL past 4,096 characters."""


@compiles(RegexMatch, "sqlite")
@_memo
def _regex_sqlite(element: RegexMatch, compiler: Any, **kw: Any) -> str:
    value, pattern, search = element.args
    return f"(pe_match({_bound(compiler, pattern, **kw)}, {int(search)}, {_sql(compiler, value, **kw)}) = 1)"


@compiles(RegexMatch, "postgresql")
@_memo
def _regex_postgresql(element: RegexMatch, compiler: Any, **kw: Any) -> str:
    value, pattern, search = element.args
    from ._regex import to_postgresql  # noqa: PLC0415 - only PostgreSQL needs the translation

    translated = to_postgresql(pattern, search)
    text = _sql(compiler, value, **kw)
    return f"(CASE WHEN char_length({text}) <= 4096 THEN ({text} ~ {_bound(compiler, translated, **kw)}) END)"


@_both
class MatchFailure(_Construct):
    """Why a regex is not tried on ``value`` (longer than 4,096 characters), as ``repr(RegexTooLong(...))``."""

    def __init__(self, value: Any) -> None:
        super().__init__(value, type_=sa.Text())


@compiles(MatchFailure, "sqlite")
@_memo
def _match_failure_sqlite(element: MatchFailure, compiler: Any, **kw: Any) -> str:
    return f"pe_match_err({_sql(compiler, element.args[0], **kw)})"


@compiles(MatchFailure, "postgresql")
@_memo
def _match_failure_postgresql(element: MatchFailure, compiler: Any, **kw: Any) -> str:
    text = element.args[0]
    check = sa.case((StrLength(text) > 4096, regex_too_long_text(StrLength(text))), else_=sa.null())
    return _sql(compiler, check, **kw)


@_both
class SetsEqual(_Construct):
    """Two set facts hold the same strings (duplicates and order aside)."""


@compiles(SetsEqual, "sqlite")
@_memo
def _sets_equal_sqlite(element: SetsEqual, compiler: Any, **kw: Any) -> str:
    left, right = element.args
    return f"(pe_set_eq({_sql(compiler, left, **kw)}, {_sql(compiler, right, **kw)}) = 1)"


@compiles(SetsEqual, "postgresql")
@_memo
def _sets_equal_postgresql(element: SetsEqual, compiler: Any, **kw: Any) -> str:
    left, right = (_pg_set(_pg_set_column(compiler, a, **kw)) for a in element.args)
    return f"({left} @> {right} AND {left} <@ {right})"


@_both
class DecimalOperand(_Construct):
    """A number literal inside a computation: exact text for SQLite's functions, NUMERIC for PostgreSQL."""

    def __init__(self, value: Decimal) -> None:
        super().__init__(value, type_=sa.Numeric())


@compiles(DecimalOperand, "sqlite")
@_memo
def _decimal_sqlite(element: DecimalOperand, compiler: Any, **kw: Any) -> str:
    return _pg_quote("D:" + str(element.args[0]))


@compiles(DecimalOperand, "postgresql")
@_memo
def _decimal_postgresql(element: DecimalOperand, compiler: Any, **kw: Any) -> str:
    return f"CAST('{element.args[0]}' AS NUMERIC)"


@_both
class TextLiteral(_Construct):
    """A string a policy wrote, bound (PostgreSQL: refused by name when it holds NUL, which text cannot)."""

    def __init__(self, value: str) -> None:
        super().__init__(value, type_=sa.Text())


@compiles(TextLiteral, "sqlite")
@_memo
def _text_literal_sqlite(element: TextLiteral, compiler: Any, **kw: Any) -> str:
    return _bound(compiler, element.args[0], **kw)


@compiles(TextLiteral, "postgresql")
@_memo
def _text_literal_postgresql(element: TextLiteral, compiler: Any, **kw: Any) -> str:
    _no_nul([element.args[0]], f"the string literal {element.args[0]!r}")
    return _bound(compiler, element.args[0], **kw)


@_both
class SetLiteral(_Construct):
    """A set value (a set fact's declared default) in the form a set fact's column holds: a JSON array of strings
    in SQLite, a ``text[]`` in PostgreSQL, so the set constructs read it as they read a column."""

    def __init__(self, members: frozenset[str]) -> None:
        super().__init__(tuple(sorted(members)), type_=sa.types.NullType())


@compiles(SetLiteral, "sqlite")
@_memo
def _set_literal_sqlite(element: SetLiteral, compiler: Any, **kw: Any) -> str:
    return _sql(compiler, sa.literal(json.dumps(list(element.args[0])), sa.Text()), **kw)


@compiles(SetLiteral, "postgresql")
@_memo
def _set_literal_postgresql(element: SetLiteral, compiler: Any, **kw: Any) -> str:
    _no_nul(element.args[0], "a set default")
    members = ", ".join(compiler.process(sa.literal(m, sa.Text()), **kw) for m in element.args[0])
    return f"(CAST(ARRAY[{members}] AS TEXT[]))"
