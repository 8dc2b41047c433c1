"""The few SQL constructs whose text depends on the database: checking that a column holds a good value of a fact
type, set facts (JSON arrays in SQLite, ``text[]`` in PostgreSQL), exact text comparison, substrings, lengths,
exact number literals and the texts of bad-fact reasons.

Each construct is a SQLAlchemy ``ColumnElement`` compiled per dialect (``sqlalchemy.ext.compiler``), so
:func:`policyengine.sql.where` stays dialect-free and the same expression runs on SQLite and PostgreSQL. Other
dialects are refused at compile time rather than given SQL whose meaning differs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

from ..runtime.plan import Fact, PlanError

__all__ = ["ExactText", "NumberLiteral", "ProblemText", "SetContains", "SetEquals", "SetLength", "StrLength",
           "Substring", "TruthOf", "ValidFact", "exact_number_text"]

_MAX_FLOAT = 1.7976931348623157e308
_SUPPORTED = ("sqlite", "postgresql")


class _Construct(ColumnElement[Any]):
    inherit_cache = False  # built per plan; nothing to gain from SQLAlchemy's statement cache

    def __init__(self, *args: Any, type_: Any = sa.Boolean()) -> None:
        self.args = args
        self.type = type_

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


def _sql(compiler: Any, expression: Any, **kw: Any) -> str:
    return f"({compiler.process(expression, **kw)})"


@_both
class ValidFact(_Construct):
    """True where ``column`` holds a good value of ``fact``'s type; false otherwise, never NULL."""


@compiles(ValidFact, "sqlite")
def _valid_sqlite(element: ValidFact, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    kind = sa.func.typeof(column)
    if fact.type == "bool":
        check = sa.and_(kind == "integer", column.in_([0, 1]))
    elif fact.type == "enum":
        check = sa.and_(kind == "text", ExactText(column).in_(list(fact.values)))
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
def _valid_postgresql(element: ValidFact, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    if fact.type == "enum":
        check = sa.func.coalesce(ExactText(column).in_(list(fact.values)), sa.false())
    elif fact.type == "number":  # NaN and the infinities fall outside; NULL is not valid either
        check = sa.func.coalesce(sa.cast(column, postgresql.DOUBLE_PRECISION).between(-_MAX_FLOAT, _MAX_FLOAT), sa.false())
    elif fact.type == "set":  # text[] without NULL members
        check = sa.and_(column.isnot(None), sa.func.array_position(column, sa.null()).is_(None))
    else:
        check = column.isnot(None)
    return _sql(compiler, check, **kw)


@_both
class TruthOf(_Construct):
    """A bool fact's column as a SQL boolean (SQLite stores booleans as 0/1)."""


@compiles(TruthOf, "sqlite")
def _truth_sqlite(element: TruthOf, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} = 1)"


@compiles(TruthOf, "postgresql")
def _truth_postgresql(element: TruthOf, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} IS TRUE)"


@_both
class ExactText(_Construct):
    """Text compared by code point whatever the column's collation (UTF-8 byte order is code-point order)."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, type_=sa.Text())


@compiles(ExactText, "sqlite")
def _text_sqlite(element: ExactText, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} COLLATE BINARY)"


@compiles(ExactText, "postgresql")
def _text_postgresql(element: ExactText, compiler: Any, **kw: Any) -> str:
    return f"({_sql(compiler, element.args[0], **kw)} COLLATE \"C\")"


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
def _number_sqlite(element: NumberLiteral, compiler: Any, **kw: Any) -> str:
    text = exact_number_text(element.args[0])
    if text is None:
        raise PlanError(f"SQLite cannot compare with {element.args[0]} exactly (a double does not hold it); "
                        "use PostgreSQL, or a literal with at most 17 significant digits")
    return text


@compiles(NumberLiteral, "postgresql")
def _number_postgresql(element: NumberLiteral, compiler: Any, **kw: Any) -> str:
    return f"CAST('{element.args[0]}' AS NUMERIC)"  # a Decimal's str has digits, '.', 'E', '+', '-' only


@_both
class SetContains(_Construct):
    """``member`` is one of the set fact's strings."""


@compiles(SetContains, "sqlite")
def _contains_sqlite(element: SetContains, compiler: Any, **kw: Any) -> str:
    column, member = element.args
    each = _json_each(column)
    found = sa.exists().select_from(each).where(sa.and_(each.c.type == "text", ExactText(each.c.value) == member))
    return _sql(compiler, sa.case((_json_set_valid(column), found), else_=sa.null()), **kw)


@compiles(SetContains, "postgresql")
def _contains_postgresql(element: SetContains, compiler: Any, **kw: Any) -> str:
    column, member = element.args
    return f"({_sql(compiler, member, **kw)} = ANY({_sql(compiler, column, **kw)}))"


@_both
class SetLength(_Construct):
    """How many distinct strings the set fact holds (a set: duplicates in the stored list count once)."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, type_=sa.Integer())


@compiles(SetLength, "sqlite")
def _set_length_sqlite(element: SetLength, compiler: Any, **kw: Any) -> str:
    column = element.args[0]
    each = _json_each(column)
    count = sa.select(sa.func.count(sa.distinct(ExactText(each.c.value)))).select_from(each).scalar_subquery()
    return _sql(compiler, sa.case((_json_set_valid(column), count), else_=sa.null()), **kw)


@compiles(SetLength, "postgresql")
def _set_length_postgresql(element: SetLength, compiler: Any, **kw: Any) -> str:
    column = _sql(compiler, element.args[0], **kw)
    return f"(SELECT count(DISTINCT pe_m COLLATE \"C\") FROM unnest({column}) AS pe_m)"


@_both
class SetEquals(_Construct):
    """The set fact holds exactly the literal strings (in any order, duplicates allowed)."""


@compiles(SetEquals, "sqlite")
def _set_equals_sqlite(element: SetEquals, compiler: Any, **kw: Any) -> str:
    column, values = element.args
    each = _json_each(column)
    outside = sa.exists().select_from(each).where(ExactText(each.c.value).not_in(sorted(values)))
    inside = sa.select(sa.func.count(sa.distinct(ExactText(each.c.value)))).select_from(each) \
        .where(ExactText(each.c.value).in_(sorted(values))).scalar_subquery()
    check = sa.and_(~outside, inside == len(values))
    return _sql(compiler, sa.case((_json_set_valid(column), check), else_=sa.null()), **kw)


@compiles(SetEquals, "postgresql")
def _set_equals_postgresql(element: SetEquals, compiler: Any, **kw: Any) -> str:
    column, values = element.args
    literal = postgresql.array(sorted(values), type_=sa.Text()) if values else sa.cast(postgresql.array([]),
                                                                                      postgresql.ARRAY(sa.Text()))
    col = _sql(compiler, column, **kw)
    lit = _sql(compiler, literal, **kw)
    return f"({col} @> {lit} AND {col} <@ {lit})"


@_both
class Substring(_Construct):
    """``member`` occurs in ``container`` (both strings; the empty string occurs everywhere)."""


@compiles(Substring, "sqlite")
def _substring_sqlite(element: Substring, compiler: Any, **kw: Any) -> str:
    member, container = element.args
    return f"(instr({_sql(compiler, container, **kw)}, {_sql(compiler, member, **kw)}) > 0)"


@compiles(Substring, "postgresql")
def _substring_postgresql(element: Substring, compiler: Any, **kw: Any) -> str:
    member, container = element.args
    return f"(strpos({_sql(compiler, container, **kw)}, {_sql(compiler, member, **kw)}) > 0)"


@_both
class StrLength(_Construct):
    """Characters (code points) of a string."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, type_=sa.Integer())


@compiles(StrLength, "sqlite")
def _length_sqlite(element: StrLength, compiler: Any, **kw: Any) -> str:
    return f"length({_sql(compiler, element.args[0], **kw)})"


@compiles(StrLength, "postgresql")
def _length_postgresql(element: StrLength, compiler: Any, **kw: Any) -> str:
    return f"char_length({_sql(compiler, element.args[0], **kw)})"


# -- reasons: what is wrong with a bad value, as text ----------------------------------------------------------
_WORDS = {"bool": "true/false", "enum": "a string", "string": "a string", "number": "a number",
          "set": "a list of strings"}


def _repr_text(value: Any) -> Any:
    """Python's ``repr`` of a string, in SQL: quotes chosen as Python does, backslashes, tabs and line breaks
    escaped (other control and non-printable characters, which Python also escapes, are shown as they are)."""
    escaped = sa.func.replace(value, "\\", "\\\\")
    for char, text in (("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        escaped = sa.func.replace(escaped, char, text)
    single = sa.literal("'") + sa.func.replace(escaped, "'", "\\'") + "'"
    double = sa.literal('"') + escaped + '"'
    has = (lambda needle: Substring(sa.literal(needle), value))  # noqa: E731
    return sa.case((sa.and_(has("'"), sa.not_(has('"'))), double), else_=single)


@_both
class ProblemText(_Construct):
    """What is wrong with a bad value of ``fact`` in ``column``, as ``check_value`` says it."""

    def __init__(self, column: Any, fact: Fact) -> None:
        super().__init__(column, fact, type_=sa.Text())


@compiles(ProblemText, "sqlite")
def _problem_sqlite(element: ProblemText, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    kind = sa.func.typeof(column)
    type_name = sa.case((kind == "integer", "int"), (kind == "real", "float"), (kind == "text", "str"), else_="bytes")
    shown = sa.case((kind == "text", _repr_text(column)), else_=sa.cast(column, sa.Text()))
    wrong = sa.literal(f"expected {_WORDS[fact.type]}, got ") + type_name + " " + sa.func.substr(shown, 1, 60)
    branches: list[Any] = [(kind == "null", "missing (null)")]
    if fact.type == "enum":
        branches.append((kind == "text", _repr_text(column) + f" is not a declared value (expected one of: "
                                                               f"{', '.join(fact.values)})"))
    if fact.type == "number":
        branches.append((sa.and_(kind == "real", column > 0), "inf is not a finite number"))
        branches.append((kind == "real", "-inf is not a finite number"))
    return _sql(compiler, sa.case(*branches, else_=wrong), **kw)


@compiles(ProblemText, "postgresql")
def _problem_postgresql(element: ProblemText, compiler: Any, **kw: Any) -> str:
    column, fact = element.args
    branches: list[Any] = [(column.is_(None), "missing (null)")]
    if fact.type == "enum":
        branches.append((sa.true(), _repr_text(sa.cast(column, sa.Text())) + " is not a declared value (expected "
                                                                           f"one of: {', '.join(fact.values)})"))
    elif fact.type == "number":
        as_float = sa.cast(column, postgresql.DOUBLE_PRECISION)
        branches.append((as_float > 0, "inf is not a finite number"))
        branches.append((as_float < 0, "-inf is not a finite number"))
        branches.append((sa.true(), "nan is not a finite number"))
    elif fact.type == "set":
        member = sa.func.unnest(column).column_valued("pe_m")
        shown = sa.select(sa.func.string_agg(sa.case((member.is_(None), "None"), else_=_repr_text(member)),
                                             sa.literal_column("', '"))).scalar_subquery()
        branches.append((sa.true(), sa.literal("expected a list of strings, got list ")
                         + sa.func.substr(sa.literal("[") + shown + "]", 1, 60)))
    return _sql(compiler, sa.case(*branches, else_="missing (null)"), **kw)
