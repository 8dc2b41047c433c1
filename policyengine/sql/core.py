"""The core of :mod:`policyengine.sql`: plans to SQLAlchemy Core (where, reason, bulk), the SQL functions, reading
rows as ``evaluate`` reads them. Its own module so that counts, impact and replay build on it without importing the
package that exports them."""


from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..ir.numbers import to_decimal
from ..runtime.bulk import BulkResult, summarise
from ..runtime.plan import (
    And,
    Arith,
    Compare,
    Fact,
    Fail,
    Failure,
    Guard,
    IfElse,
    In,
    IsTrue,
    Known,
    Length,
    Match,
    Neg,
    Node,
    Not,
    Or,
    Plan,
    PlanError,
    Problem,
    Reason,
    ReasonPlan,
    Succeeds,
    Valid,
    Value,
    build_reasons,
    problem_text,
)
from ._dialects import (
    ColumnTypeError,
    Computed,
    DecimalOperand,
    ExactText,
    InList,
    Isolated,
    MatchFailure,
    Negated,
    NumberFact,
    NumberLiteral,
    NumCompare,
    OwnFailure,
    ProblemText,
    RegexMatch,
    SetContains,
    SetEquals,
    SetLength,
    SetLiteral,
    SetsEqual,
    Shared,
    StoreFailsClosedWarning,
    StrLength,
    Substring,
    TextLiteral,
    TruthOf,
    ValidFact,
    exact_number_text,
    pg_function_sql,
)
from ._functions import register as register_functions
from .enum_names import warn_member_names
from .values import engine_value

__all__ = ["ColumnTypeError", "Columns", "StoreFailsClosedWarning", "bulk", "engine_value", "fetch_orders", "install",
           "reason", "where"]

Columns = Mapping[str, Any]


def install(bind: Any) -> None:
    """Install policyengine's SQL functions: on SQLite, decimal arithmetic, Python's regular expressions and set
    equality, computed by the very code ``evaluate`` runs (deterministic functions); on PostgreSQL, decimal rounding
    and division as session-local SQL functions (``pg_temp``: nothing is left in the database). ``bind`` is a
    SQLAlchemy ``Engine`` (every connection it opens from now on: the pool is emptied so none is missed) or a
    ``Connection`` (that one). :func:`bulk` installs them on its connection itself; on PostgreSQL, call this before
    executing a :func:`where` or :func:`reason` that computes (arithmetic). SQLite connections that SQLAlchemy opens
    after ``policyengine.sql`` is imported get their functions without it."""
    if isinstance(bind, sa.Engine):
        if bind.dialect.name in ("sqlite", "postgresql") and not sa.event.contains(bind, "connect", _on_connect):
            sa.event.listen(bind, "connect", _on_connect)
            bind.dispose()  # pooled connections opened before: reopened with the functions
        return
    if bind.dialect.name == "sqlite":
        register_functions(bind.connection.driver_connection)
    elif bind.dialect.name == "postgresql":
        exists = bind.execute(sa.text("SELECT to_regprocedure('pg_temp.pe_round28(numeric)') IS NOT NULL")).scalar()
        if not exists:  # (a rolled-back transaction may have taken them away)
            for statement in pg_function_sql():
                bind.exec_driver_sql(statement)


def _sqlite_functions(dbapi_connection: Any, record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        register_functions(dbapi_connection)


# Every SQLite connection SQLAlchemy opens from now on gets the functions (cheap, in-process, nothing stored in the
# database), so a plain ``create_engine("sqlite://")`` runs every plan; PostgreSQL's need install().
sa.event.listen(sa.engine.Engine, "connect", _sqlite_functions)


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        register_functions(dbapi_connection)
        return
    with dbapi_connection.cursor() as cursor:
        for statement in pg_function_sql():
            cursor.execute(statement)
    dbapi_connection.commit()


def where(plan: Plan, columns: Columns) -> ColumnElement[bool]:
    """A boolean SQL expression selecting exactly the rows ``plan`` covers (``true()``/``false()`` for the
    ``always``/``never`` plans). Raises ``KeyError`` naming the facts ``columns`` lacks, and :class:`PlanError`
    when the database cannot decide a condition exactly (see docs/plans.md: ``**`` and some regular expression
    constructs in PostgreSQL). On SQLite, arithmetic, regular expressions and set equality use the functions
    :func:`install` registers."""
    columns = _with_defaults((plan.condition,), columns)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    if plan.store is None and len(plan.policies) > 1:  # every store, each by its own policy: isolate each
        absent = sa.true() if plan.state == "hidden" else sa.false()  # a refused store's orders: hidden
        stores = frozenset(p.split(": ", 1)[0] for p in plan.policies) - {"*"}
        condition: ColumnElement[bool] = _dispatched(translator, plan.condition, stores, absent)
    else:
        condition = translator.boolean(plan.condition)
    return condition


def _dispatched(translator: _Translator, node: Node, stores: frozenset[str], absent: Any) -> Any:
    """``node``, an every-store plan's condition, with each store override's part :class:`Isolated`: the parts are
    the conjunctions ``store.id in [<override stores>] and <part>`` that the plan's dispatch joins by ``or`` (reached
    from the top through ``and``/``or`` alone, so replacing a part only changes its own stores' rows)."""
    if isinstance(node, Or):
        return sa.or_(*(_dispatched(translator, a, stores, absent) for a in node.args))
    if not isinstance(node, And):
        return translator.boolean(node)
    tests = [a for a in node.args if isinstance(a, In) and _store_test(a, stores)]
    if tests:  # one store's (or several alike stores') part
        test = tests[0]
        part = sa.and_(*(translator.boolean(a) for a in node.args if a is not test))
        names = tuple(sorted(test.container.value))  # type: ignore[union-attr,arg-type]
        return sa.and_(translator.boolean(test), Isolated(part, absent, names))
    if any(isinstance(a, Not) and _store_test(a.arg, stores) for a in node.args):
        return translator.boolean(node)  # the base's part (every other store): refused for all, as bulk does
    return sa.and_(*(_dispatched(translator, a, stores, absent) for a in node.args))


def _store_test(node: Node, stores: frozenset[str]) -> bool:
    """Whether ``node`` is the dispatch's ``store.id in [...]`` test of override stores."""
    return (isinstance(node, In) and isinstance(node.member, Fact) and node.member.name == "store.id"
            and isinstance(node.container, Value) and node.container.type == "list"
            and bool(node.container.value) and set(node.container.value) <= stores)  # type: ignore[arg-type]


def reason(engine: Any, action: str, user: Any, columns: Columns, *, store: str | None = None,
           dialect: Any = None) -> ColumnElement[str]:
    """A SQL expression giving, per row, the reason ``action`` is not offered (the text ``engine.bulk`` groups the
    row by), or NULL when it applies. Texts naming a bad value render it as Python's ``repr`` would, for NULLs,
    strings and integers (other wrong types stored in SQLite are shown as SQLite prints them; :func:`bulk` is
    exact for every value). Given the ``dialect`` it will run on (a SQLAlchemy dialect or an engine or connection
    having one), a store whose override that database cannot run (see docs/plans.md) fails closed alone: its rows
    get ``could not be decided: store <id>: <why>``, every other store's rows are unchanged."""
    plan = build_reasons(engine, action, user, store=store)
    columns = _with_defaults(plan.branches, columns)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    branches = _isolated(plan, translator, getattr(dialect, "dialect", dialect))
    whens = [(translator.boolean(node), translator.reason_text(item)) for node, item in branches
             if node != Value(False, "bool")]
    text: Any = sa.case(*whens, else_=sa.null()) if whens else sa.null()
    return text  # type: ignore[no-any-return]


def bulk(connection: Connection, engine: Any, action: str, user: Any, selectable: Any, columns: Columns,
         id_column: Any, *, store: str | None = None) -> BulkResult:
    """``engine.bulk(action, orders, user)`` over the rows of ``selectable`` (a table, join or subquery, or a
    ``Select`` whose FROM and WHERE pick the orders), computed
    by the database: one query groups the rows by reason (and, for a bad fact, by its value, so that the text
    names it), counting them and aggregating their indexes and ids; Python only names the groups. Row ``i`` is the
    ``i``-th in ``id_column`` order, as :func:`fetch_orders` returns them; ids are the id column as text (as the
    default adapter's ``order_id`` gives them)."""
    install(connection)
    warn_member_names(connection, engine, selectable, columns)  # Enum(Status) storing names: every row fails closed
    plan = build_reasons(engine, action, user, store=store)
    columns = _with_defaults(plan.branches, columns)
    _require(plan.facts, columns)
    translator = _Translator(columns)
    keys, code, failed = reason_codes(plan, translator, connection.dialect)
    problems = {item: code_ for item, code_ in keys.items() if isinstance(item, Problem)}
    raw_facts = sorted({p.fact.name for p in problems})
    raw = {name: sa.type_coerce(columns[name], sa.types.NullType()) for name in raw_facts}
    inner = _rows_of(selectable, code.label("pe_code"),
                     (sa.func.row_number().over(order_by=id_column) - 1).label("pe_index"),
                     sa.cast(id_column, sa.Text()).label("pe_id"),  # as the default adapter's order_id: str
                     *(col.label(f"pe_raw_{i}") for i, col in enumerate(raw.values())),
                     *([failed.label("pe_failed")] if failed is not None else [])).subquery()
    shown = shown_values(inner, raw_facts, problems, failed is not None)
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # unordered aggregates let PostgreSQL hash the groups in one pass; order is restored below
        collected: list[Any] = [sa.func.array_agg(inner.c.pe_index), sa.func.array_agg(inner.c.pe_id)]
    else:
        collected = [sa.func.json_group_array(sa.func.json_array(inner.c.pe_index, inner.c.pe_id))]
    query = sa.select(inner.c.pe_code, *shown, *collected).group_by(inner.c.pe_code, *shown)
    names = {code_: item for item, code_ in keys.items()}
    specs = engine.declared_facts()
    groups: dict[str | None, list[int]] = {}
    ids: dict[int, Any] = {}
    for row in connection.execute(query):
        item = names[row[0]]
        if isinstance(item, Problem):
            name = item.fact.name
            item = problem_text(item, engine_value(specs.get(name), row[1 + raw_facts.index(name)]))
        elif isinstance(item, Failure):
            item = item.prefix + row[1 + len(raw_facts)]
        pairs = zip(row[-2], row[-1], strict=True) if postgres else map(tuple, json.loads(row[-1]))
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
    specs = engine.declared_facts()
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


def reason_codes(plan: ReasonPlan, translator: _Translator, dialect: Any) -> tuple[dict[Reason, int], Any, Any]:
    """The reason of each row as a small integer (0: the action applies), for grouping: ``(keys, code, failed)``,
    where ``keys`` maps each reason to its code, ``code`` is the SQL giving a row's code and ``failed`` the SQL
    giving the text of a failed computation's exception (None when no reason quotes one). Each store's block is
    isolated first (:func:`_isolated`): :func:`bulk` and ``bulk_counts`` group by the same codes."""
    keys: dict[Reason, int] = {None: 0}
    whens = []
    failures = []
    for node, item in _isolated(plan, translator, dialect):
        if node != Value(False, "bool"):
            condition = translator.boolean(node)
            whens.append((condition, keys.setdefault(item, len(keys))))
            failures.append((condition, translator.failure_text(item.check) if isinstance(item, Failure) else None))
    code = sa.case(*whens, else_=0) if whens else sa.literal(0)
    # a failed computation's reason quotes its exception: the rows are grouped by that text too
    failed = sa.case(*((c, t if t is not None else sa.null()) for c, t in failures), else_=sa.null()) \
        if any(t is not None for _, t in failures) else None
    return keys, code, failed


def shown_values(inner: Any, raw_facts: list[str], problems: Mapping[Problem, int], failed: bool) -> list[Any]:
    """What a group's reason text names besides its code: each bad fact's raw value (``pe_raw_<i>`` of ``inner``),
    only where that fact is the row's reason, and a failed computation's exception text (``pe_failed``)."""
    shown = []
    for i, name in enumerate(raw_facts):
        codes = [c for p, c in problems.items() if p.fact.name == name]
        shown.append(sa.case((inner.c.pe_code.in_(codes), inner.c[f"pe_raw_{i}"]), else_=sa.null()).label(f"pe_v{i}"))
    if failed:
        shown.append(inner.c.pe_failed)
    return shown

def _isolated(plan: ReasonPlan, translator: _Translator, dialect: Any) -> list[tuple[Node, Reason]]:
    """``plan``'s branches, each store override's block that ``dialect`` cannot compile (a construct the database
    cannot decide exactly) replaced by one fail-closed reason naming the store: one tenant's policy never makes the
    every-store query fail for the others."""
    branches = list(plan.branches)
    if dialect is None or not plan.blocks:
        return branches
    out = branches[:plan.blocks[0][0]]
    for start, end, store in plan.blocks:
        items = branches[start:end]
        if store is not None:
            try:
                for node, item in items:
                    text = translator.failure_text(item.check) if isinstance(item, Failure) else None
                    sa.select(translator.boolean(node), translator.reason_text(item),
                              *([text] if text is not None else [])).compile(dialect=dialect)
            except ColumnTypeError:
                raise  # the host's column mapping: every store's, not this one's
            except (PlanError, sa.exc.CompileError) as exc:
                items = [(items[-1][0], f"could not be decided: store {store}: {exc}")]  # the block's own guard
        out.extend(items)
    return out


def _rows_of(selectable: Any, *columns: Any) -> Any:
    """A SELECT of ``columns`` over the selection: a FROM clause (table, join, subquery), or a ``Select`` whose FROM
    and WHERE pick the orders ("all Error orders of this store")."""
    if isinstance(selectable, sa.Select):
        return selectable.with_only_columns(*columns, maintain_column_froms=True)
    return sa.select(*columns).select_from(selectable)


def _fact_nodes(roots: Sequence[Any]) -> dict[str, Fact]:
    """Every :class:`Fact` node under ``roots`` (plan nodes and reason items), by name: each shared node visited once
    (a plan is a DAG; walking it as a tree takes time exponential in its depth)."""
    found: dict[str, Fact] = {}
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))  # (every node stays referenced from roots meanwhile: ids are not reused)
        if isinstance(node, Fact):
            found.setdefault(node.name, node)
        elif isinstance(node, (tuple, list)):
            todo.extend(node)
        elif attrs.has(type(node)):
            todo.extend(getattr(node, f.name) for f in attrs.fields(type(node)))
    return found


def _with_defaults(roots: Sequence[Any], columns: Columns) -> Columns:
    """``columns`` completed with a literal of its declared ``default:`` for each fact the plan reads that
    ``columns`` leaves out: a fact the host's table does not have reads as its default, as ``evaluate`` reads a
    fact the host does not send. A fact that has a column is read from it (a NULL there is NULL, never the
    default), and a fact with neither is still a ``KeyError``."""
    extra = {name: _default_literal(fact) for name, fact in _fact_nodes(roots).items()
             if name not in columns and fact.default is not None}
    return {**columns, **extra} if extra else columns


def _default_literal(fact: Fact) -> Any:
    if fact.type == "set":
        return SetLiteral(fact.default)
    if fact.type == "bool":
        return sa.literal(fact.default, sa.Boolean())
    if fact.type == "number":  # exactly the number evaluate reads (a bound float would pass through 15 digits)
        return NumberLiteral(to_decimal(fact.default))
    return TextLiteral(fact.default)


def _require(facts: Sequence[str], columns: Columns) -> None:
    missing = [f for f in facts if f not in columns]
    if missing:
        raise KeyError(f"no column given for fact{'s' if len(missing) > 1 else ''} {', '.join(missing)}")


def _sendable(text: str, what: str) -> str:
    """``text``, refused by name when it holds a lone surrogate: no database text holds one, and the drivers cannot
    encode it to send it (a query-time ``UnicodeEncodeError`` otherwise; in an every-store query, that store alone
    fails closed)."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            raise PlanError(f"{what} {text!r} holds a lone surrogate (U+{ord(char):04X}), which no database text can "
                            "hold and no driver can send: spell the policy without it")
    return text


class _Translator:
    """Plan nodes -> SQLAlchemy expressions over ``columns`` (dialect-specific parts are in ``_dialects``)."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self._memo: dict[tuple[str, Any], tuple[Node, Any]] = {}

    def _cached(self, kind: str, node: Node, build: Any) -> Any:
        """Each plan node translated once per use kind: a plan is a DAG, and rebuilding shared sub-expressions per
        path would take time exponential in its depth (the node is kept, so its id is not reused meanwhile)."""
        key = (kind, node if isinstance(node, (Valid, Fact, Value)) else id(node))
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = (node, build(node))
        elif isinstance(hit[1], _NATIVE):  # used again: SQLAlchemy's own element compiled once per statement from
            hit = self._memo[key] = (node, Shared(hit[1]))  # now on, not per use (a lone use keeps its plain SQL)
        return hit[1]

    def boolean(self, node: Node) -> Any:
        return self._cached("b", node, self._boolean)

    def _boolean(self, node: Node) -> Any:
        if isinstance(node, Known):
            return self.boolean(node.arg).isnot(None)
        if isinstance(node, IsTrue):
            return sa.func.coalesce(self.boolean(node.arg), sa.false())
        if isinstance(node, Guard):
            if node.known is Value(False, "bool") or node.known == Value(False, "bool"):
                return sa.null()
            return sa.case((self.boolean(node.known), self.boolean(node.value)), else_=sa.null())
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
            return _choose(self.boolean(node.test), self.boolean(node.then), self.boolean(node.otherwise))
        if isinstance(node, Match):
            return RegexMatch(self.value(node.value), _sendable(node.pattern, "the regular expression"), node.search)
        if isinstance(node, Succeeds):
            failed = self.failure_text(node)
            return sa.true() if failed is None else failed.is_(None)
        if isinstance(node, Fail):
            return sa.null()  # unknown: the plan reads it only where it is never reached
        raise PlanError(f"not a condition: {node!r}")

    def failure_text(self, node: Succeeds) -> Any:
        """The ``repr`` of the first exception computing ``node.values`` raises (NULL where none does), or None
        when nothing in them can fail."""
        return _coalesce([self.failure(v) for v in node.values])

    def failure(self, node: Node) -> Any:
        """Why computing ``node`` fails, in Python's operand order (None: it cannot)."""
        return self._cached("f", node, self._failure)

    def _failure(self, node: Node) -> Any:
        if isinstance(node, Fail):
            return sa.literal(node.error, sa.Text())
        if isinstance(node, Arith):
            own = OwnFailure(node.op, self.number(node.left), self.number(node.right))
            return _coalesce([self.failure(node.left), self.failure(node.right), own])
        if isinstance(node, Match):
            return _coalesce([self.failure(node.value), MatchFailure(self.value(node.value))])
        if isinstance(node, IfElse):
            branches = _coalesce([self.failure(node.then)]), _coalesce([self.failure(node.otherwise)])
            chosen = None if branches == (None, None) else _choose(
                self.boolean(node.test), branches[0] if branches[0] is not None else sa.null(),
                branches[1] if branches[1] is not None else sa.null())
            return _coalesce([self.failure(node.test), chosen])
        if isinstance(node, (Value, Fact, Valid, Succeeds)):
            return None
        children = node.args if isinstance(node, (And, Or)) else [
            getattr(node, f.name) for f in attrs.fields(type(node)) if f.name not in ("op", "pattern", "search")]
        return _coalesce([self.failure(child) for child in children])

    def value(self, node: Node) -> Any:
        return self._cached("v", node, self._value)

    def _value(self, node: Node) -> Any:
        if isinstance(node, Value):
            if node.type == "number":
                return NumberLiteral(node.value)  # type: ignore[arg-type]
            if node.type == "bool":
                return sa.true() if node.value else sa.false()
            return TextLiteral(_sendable(node.value, "the string literal"))  # type: ignore[arg-type]
        if isinstance(node, Fact):
            column = self.columns[node.name]
            if node.type in ("enum", "string"):
                return ExactText(column)
            if node.type == "number":
                return NumberFact(column)
            return column
        if isinstance(node, Length):
            inner = node.value
            if isinstance(inner, Fact) and inner.type == "set":
                return SetLength(self.columns[inner.name])
            return StrLength(self.value(inner))
        if isinstance(node, Arith):
            return Computed(node.op, self.number(node.left), self.number(node.right))
        if isinstance(node, Neg):
            return Negated(self.number(node.value))
        if isinstance(node, Fail):
            return sa.null()
        if isinstance(node, IfElse):
            return _choose(self.boolean(node.test), self.value(node.then), self.value(node.otherwise))
        return self.boolean(node)

    def number(self, node: Node) -> Any:
        """A number inside a computation: literals exact as text (no double in between)."""
        if isinstance(node, Value):
            return DecimalOperand(node.value)  # type: ignore[arg-type]
        if isinstance(node, IfElse):
            return _choose(self.boolean(node.test), self.number(node.then), self.number(node.otherwise))
        return self.value(node)

    def compare(self, node: Compare) -> Any:
        left, right = node.left, node.right
        if left.type == "bool":  # booleans: equal or not, as truth values
            a, b = self.boolean(left), self.boolean(right)
            same = sa.or_(sa.and_(a, b), sa.and_(sa.not_(a), sa.not_(b)))
            return same if node.op == "==" else sa.not_(same)
        if left.type == "set" and right.type == "set" and isinstance(left, Fact) and isinstance(right, Fact):
            equal: Any = SetsEqual(self.columns[left.name], self.columns[right.name])
            return equal if node.op == "==" else sa.not_(equal)
        if left.type == "number" and (_computed(left) or _computed(right)):
            return NumCompare(node.op, self.number(left), self.number(right))
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
            if member.type == "number" and (_computed(member) or any(_computed(Value(v, "number")) for v in values)):
                number = self.number(member)
                return sa.or_(*(NumCompare("==", number, DecimalOperand(v)) for v in values))
            if member.type in ("string", "enum"):
                return InList(self.value(member), tuple(_sendable(v, "the list literal") for v in values))
            literals = [self.value(Value(v, member.type)) for v in values]
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
        if isinstance(item, Failure):
            return sa.literal(item.prefix, sa.Text()) + self.failure_text(item.check)
        return sa.literal(item, sa.Text())


_NATIVE = (sa.sql.elements.BooleanClauseList, sa.sql.elements.Case, sa.sql.elements.UnaryExpression,
           sa.sql.elements.BinaryExpression, sa.sql.functions.Function)
"""SQLAlchemy's own elements, which it compiles again at every use (policyengine's constructs are memoised)."""

_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _computed(node: Node) -> bool:
    """Whether a number is computed (arithmetic), or a literal no double holds, so compared through the exact
    functions (SQLite) or NUMERIC (PostgreSQL)."""
    if isinstance(node, Value):
        return exact_number_text(node.value) is None  # type: ignore[arg-type]
    if isinstance(node, IfElse):
        return _computed(node.then) or _computed(node.otherwise)
    return isinstance(node, (Arith, Neg, Fail))


def _choose(test: Any, then: Any, otherwise: Any) -> Any:
    """``test ? then : otherwise`` with ``test`` written once (a copy per branch would double per nesting level),
    unknown where ``test`` is (SQL's simple CASE: NULL matches no WHEN)."""
    if isinstance(test, sa.sql.elements.Null):  # (PostgreSQL would read an untyped NULL operand as text)
        return sa.null()
    if isinstance(test.type, sa.types.NullType):  # a CASE of NULLs only: PostgreSQL types it text, not boolean
        test = sa.cast(test, sa.Boolean())
    return sa.case((sa.true(), then), (sa.false(), otherwise), value=test, else_=sa.null())


def _coalesce(items: list[Any]) -> Any:
    present = [i for i in items if i is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else sa.func.coalesce(*present)
