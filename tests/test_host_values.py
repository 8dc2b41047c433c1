"""Host apps' values and fact defaults (issue 14, "Host apps").

* Number facts take ``int``, finite ``float`` and finite ``Decimal`` (an ORM's ``Numeric``/``DecimalField``); enum,
  string and set facts take ``enum.Enum`` members by their value. A Decimal decides exactly like the equal int or
  float, on every path: ``evaluate`` (generated), the interpreter, the batch loop (C, or Python), ``bulk``. Bools
  stay strict.
* ``default:`` on facts: validated at load, used when the host does not send the fact (a missing key or attribute;
  ``None`` or a wrong value still fails closed), by the YAML suites too; analysis still treats the fact as free.
* The SQLAlchemy recipe of docs/host-apps.md, for real, on an in-memory SQLite database.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from conftest import POLICIES, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.analysis.matrix import build_matrix
from policyengine.runtime import codegen
from policyengine.runtime.interpret import Interpreter

INVOICES = textwrap.dedent("""\
    apiVersion: policyengine/v1
    kind: ActionPolicy
    name: invoices
    version: 1
    facts:
      order.total:
        type: number
      order.status:
        type: enum
        values: [Open, Closed]
      order.tags:
        type: set
      order.note:
        type: string
      order.rush:
        type: bool
        default: false
      user.role:
        type: enum
        values: [admin, member]
    actions:
      edit:
        label: Edit
        allow: order.status == 'Open' and (order.total <= 1000 or user.role == 'admin')
        deny:
          - id: too-big
            when: order.total * 2 > 4000.02
            reason: Too big to edit.
      ship:
        label: Ship
        allow: not order.rush and 'hold' not in order.tags and order.note != 'stop'
      refund:
        label: Refund
        allow: order.total > 0.1 and order.total != 1000.01
    """)


class Role(enum.Enum):
    admin = "admin"
    member = "member"


class StrRole(str, enum.Enum):
    admin = "admin"
    member = "member"


class Status(enum.Enum):
    open = "Open"
    closed = "Closed"


class Tag(enum.Enum):
    hold = "hold"
    gift = "gift"


class Level(enum.Enum):
    one = 1


class Truthy(enum.Enum):
    yes = True


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> policyengine.Engine:
    path = tmp_path_factory.mktemp("invoices") / "invoices.yaml"
    path.write_text(INVOICES)
    return policyengine.load(path)


def order(total: Any = 10, **fields: Any) -> dict[str, Any]:
    return {"total": total, "status": "Open", "tags": [], "note": "", **fields}


def states(decisions: policyengine.Decisions) -> dict[str, str]:
    return {name: decisions[name].state for name in decisions}


# -- Decimal and Enum values ----------------------------------------------------------------------------------------


def test_a_decimal_total_decides_like_the_number_it_is(invoices: policyengine.Engine) -> None:
    member = {"role": "member"}
    assert states(invoices.evaluate(order(Decimal("1000.01")), member))["edit"] == "disabled"  # 1000.01 > 1000
    assert states(invoices.evaluate(order(Decimal("1000.00")), member))["edit"] == "enabled"
    assert states(invoices.evaluate(order(Decimal("1000.01")), member))["refund"] == "disabled"  # == 1000.01
    assert states(invoices.evaluate(order(Decimal("2000.01")), {"role": "admin"}))["edit"] == "enabled"
    assert states(invoices.evaluate(order(Decimal("2000.0100001")), {"role": "admin"}))["edit"] == "disabled"
    for value in ("0.1", "0.10", "1E+3", "-0", "123456789012345678901234567890", "1000.005"):
        plain: Any = int(Decimal(value)) if Decimal(value) == Decimal(value).to_integral_value() else float(value)
        assert invoices.evaluate(order(Decimal(value)), member) == invoices.evaluate(order(plain), member), value
    assert not invoices.evaluate(order(Decimal("0.1")), member, strict=True).errors


@pytest.mark.parametrize(("value", "message"), [
    (Decimal("NaN"), "Decimal('NaN') is not a finite number"),
    (Decimal("sNaN"), "Decimal('sNaN') is not a finite number"),
    (Decimal("-Infinity"), "Decimal('-Infinity') is not a finite number"),
    (Decimal("0.10000000000000000001"), "Decimal('0.10000000000000000001') has more significant digits than a "
                                        "float keeps (round it first, e.g. to the column's scale)"),
    (Decimal("1E+5000"), "Decimal('1E+5000') is out of range (larger than 1e4300)"),
    (True, "expected a number, got bool True"),
    (Truthy.yes, "expected a number, got Truthy <Truthy.yes: True>"),
    ("10", "expected a number, got str '10'"),
    (Role.admin, "expected a number, got str 'admin'"),
])
def test_bad_numbers_fail_closed_on_every_path(invoices: policyengine.Engine, value: Any, message: str) -> None:
    problem = policyengine.FactProblem("order.total", message)
    decisions = invoices.evaluate(order(value), {"role": "admin"})
    assert problem in decisions.errors
    assert states(decisions)["edit"] != "enabled"
    with pytest.raises(policyengine.FactError):
        invoices.evaluate(order(value), {"role": "admin"}, strict=True)
    interpreted, _ = Interpreter(invoices.policy).evaluate(
        {"order.total": value, "order.status": "Open", "order.tags": [], "order.note": "", "user.role": "admin"})
    assert problem in interpreted.errors
    assert invoices.evaluate_many([(order(value), {"role": "admin"})]) == [decisions]


def test_enum_members_count_as_their_value(invoices: policyengine.Engine) -> None:
    plain = invoices.evaluate(order(5, status="Open", tags=["gift"]), {"role": "admin"})
    for status, tags, role in [(Status.open, [Tag.gift], Role.admin), ("Open", (Tag.gift,), StrRole.admin),
                               (Status.open, {"gift"}, Role.admin)]:
        got = invoices.evaluate(order(5, status=status, tags=tags), {"role": role})
        assert got == plain and not got.errors
    assert states(invoices.evaluate(order(5, tags=[Tag.hold]), {"role": "admin"}))["ship"] == "disabled"
    assert states(invoices.evaluate(order(5, note=Status.closed), {"role": "admin"}))["ship"] == "enabled"
    assert invoices.evaluate(order(Level.one), {"role": "member"}) == invoices.evaluate(order(1), {"role": "member"})


@pytest.mark.parametrize(("fields", "user", "problem"), [
    ({"rush": Truthy.yes}, {"role": "admin"}, ("order.rush", "expected true/false, got Truthy <Truthy.yes: True>")),
    ({"rush": 1}, {"role": "admin"}, ("order.rush", "expected true/false, got int 1")),
    ({"status": Level.one}, {"role": "admin"}, ("order.status", "expected a string, got int 1")),
    ({"total": 5000}, {"role": Level.one}, ("user.role", "expected a string, got int 1")),
    ({"tags": [Level.one]}, {"role": "admin"}, ("order.tags", "expected a list of strings, got a member Level "
                                                              "<Level.one: 1>")),
])
def test_enum_members_of_the_wrong_kind_fail_closed(invoices: policyengine.Engine, fields: dict[str, Any],
                                                    user: dict[str, Any], problem: tuple[str, str]) -> None:
    decisions = invoices.evaluate({**order(5), **fields}, user)
    assert policyengine.FactProblem(*problem) in decisions.errors


def _plain(value: Any) -> Any:
    """The int or float a Decimal equals exactly (for the comparison below)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


numbers = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([1000, 1000.01, 2000.01, 2000.02, 0.1, 0, -0.0, 1e16, 2**53 + 1]))


@settings(max_examples=150, deadline=None)
@given(number=numbers, status=st.sampled_from(list(Status)), role=st.sampled_from(list(Role)),
       tags=st.lists(st.sampled_from(list(Tag)), max_size=2), rush=st.sampled_from([True, False, None]))
def test_decimal_and_enum_inputs_decide_like_plain_values_on_every_path(
        invoices: policyengine.Engine, number: Any, status: Status, role: Role, tags: list[Tag], rush: Any) -> None:
    exact = Decimal(number) if type(number) is int else Decimal(float.__repr__(float(number)))
    rich_order = order(exact, status=status, tags=tags)
    plain_order = order(number, status=status.value, tags=[t.value for t in tags])
    if rush is not None:
        rich_order["rush"] = plain_order["rush"] = rush
    rich_user, plain_user = {"role": role}, {"role": role.value}
    expected = invoices.evaluate(plain_order, plain_user)
    assert not expected.errors
    assert invoices.evaluate(rich_order, rich_user) == expected
    assert invoices.evaluate_many([(rich_order, rich_user), (plain_order, plain_user)]) == [expected, expected]
    flat = {"order.total": exact, "order.status": status, "order.tags": tags, "order.note": "", "user.role": role}
    if rush is not None:
        flat["order.rush"] = rush
    interpreted, _ = Interpreter(invoices.policy).evaluate(flat)
    assert [(interpreted[a].state, interpreted[a].reasons) for a in expected] == \
        [(expected[a].state, expected[a].reasons) for a in expected]
    for action in ("edit", "refund"):
        assert invoices.bulk(action, [rich_order], rich_user) == invoices.bulk(action, [plain_order], plain_user)


@settings(max_examples=150, deadline=None)
@given(value=st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_any_finite_decimal_decides_exactly_or_fails_closed(invoices: policyengine.Engine, value: Decimal) -> None:
    got = invoices.evaluate(order(value), {"role": "member"})
    if got.errors:  # refused, never rounded: no exact int or float equals it
        (problem,) = got.errors
        assert problem.fact == "order.total"
        assert not (value == value.to_integral_value() and abs(value.adjusted()) <= 4300)
        assert Decimal(float.__repr__(float(value))) != value
    else:
        assert got == invoices.evaluate(order(_plain(value)), {"role": "member"})


@pytest.fixture(scope="module")
def shipped() -> tuple[policyengine.Engine, policyengine.Engine]:
    """The shipped base policy, batched in C (when built) and in Python."""
    in_c = policyengine.load(POLICIES / "order-actions.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_batch", None)
        in_python = policyengine.load(POLICIES / "order-actions.yaml")
    return in_c, in_python


class OrderStatus(enum.Enum):
    error = "Error"
    shipped = "Shipped"
    weird = "Weird"


class UserRole(enum.Enum):
    admin = "admin"
    viewer = "viewer"


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(list(OrderStatus)), st.sampled_from(list(UserRole)), st.booleans(),
                               st.booleans()), max_size=12))
def test_the_batch_loop_takes_enum_members_like_strings(
        shipped: tuple[policyengine.Engine, policyengine.Engine], rows: list[Any]) -> None:
    def pair(status: Any, role: Any, shipment: bool, manual: bool) -> Any:
        return ({"id": "o", "status": status, "has_shipment": shipment, "sent_to_warehouse": True,
                 "store": {"id": "x", "manual_fulfillment": manual}}, {"role": role})

    rich = [pair(*row) for row in rows]
    plain = [pair(s.value, r.value, shipment, manual) for s, r, shipment, manual in rows]
    expected = [shipped[1].evaluate(o, u) for o, u in plain]
    for engine in shipped:
        assert engine.evaluate_many(rich) == expected
        assert [engine.evaluate(o, u) for o, u in rich] == expected
        assert engine.bulk("reprocess", [o for o, _ in rich], {"role": UserRole.admin}) == \
            engine.bulk("reprocess", [o for o, _ in plain], {"role": "admin"})


# -- defaults -------------------------------------------------------------------------------------------------------


def test_a_missing_fact_takes_its_default_a_bad_one_fails_closed(invoices: policyengine.Engine) -> None:
    member = {"role": "member"}
    without = invoices.evaluate(order(5), member)
    assert not without.errors and states(without)["ship"] == "enabled"
    assert without == invoices.evaluate(order(5, rush=False), member)
    assert states(invoices.evaluate(order(5, rush=True), member))["ship"] == "disabled"
    for bad in (None, 0, "false"):
        got = invoices.evaluate(order(5, rush=bad), member)
        assert [p.fact for p in got.errors] == ["order.rush"]
        assert states(got)["ship"] == "disabled"
    assert not invoices.evaluate(order(5), member, strict=True).errors
    assert invoices.evaluate_many([(order(5), member)]) == [without]
    interpreted, _ = Interpreter(invoices.policy).evaluate(
        {"order.total": 5, "order.status": "Open", "order.tags": [], "order.note": "", "user.role": "member"})
    assert states(interpreted) == states(without)

    @dataclasses.dataclass
    class Invoice:
        total: Any
        status: str = "Open"
        tags: tuple[str, ...] = ()
        note: str = ""

    assert invoices.evaluate(Invoice(5), member) == without


DEFAULTS = textwrap.dedent("""\
    apiVersion: policyengine/v1
    kind: ActionPolicy
    name: defaults
    version: 1
    facts:
      order.flag:
        type: bool
        default: false
      order.status:
        type: enum
        values: [Open, Closed]
        default: Open
      order.total:
        type: number
        default: 12.5
      order.note:
        type: string
        default: none
      order.tags:
        type: set
        default: [new]
      order.deep.value:
        type: bool
        default: true
      user.role:
        type: enum
        values: [admin, member]
    actions:
      go:
        label: Go
        allow: >-
          not order.flag and order.status == 'Open' and order.total == 12.5 and order.note == 'none'
          and 'new' in order.tags and order.deep.value
    """)


class ReadsByQuery(policyengine.DefaultAdapter):
    """A host adapter whose own getters raise KeyError for an absent fact; one of them expensive."""

    def getter(self, fact: Any) -> Any:
        if fact.name in ("order.total", "order.note"):
            def read(order: Any, user: Any) -> Any:
                return order["extra"][fact.name]
            return read
        return super().getter(fact)

    def expensive(self, fact: Any) -> bool:
        return fact.name == "order.note"


def test_every_kind_of_fact_takes_its_default_on_every_path(tmp_path: Path) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text(DEFAULTS)
    for adapter in (None, ReadsByQuery()):
        engine = policyengine.load(path, adapter=adapter) if adapter else policyengine.load(path)
        for empty in ({}, {"deep": {}}, {"extra": {}}):
            got = engine.evaluate(empty, {"role": "member"}, strict=True)
            assert states(got) == {"go": "enabled"}
            assert engine.evaluate_many([(empty, {"role": "member"})]) == [got]
        assert engine.evaluate({"flag": None}, {"role": "member"}).errors  # null is not missing
        assert states(engine.evaluate({"status": "Closed"}, {"role": "member"})) == {"go": "disabled"}
    assert policyengine.load(path).policy.facts[4].default == frozenset({"new"})


@pytest.mark.parametrize(("fact", "message"), [
    ("type: bool\n    default: 0", "default of order.x must be true or false (it is a bool fact), got a number 0"),
    ("type: bool\n    default: 'no'", "default of order.x must be true or false (it is a bool fact), got a string "
                                      "'no'"),
    ("type: enum\n    values: [Open, Closed]\n    default: Opn",
     "default 'Opn' of order.x is not one of its declared values: Open, Closed"),
    ("type: number\n    default: true", "default of order.x must be a finite number (it is a number fact), got "
                                        "true/false true"),
    ("type: number\n    default: .nan", "default of order.x must be a finite number (it is a number fact), got a "
                                        "number nan"),
    ("type: string\n    default: [a]", "default of order.x must be a string (it is a string fact), got a list "
                                       "['a']"),
    ("type: set\n    default: hold", "default of order.x must be a list of strings (it is a set fact), got a string "
                                     "'hold'"),
])
def test_a_bad_default_is_a_load_diagnostic(tmp_path: Path, fact: str, message: str) -> None:
    text = textwrap.dedent("""\
        apiVersion: policyengine/v1
        kind: ActionPolicy
        name: bad
        version: 1
        facts:
          order.x:
            FACT
        actions:
          a:
            label: A
            allow: true
        """).replace("FACT", fact.replace("\n    ", "\n    "))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(path)
    (diagnostic,) = caught.value.diagnostics
    line = 1 + text.splitlines().index(next(x for x in text.splitlines() if x.strip().startswith("default:")))
    assert (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message) == \
        (str(path), line, 14, message)


def test_a_null_default_is_refused_by_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DEFAULTS.replace("default: false", "default: null"))
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.load(path)
    assert [(d.line, d.column) for d in caught.value.diagnostics] == [(8, 14)]


def _with_hold_fact(tmp_path: Path) -> Path:
    """A copy of the shipped policies with a new bool fact, defaulted to false, that stops Reprocess."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    base = copy / "order-actions.yaml"
    text = base.read_text()
    anchor = "  user.role:\n"
    assert text.count(anchor) == 1
    text = text.replace(anchor, "  order.on_hold:\n    type: bool\n    default: false\n"
                                "    description: The order is on hold.\n" + anchor)
    old = "  is_admin: user.role == 'admin'\n"
    assert text.count(old) == 1
    text = text.replace(old, "  is_admin: user.role == 'admin' and not order.on_hold\n")
    base.write_text(text)
    return copy


def test_a_new_defaulted_fact_breaks_no_host_and_no_fixture(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    copy = _with_hold_fact(tmp_path)
    code, out, err = run_cli(capsys, "test", str(copy))
    assert code == 0, out + err
    assert "passed" in out and "failed" not in out
    assert run_cli(capsys, "verify", str(copy))[0] == 0
    before, after = policyengine.load(POLICIES), policyengine.load(copy)
    examples = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    assert examples
    for example in examples:
        old = before.evaluate(example["order"], example["user"], strict=True)
        new = after.evaluate(example["order"], example["user"], strict=True)
        assert [(new[a].state, new[a].reasons) for a in old] == [(old[a].state, old[a].reasons) for a in old]
        held = after.evaluate({**example["order"], "on_hold": True}, example["user"])
        assert not held.errors
    # analysis still treats the fact as free: the matrix has both of its values
    matrix = build_matrix(after.policy)
    axis = next(a for a in matrix.axes if a.name == "order.on_hold")
    assert set(axis.values) == {False, True}


def test_a_store_override_may_add_a_defaulted_fact(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    acme = copy / "stores" / "acme.yaml"
    text = acme.read_text()
    assert text.count("\nfacts:\n") == 1
    acme.write_text(text.replace("\nfacts:\n", "\nfacts:\n  order.vip:\n    type: bool\n    default: false\n"))
    engine = policyengine.load(copy)
    vip = next(f for f in engine.store_policy("acme").facts if f.name == "order.vip")
    assert vip.default is False


def test_analysis_never_takes_a_default_for_the_facts_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The matrix holds a defaulted number fact unknown, as without a default: the member's refund over a shipped
    order depends on order.total (0 by default, which would enable it), so it is undecided, not enabled."""
    text = (ROOT / "docs" / "examples" / "refunds.yaml").read_text()
    anchor = "    description: The order's total, in the store's currency.\n"
    assert text.count(anchor) == 1
    path = tmp_path / "refunds.yaml"
    path.write_text(text.replace(anchor, "    default: 0\n"))
    assert policyengine.load(path).evaluate({"status": "Shipped"}, {"role": "member"})["refund"].enabled
    code, out, _ = run_cli(capsys, "matrix", str(path))
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.startswith("4 ") and "|" in line]
    assert rows == [["4", "not", "Open", "false", "member", "|", "undecided", "[3]"]]
    assert "held unknown (not enumerable): order.total (number)" in out


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> tuple[policyengine.Engine, policyengine.Engine]:
    """The shipped base policy with a defaulted order.on_hold, batched in C (when built) and in Python."""
    copy = _with_hold_fact(tmp_path_factory.mktemp("held"))
    in_c = policyengine.load(copy / "order-actions.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_batch", None)
        in_python = policyengine.load(copy / "order-actions.yaml")
    assert not in_python.batch_in_c
    return in_c, in_python


_ABSENT = object()


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["Error", "Shipped", "Archived", "Weird"]),
                               st.sampled_from([_ABSENT, True, False, None, 0, "no"]),
                               st.sampled_from([_ABSENT, True, False]), st.sampled_from(["admin", "viewer", Role.admin])),
                     max_size=12))
def test_defaults_decide_alike_on_every_path(held: tuple[policyengine.Engine, policyengine.Engine],
                                             rows: list[Any]) -> None:
    """A missing defaulted fact reads as its default, and a present bad one fails closed, the same in the C batch
    loop, the Python loop, evaluate, the interpreter and bulk; a missing fact without a default still fails closed."""
    def pair(status: str, hold: Any, manual: Any, role: Any) -> Any:
        store: dict[str, Any] = {"id": "x"}
        if manual is not _ABSENT:
            store["manual_fulfillment"] = manual
        order: dict[str, Any] = {"id": "o", "status": status, "has_shipment": False, "sent_to_warehouse": True,
                                 "store": store}
        if hold is not _ABSENT:
            order["on_hold"] = hold
        return order, {"role": role}

    pairs = [pair(*row) for row in rows]
    in_c, in_python = held
    one_by_one = [in_python.evaluate(o, u) for o, u in pairs]
    assert in_c.evaluate_many(pairs) == in_python.evaluate_many(pairs) == one_by_one
    interpreter = Interpreter(in_c.policy)
    for (status, hold, manual, role), (o, u), expected in zip(rows, pairs, one_by_one, strict=True):
        errors = {p.fact for p in expected.errors}
        assert ("order.on_hold" in errors) <= (hold is not _ABSENT and type(hold) is not bool)
        if hold is _ABSENT:  # exactly as if the host had sent the default
            assert expected == in_python.evaluate({**o, "on_hold": False}, u)
        flat = {"order.status": status, "order.has_shipment": False, "order.sent_to_warehouse": True,
                "user.role": role}
        if hold is not _ABSENT:
            flat["order.on_hold"] = hold
        if manual is not _ABSENT:
            flat["store.manual_fulfillment"] = manual
        interpreted, _ = interpreter.evaluate(flat)
        assert [(interpreted[a].state, interpreted[a].errors) for a in expected] == \
            [(expected[a].state, expected[a].errors) for a in expected]
    if pairs:
        user = pairs[0][1]
        orders = [o for o, _ in pairs]
        assert in_c.bulk("reprocess", orders, user) == in_python.bulk("reprocess", orders, user)


def test_the_c_loop_reads_a_missing_defaulted_fact_as_its_default() -> None:
    batch = pytest.importorskip("policyengine.runtime._batch", reason="the C batch loop was not built")
    flat = ("A-false", "A-true", "B-false", "B-true")
    paths, classes = ((0, "k"), (1, "flag")), (str, bool)
    indexes = ({"a": 0, "b": 1}, {False: 0, True: 1, ...: 1})  # flag defaults to true
    results, misses, _ = batch.lookup_all([({"k": "b"}, {}), ({"k": "a"}, {"flag": False}), ({}, {})], flat, paths,
                                          indexes, classes)
    assert results[:2] == ["B-true", "A-false"] and misses == [2]
    with pytest.raises(ValueError, match="a default's position is outside its domain's range"):
        batch.lookup_all([], flat, paths, ({"a": 0, "b": 1}, {False: 0, True: 1, ...: 2}), classes)


def test_snapshot_matrix_fixes_a_defaulted_number_at_its_default(tmp_path: Path) -> None:
    """``policyengine.testing.decision_matrix`` needs a value for every number fact; a declared default is that
    value unless the caller gives another, and the result says so in ``fixed``."""
    from policyengine.testing import decision_matrix

    text = (ROOT / "docs" / "examples" / "refunds.yaml").read_text()
    anchor = "    description: The order's total, in the store's currency.\n"
    plain = tmp_path / "plain.yaml"
    plain.write_text(text)
    with pytest.raises(ValueError, match="order.total"):
        decision_matrix(plain)
    path = tmp_path / "refunds.yaml"
    path.write_text(text.replace(anchor, "    default: 0\n"))
    matrix = decision_matrix(path)
    assert matrix["fixed"]["order.total"] == "0"  # shown as text, as every fixed value
    assert matrix == decision_matrix(plain, facts={"order.total": 0}) | {"policy": matrix["policy"]}
    assert decision_matrix(path, facts={"order.total": 5000})["fixed"]["order.total"] == "5000"


def test_explain_marks_a_defaulted_fact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``explain`` shows a fact the order did not send as its default, marked so, and one it sent as it is."""
    copy = _with_hold_fact(tmp_path)
    order = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
             "store": {"id": "acme", "manual_fulfillment": False}}
    code, out, _ = run_cli(capsys, "explain", str(copy), "--order", json.dumps(order), "--user", '{"role": "admin"}')
    assert code == 0
    assert "order.on_hold = false (default)" in out
    code, out, _ = run_cli(capsys, "explain", str(copy), "--order", json.dumps({**order, "on_hold": False}),
                           "--user", '{"role": "admin"}', "--format", "json")
    facts = {f["fact"]: f for f in json.loads(out)["facts"]}
    assert facts["order.on_hold"] == {"fact": "order.on_hold", "value": False, "problem": None, "defaulted": False}
