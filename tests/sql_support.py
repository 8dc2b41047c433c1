"""Databases for the query-plan tests: SQLite in memory, and the real PostgreSQL server.

PostgreSQL is reached at ``$POLICYENGINE_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); when it cannot be reached the tests FAIL with a message
saying how to point them at a server. Each test run works in its own schema (``pe_plan_<random>``), dropped at the
end, so parallel runs do not collide.

Tables hold one column per fact, typed as docs/plans.md says facts are stored; rows are inserted through a
type-less twin of the table, so bad values (NULLs, undeclared enum values, and in SQLite wrong types) reach the
database exactly as given. The reference is always ``engine.evaluate`` on the rows read back by
``policyengine.sql.fetch_orders``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import policyengine
from policyengine import sql as psql

POSTGRES_ENV = "POLICYENGINE_TEST_POSTGRES_URL"
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATES = ("enabled", "disabled", "hidden", "visible")


def postgres_url() -> str:
    return os.environ.get(POSTGRES_ENV, POSTGRES_DEFAULT)


class Database:
    """One SQLAlchemy engine (SQLite or PostgreSQL) and a private schema to create tables in."""

    def __init__(self, engine: sa.Engine, schema: str | None) -> None:
        self.engine = engine
        self.schema = schema
        self.counter = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def table(self, facts: Sequence[policyengine.FactSpec]) -> tuple[sa.Table, sa.Table, dict[str, Any]]:
        """A new table with an ``id`` column and one column per fact: (typed table, raw twin, fact -> column)."""
        self.counter += 1
        name = f"orders_{self.counter}"
        typed, raw = sa.MetaData(schema=self.schema), sa.MetaData(schema=self.schema)
        names = {f.name: f"c{i}_{f.name.replace('.', '_')}" for i, f in enumerate(facts)}
        table = sa.Table(name, typed, sa.Column("id", sa.Integer, primary_key=True),
                         *(sa.Column(names[f.name], self.column_type(f.type)) for f in facts))
        twin = sa.Table(name, raw, sa.Column("id", sa.Integer, primary_key=True),
                        *(sa.Column(names[f.name], sa.types.NullType()) for f in facts))
        with self.engine.begin() as conn:
            table.create(conn)
        return table, twin, {f.name: table.c[names[f.name]] for f in facts}

    def column_type(self, kind: str) -> Any:
        if kind == "bool":
            return sa.Boolean()
        if kind == "number":
            return sa.Numeric()
        if kind == "set":
            return postgresql.ARRAY(sa.Text()) if self.dialect == "postgresql" else sa.Text()
        return sa.Text()

    def insert(self, twin: sa.Table, columns: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows as fact name -> value (absent = NULL); ``id`` is the row's position."""
        names = {fact: column.name for fact, column in columns.items()}
        records = [{"id": i, **{names[f]: row.get(f) for f in names}} for i, row in enumerate(rows)]
        with self.engine.begin() as conn:
            if records:
                conn.execute(sa.insert(twin), records)


def sqlite_database() -> Database:
    engine = sa.create_engine("sqlite://")
    psql.install(engine)  # decimal arithmetic, regexes and set equality: Python's own code, as SQLite functions
    return Database(engine, None)


@pytest.fixture(scope="session")
def sqlite_db() -> Database:
    return sqlite_database()


def driver_url(url: str, driver: str) -> str:
    """``url`` with its driver replaced (``postgresql+psycopg://`` -> ``postgresql+psycopg2://``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+')[0]}+{driver}://{rest}"


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[Database]:
    yield from _postgres(postgres_url())


@pytest.fixture(scope="session")
def postgres2_db() -> Iterator[Database]:
    """The same server through psycopg2 (SQLAlchemy's default driver for ``postgresql://``)."""
    yield from _postgres(driver_url(postgres_url(), "psycopg2"))


@pytest.fixture(params=["psycopg", "psycopg2"])
def pg_db(request: pytest.FixtureRequest) -> Database:
    """Each test that takes ``pg_db`` runs on PostgreSQL through psycopg 3 and through psycopg2."""
    return request.getfixturevalue("postgres_db" if request.param == "psycopg" else "postgres2_db")  # type: ignore[no-any-return]


def _postgres(url: str) -> Iterator[Database]:
    engine = sa.create_engine(url)
    psql.install(engine)  # exact decimal rounding and division: session-local SQL functions
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported the same way
        pytest.fail(f"PostgreSQL is not reachable at {url} ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
                    f"These tests need a real server: start one on 127.0.0.1:5432 (trust auth, database 'test'), "
                    f"or point them at another with {POSTGRES_ENV}=postgresql+psycopg://USER@HOST:PORT/DB", pytrace=False)
    schema = f"pe_plan_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(engine, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "postgresql+psycopg2"])
def db(request: pytest.FixtureRequest) -> Database:
    """Each test that takes ``db`` runs on SQLite, and on PostgreSQL through psycopg 3 and through psycopg2 (whose
    placeholders differ: a value spliced into the SQL text would be read as one)."""
    name = {"sqlite": "sqlite_db", "postgresql": "postgres_db", "postgresql+psycopg2": "postgres2_db"}[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def state_of(decisions: policyengine.Decisions, action: str) -> str:
    """An action's state; an action the order's store does not have is not in its menu: hidden."""
    decision = decisions.get(action)
    return decision.state if decision is not None else "hidden"


def in_state(state: str, target: str) -> bool:
    return state != "hidden" if target == "visible" else state == target


def selected(conn: sa.Connection, table: sa.Table, condition: Any) -> set[int]:
    return {row[0] for row in conn.execute(sa.select(table.c.id).where(condition))}


def check_exact(db: Database, engine: policyengine.Engine, rows: Sequence[Mapping[str, Any]],
                users: Sequence[Any], *, stores: Sequence[str | None] = (None,), bulk: bool = True) -> int:
    """For every action, user, state and store: the rows ``where(plan)`` selects are those ``evaluate`` puts in
    that state; ``sql.bulk`` equals ``engine.bulk`` and ``sql.reason`` gives bulk's reason row by row.
    Returns how many (plan, row) verdicts were compared."""
    facts = _row_facts(engine)
    table, twin, columns = db.table(facts)
    db.insert(twin, columns, rows)
    actions = sorted({a.id for s in (None, *engine.stores) for a in engine.store_policy(s).actions})
    compared = 0
    with db.engine.connect() as conn:
        orders = psql.fetch_orders(conn, engine, table, columns, table.c.id)
        assert [o["id"] for o in orders] == list(range(len(rows)))
        for user in users:
            for store in stores:
                decisions = [engine.evaluate(order, user, store=store) for order in orders]
                for action in actions:
                    states = [state_of(d, action) for d in decisions]
                    for target in STATES:
                        plan = engine.plan(action, user, store=store, state=target)
                        want = {i for i, s in enumerate(states) if in_state(s, target)}
                        got = selected(conn, table, psql.where(plan, columns))
                        assert got == want, _explain(plan, orders, decisions, action, want ^ got)
                        if plan.kind != "conditional":
                            assert want == (set(range(len(rows))) if plan.kind == "always" else set())
                        compared += len(rows)
                    if bulk:
                        expected = engine.bulk(action, orders, user, store=store)
                        assert psql.bulk(conn, engine, action, user, table, columns, table.c.id, store=store) == expected
                        reasons = dict(conn.execute(sa.select(table.c.id, psql.reason(engine, action, user, columns,
                                                                                      store=store))).all())
                        for group in expected.skipped:
                            for i in group.indexes:
                                assert reasons[i] == group.reason, (orders[i], reasons[i], group.reason)
                        assert all(reasons[i] is None for i in expected.applicable)
    return compared


def _row_facts(engine: policyengine.Engine) -> list[policyengine.FactSpec]:
    specs: dict[str, policyengine.FactSpec] = {}
    for store in (None, *engine.stores):
        for fact in engine.store_policy(store).facts:
            if fact.source[:1] != ("user",):
                specs.setdefault(fact.name, fact)
    return list(specs.values())


def _explain(plan: Any, orders: Sequence[Any], decisions: Sequence[Any], action: str, diff: set[int]) -> str:
    lines = [f"plan {plan.action}/{plan.state} (store {plan.store}) differs from evaluate on {len(diff)} rows"]
    for i in sorted(diff)[:3]:
        decision = decisions[i].get(action)
        lines.append(f"  row {i}: {orders[i]} -> {decision.state if decision else 'absent'} "
                     f"{decision.reasons if decision else ''}")
    return "\n".join(lines)


def load_generated(files: Mapping[str, str], tmp_dir: Path, prefix: str) -> policyengine.Engine | None:
    """A randomly generated policy directory loaded, or None when the language refuses it: a random condition it
    rejects (a type clash, an undeclared value), or a plan past the plan budget (issue 21). Those are not plan
    questions; any other refusal fails the test."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_dir))  # unique: examples may not build a table
    for name, text in files.items():
        (directory / name).parent.mkdir(exist_ok=True)
        (directory / name).write_text(text)
    try:
        return policyengine.load(directory)
    except policyengine.PolicyError as err:
        assert all(any(word in d.message for word in ("cannot", "never", "compare", "over the plan budget"))
                   for d in err.diagnostics), err
        return None
