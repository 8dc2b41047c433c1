"""The ORM recipe of docs/host-apps.md, for real: SQLAlchemy 2.x models with ``Numeric`` and ``Enum`` columns on an
in-memory SQLite database, their instances passed to ``evaluate``, ``evaluate_many`` and ``bulk`` as they are; and
the page's own examples, run as the docs test runs them (python blocks executed, pycon blocks as doctests)."""

# No `from __future__ import annotations`: SQLAlchemy resolves the models' `Mapped[...]` annotations at class creation.
import doctest
import enum
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="SQLAlchemy is in the `sql` extra")

from conftest import POLICIES, ROOT  # noqa: E402
from sqlalchemy import Enum, ForeignKey, Numeric, String, create_engine, select  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship  # noqa: E402

import policyengine  # noqa: E402


class Status(enum.Enum):
    error = "Error"
    shipped = "Shipped"
    archived = "Archived"


class Role(str, enum.Enum):
    admin = "admin"
    member = "member"
    viewer = "viewer"


class Base(DeclarativeBase):
    pass


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    manual_fulfillment: Mapped[bool]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[Status] = mapped_column(Enum(Status))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    has_shipment: Mapped[bool]
    sent_to_warehouse: Mapped[bool]
    channel: Mapped[str]  # read by the acme store override
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    store: Mapped[Store] = relationship()


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(Enum(Role))


@pytest.fixture()
def session() -> Iterator[Session]:
    db = create_engine("sqlite://")
    Base.metadata.create_all(db)
    with Session(db) as session:
        session.add_all([Store(id="acme", manual_fulfillment=True), Store(id="other", manual_fulfillment=False)])
        for i, status in enumerate([Status.error, Status.shipped, Status.archived] * 4):
            session.add(Order(id=f"SO-{i}", status=status, total=Decimal(i) * Decimal("250.01"), channel="amazon",
                              has_shipment=status is Status.shipped, sent_to_warehouse=status is not Status.error,
                              store_id="acme" if i % 2 else "other"))
        session.add_all([User(id=n, role=role) for n, role in enumerate(Role)])
        session.commit()
        yield session


def as_dicts(order: Order) -> dict[str, object]:
    return {"id": order.id, "status": order.status.value, "total": order.total, "has_shipment": order.has_shipment,
            "sent_to_warehouse": order.sent_to_warehouse, "channel": order.channel,
            "store": {"id": order.store.id, "manual_fulfillment": order.store.manual_fulfillment}}


def test_orm_instances_decide_like_plain_dicts(session: Session) -> None:
    engine = policyengine.load(POLICIES)  # with the shipped store overrides: store.id read through the relationship
    orders = session.scalars(select(Order).order_by(Order.id)).all()
    users = session.scalars(select(User)).all()
    assert {type(o.total) for o in orders} == {Decimal} and {type(o.status) for o in orders} == {Status}
    for user in users:
        plain_user = {"role": user.role.value}
        pairs = [(o, user) for o in orders]
        expected = [engine.evaluate(as_dicts(o), plain_user, strict=True) for o in orders]
        assert [engine.evaluate(o, user, strict=True) for o in orders] == expected
        assert engine.evaluate_many(pairs, strict=True) == expected
        for action in engine.actions:
            assert engine.bulk(action, orders, user) == engine.bulk(action, [as_dicts(o) for o in orders], plain_user)


# -- the page itself --------------------------------------------------------------------------------------------------

PAGE = ROOT / "docs" / "host-apps.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\s*$", re.S | re.M)


def test_the_host_apps_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for part in ("policies", "examples", "docs/examples"):
        shutil.copytree(ROOT / part, tmp_path / part)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "host_apps_page"}
    parser, flags = doctest.DocTestParser(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    ran = 0
    for kind, body in _BLOCK.findall(PAGE.read_text()):
        if kind == "python":
            exec(compile(body, str(PAGE), "exec", dont_inherit=True), namespace)  # noqa: S102 - the page's own example
        elif kind == "pycon":
            test = parser.get_doctest(body, namespace, "host-apps", str(PAGE), 0)
            runner = doctest.DocTestRunner(optionflags=flags)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # a DocTest runs on a copy: later blocks see what this one defined
            assert runner.summarize(verbose=False).failed == 0, body
        elif kind == "console":
            run_console(body, tmp_path)
        else:
            continue
        ran += 1
    assert ran >= 6


def run_console(block: str, cwd: Path) -> None:
    """Each ``$ `` line run by bash in ``cwd`` (the venv's bin first on PATH); its output compared with the lines
    after it (trailing whitespace ignored; a non-zero exit shown as ``[exit N]``)."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            commands[-1][1].append(line.rstrip())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command, expected in commands:
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        got = [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
        if done.returncode:
            got.append(f"[exit {done.returncode}]")
        while expected and not expected[-1]:
            expected.pop()
        assert got == expected, command
