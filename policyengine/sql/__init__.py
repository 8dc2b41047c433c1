"""Query plans in the database, on SQLAlchemy 2 Core (``pip install policyengine[sql]``): SQLite and PostgreSQL.

* :func:`where` turns an :meth:`Engine.plan <policyengine.Engine.plan>` into a boolean SQL expression;
* :func:`reason` is a SQL expression giving each row's bulk reason (NULL where the action applies);
* :func:`bulk` computes :meth:`Engine.bulk <policyengine.Engine.bulk>`'s :class:`~policyengine.BulkResult` in the
  database: one ``GROUP BY`` query, counts, reasons, row indexes and ids aggregated per group;
* :func:`fetch_orders` reads the rows as the orders ``evaluate`` sees (what the others are exact against).

``columns`` maps fact names (``"order.status"``, ``"store.manual_fulfillment"``...) to column expressions, so facts
may live in joined tables. How facts are stored (docs/plans.md): bool as BOOLEAN (SQLite: the integers 0 and 1),
enum and string as text, number as NUMERIC (exact decimals in PostgreSQL), set as ``text[]`` in PostgreSQL and as
a JSON array of strings in SQLite. Anything else in a column (NULL, an undeclared enum value, a wrong type where
SQLite allows one) is a bad fact, and the SQL fails closed exactly as ``evaluate`` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..pipeline.model import FactSpec
from ..runtime.bulk import BulkResult, summarise
from ..runtime.plan import (And, Arith, Compare, Fact, IfElse, In, Length, Match, Neg, Node, Not, Or, Plan, PlanError,
                            Problem, Reason, Valid, Value, build_reasons, problem_text)
from ._dialects import (ExactText, NumberLiteral, ProblemText, SetContains, SetEquals, SetLength, StrLength,
                        Substring, TruthOf, ValidFact)

__all__ = ["bulk", "engine_value", "fetch_orders", "reason", "where"]

Columns = Mapping[str, Any]


def where(plan: Plan, columns: Columns) -> ColumnElement[bool]:
    """A boolean SQL expression selecting exactly the rows ``plan`` covers (``true()``/``false()`` for the
    ``always``/``never`` plans). Raises ``KeyError`` naming the facts ``columns`` lacks, and :class:`PlanError`
    when the database cannot decide a condition exactly (regular expressions; arithmetic in SQLite)."""
    _require(plan.facts, columns)
    return _Translator(columns).boolean(plan.condition)


def reason(engine: Any, action: str, user: Any, columns: Columns, *, store: str | None = None) -> ColumnElement[str]:
    """A SQL expression giving, per row, the reason ``action`` is not offered (the text ``engine.bulk`` groups the
    row by), or NULL when it applies. Texts naming a bad value render it as Python's ``repr`` would, for NULLs,
    strings and integers (other wrong types stored in SQLite are shown as SQLite prints them; :func:`bulk` is
    exact for every value)."""
    plan = build_reasons(engine, action, user, store=store)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    whens = [(translator.boolean(node), translator.reason_text(item)) for node, item in plan.branches
             if node != Value(False, "bool")]
    return sa.case(*whens, else_=sa.null()) if whens else sa.null()


def bulk(connection: Connection, engine: Any, action: str, user: Any, selectable: Any, columns: Columns,
         id_column: Any, *, store: str | None = None) -> BulkResult:
    """``engine.bulk(action, orders, user)`` over the rows of ``selectable`` (a table, join or subquery, or a
    ``Select`` whose FROM and WHERE pick the orders), computed
    by the database: one query groups the rows by reason (and, for a bad fact, by its value, so that the text
    names it), counting them and aggregating their indexes and ids; Python only names the groups. Row ``i`` is the
    ``i``-th in ``id_column`` order, as :func:`fetch_orders` returns them; ids are the id column as text (as the
    default adapter's ``order_id`` gives them)."""
    plan = build_reasons(engine, action, user, store=store)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    keys: dict[Reason, int] = {None: 0}
    whens = []
    for node, item in plan.branches:
        if node != Value(False, "bool"):
            whens.append((translator.boolean(node), keys.setdefault(item, len(keys))))
    code = sa.case(*whens, else_=0) if whens else sa.literal(0)
    problems = {item: code_ for item, code_ in keys.items() if isinstance(item, Problem)}
    raw_facts = sorted({p.fact.name for p in problems})
    raw = {name: sa.type_coerce(columns[name], sa.types.NullType()) for name in raw_facts}
    inner = _rows_of(selectable, code.label("pe_code"),
                     (sa.func.row_number().over(order_by=id_column) - 1).label("pe_index"),
                     sa.cast(id_column, sa.Text()).label("pe_id"),  # as the default adapter's order_id: str
                     *(col.label(f"pe_raw_{i}") for i, col in enumerate(raw.values()))).subquery()
    shown = []
    for i, name in enumerate(raw_facts):  # a bad value groups its rows only where it is the reason
        codes = [c for p, c in problems.items() if p.fact.name == name]
        shown.append(sa.case((inner.c.pe_code.in_(codes), inner.c[f"pe_raw_{i}"]), else_=sa.null()).label(f"pe_v{i}"))
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # unordered aggregates let PostgreSQL hash the groups in one pass; order is restored below
        collected = [sa.func.array_agg(inner.c.pe_index), sa.func.array_agg(inner.c.pe_id)]
    else:
        collected = [sa.func.json_group_array(sa.func.json_array(inner.c.pe_index, inner.c.pe_id))]
    query = sa.select(inner.c.pe_code, *shown, *collected).group_by(inner.c.pe_code, *shown)
    names = {code_: item for item, code_ in keys.items()}
    specs = _fact_specs(engine)
    groups: dict[str | None, list[int]] = {}
    ids: dict[int, Any] = {}
    for row in connection.execute(query):
        item = names[row[0]]
        if isinstance(item, Problem):
            name = item.fact.name
            item = problem_text(item, engine_value(specs.get(name), row[1 + raw_facts.index(name)]))
        pairs = zip(row[-2], row[-1]) if postgres else map(tuple, json.loads(row[-1]))
        ids.update(pairs)
        indexes = row[-2] if postgres else [index for index, _ in json.loads(row[-1])]
        groups.setdefault(item, []).extend(indexes)  # two outcomes may share one text
    for indexes in groups.values():
        indexes.sort()  # back to row order (nearly sorted already: linear)
    total = len(ids)
    return summarise(action, plan.label, total, groups, ids)  # type: ignore[arg-type]  # ids[i]: a dict will do


def fetch_orders(connection: Connection, engine: Any, selectable: Any, columns: Columns,
                 id_column: Any) -> list[dict[str, Any]]:
    """The rows of ``selectable`` (in ``id_column`` order) as the orders ``evaluate`` reads: nested dicts following
    each fact's source (``store.manual_fulfillment`` is ``order["store"]["manual_fulfillment"]``), values converted
    by :func:`engine_value`, the id as ``order["id"]``. Every value is read per row in Python: this is the
    reference :func:`bulk` and :func:`where` are exact against, not the fast path."""
    specs = _fact_specs(engine)
    names = [name for name in columns if name in specs]
    raw = [sa.type_coerce(columns[n], sa.types.NullType()) for n in names]
    query = _rows_of(selectable, sa.type_coerce(id_column, sa.types.NullType()), *raw).order_by(None).order_by(id_column)
    orders = []
    for row in connection.execute(query):
        order: dict[str, Any] = {"id": row[0]}
        for name, value in zip(names, row[1:], strict=True):
            spec = specs[name]
            node = order
            *parents, leaf = spec.source[1:]
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = engine_value(spec, value)
        orders.append(order)
    return orders


def engine_value(spec: FactSpec | None, value: Any) -> Any:
    """What ``evaluate`` reads for a database value of fact ``spec``: SQLite's 0/1 of a bool fact as False/True,
    a NUMERIC as an int (integral) or a float, a SQLite JSON array of a set fact as a list. Anything else is passed
    as it is (and is then a bad fact, where the SQL agrees)."""
    kind = spec.type if spec is not None else None
    if kind == "bool" and type(value) is int and value in (0, 1):
        return bool(value)
    if kind == "number" and isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if kind == "set" and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, list) else value
    return value


def _rows_of(selectable: Any, *columns: Any) -> Any:
    """A SELECT of ``columns`` over the selection: a FROM clause (table, join, subquery), or a ``Select`` whose FROM
    and WHERE pick the orders ("all Error orders of this store")."""
    if isinstance(selectable, sa.Select):
        return selectable.with_only_columns(*columns, maintain_column_froms=True)
    return sa.select(*columns).select_from(selectable)


def _fact_specs(engine: Any) -> dict[str, FactSpec]:
    specs: dict[str, FactSpec] = {}
    for policy in (engine.policy, *(engine.store_policy(s) for s in engine.stores)):
        for fact in policy.facts:
            specs.setdefault(fact.name, fact)
    return specs


def _require(facts: Sequence[str], columns: Columns) -> None:
    missing = [f for f in facts if f not in columns]
    if missing:
        raise KeyError(f"no column given for fact{'s' if len(missing) > 1 else ''} {', '.join(missing)}")


class _Translator:
    """Plan nodes -> SQLAlchemy expressions over ``columns`` (dialect-specific parts are in ``_dialects``)."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns

    def boolean(self, node: Node) -> Any:
        if isinstance(node, Value):
            return sa.true() if node.value else sa.false()
        if isinstance(node, Fact):
            return TruthOf(self.columns[node.name])
        if isinstance(node, Valid):
            return ValidFact(self.columns[node.fact.name], node.fact)
        if isinstance(node, And):
            return sa.and_(*map(self.boolean, node.args))
        if isinstance(node, Or):
            return sa.or_(*map(self.boolean, node.args))
        if isinstance(node, Not):
            return sa.not_(self.boolean(node.arg))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, In):
            return self.contains(node)
        if isinstance(node, IfElse):
            return sa.case((self.boolean(node.test), self.boolean(node.then)), else_=self.boolean(node.otherwise))
        if isinstance(node, Match):
            raise PlanError(f"a database cannot match the regular expression {node.pattern!r} exactly as Python's "
                            "re does; keep regular expressions to user facts, or declare a fact computed by the app")
        raise PlanError(f"not a condition: {node!r}")

    def value(self, node: Node) -> Any:
        if isinstance(node, Value):
            if node.type == "number":
                return NumberLiteral(node.value)  # type: ignore[arg-type]
            if node.type == "bool":
                return sa.true() if node.value else sa.false()
            return sa.literal(node.value, sa.Text())
        if isinstance(node, Fact):
            column = self.columns[node.name]
            if node.type in ("enum", "string"):
                return ExactText(column)
            return column
        if isinstance(node, Length):
            inner = node.value
            if isinstance(inner, Fact) and inner.type == "set":
                return SetLength(self.columns[inner.name])
            return StrLength(self.value(inner))
        if isinstance(node, Arith):
            return _Arith(node.op, self.number(node.left), self.number(node.right))
        if isinstance(node, Neg):
            return -self.value(node.value)  # exact in binary and in decimal alike
        if isinstance(node, IfElse):
            return sa.case((self.boolean(node.test), self.value(node.then)), else_=self.value(node.otherwise))
        return self.boolean(node)

    def number(self, node: Node) -> Any:
        if isinstance(node, Fact):
            return _ArithOperand(self.columns[node.name])
        return self.value(node)

    def compare(self, node: Compare) -> Any:
        left, right = node.left, node.right
        if left.type == "bool":  # booleans: equal or not, as truth values
            a, b = self.boolean(left), self.boolean(right)
            same = sa.or_(sa.and_(a, b), sa.and_(sa.not_(a), sa.not_(b)))
            return same if node.op == "==" else sa.not_(same)
        if left.type == "set" or right.type == "set":
            fact, other = (left, right) if isinstance(left, Fact) else (right, left)
            if not isinstance(fact, Fact) or not isinstance(other, Value):
                raise PlanError("comparing two set facts is not supported in SQL; compare a set fact with a literal")
            equal = SetEquals(self.columns[fact.name], frozenset(other.value))  # type: ignore[arg-type]
            return equal if node.op == "==" else sa.not_(equal)
        return _OPS[node.op](self.value(left), self.value(right))

    def contains(self, node: In) -> Any:
        member, container = node.member, node.container
        if isinstance(container, Value):  # a literal list
            values = sorted(container.value, key=str)  # type: ignore[arg-type]
            if member.type == "bool":
                truth = self.boolean(member)
                return sa.or_(*((truth if v else sa.not_(truth)) for v in values))
            literals = [self.value(Value(v, member.type if member.type != "enum" else "string")) for v in values]
            return self.value(member).in_(literals)
        if container.type == "set":
            if not isinstance(container, Fact):
                raise PlanError("only set facts can be searched")
            return SetContains(self.columns[container.name], self.value(member))
        return Substring(self.value(member), self.value(container))

    def reason_text(self, item: Reason) -> Any:
        if item is None:
            return sa.null()
        if isinstance(item, Problem):
            column = self.columns[item.fact.name]
            return sa.literal(f"could not be decided: {item.fact.name}: ", sa.Text()) + ProblemText(column, item.fact)
        return sa.literal(item, sa.Text())


_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


class _ArithOperand(ColumnElement[Any]):
    """A number fact inside arithmetic (cast to NUMERIC in PostgreSQL, so that integers never overflow)."""

    inherit_cache = False

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = sa.Numeric()

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


class _Arith(ColumnElement[Any]):
    """``+ - *`` computed exactly: NUMERIC in PostgreSQL; refused in SQLite, whose doubles are not rule-engine's
    decimals (``0.1 * 3 == 0.3`` is true for a policy, false for SQLite)."""

    inherit_cache = False

    def __init__(self, op: str, left: Any, right: Any) -> None:
        self.op, self.left, self.right = op, left, right
        self.type = sa.Numeric()

    @property
    def _from_objects(self) -> list[Any]:
        return [*self.left._from_objects, *self.right._from_objects]


def _compile_arith() -> None:
    from sqlalchemy.ext.compiler import compiles

    @compiles(_ArithOperand)
    def _operand(element: _ArithOperand, compiler: Any, **kw: Any) -> str:
        return f"CAST({compiler.process(element.column, **kw)} AS NUMERIC)"

    @compiles(_Arith)
    def _arith(element: _Arith, compiler: Any, **kw: Any) -> str:
        if compiler.dialect.name != "postgresql":
            raise PlanError(f"{compiler.dialect.name} cannot compute `{element.op}` exactly as a policy does "
                            "(in decimal); use PostgreSQL, or declare the computed value as a fact")
        return f"({compiler.process(element.left, **kw)} {element.op} {compiler.process(element.right, **kw)})"


_compile_arith()
del _compile_arith
