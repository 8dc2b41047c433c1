"""Hostile values on every evaluation path (issue 11): ``evaluate``, ``evaluate_many`` and ``bulk`` never raise
without ``strict``, ``strict=True`` raises only :class:`FactError`, and every path decides alike.

The paths: the precomputed table (``evaluate`` of the shipped base policy), the C batch loop and the generated Python
batch loop (``evaluate_many``), the generated code without a table (``table_limit=0``), the store dispatch (the
shipped directory with its overrides), a policy with numbers and sets (not tabled), ``bulk``, and the interpreter
(``Interpreter.evaluate``, which the fail-closed path runs). The hostile objects raise from ``__class__``, ``__eq__``,
``__hash__``, ``__repr__``, ``__str__``, ``__iter__`` or ``__len__`` (or several), or pose as ``'admin'`` (they
compare and hash equal to it), as plain objects and as subclasses of ``str``, ``list`` and ``int``.

``HOSTILE_EXAMPLES`` (default 40) sets how many examples each property runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BASE_FILE, POLICIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policyengine
from policyengine import FactError
from policyengine.runtime import codegen
from policyengine.runtime.interpret import Interpreter

SETTINGS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

DUNDERS = ("__class__", "__eq__", "__hash__", "__repr__", "__str__", "__iter__", "__len__")


class Boom(Exception):
    """What the hostile objects raise; its own ``__str__`` raises too, so messages cannot simply quote it."""

    def __str__(self) -> str:
        raise Boom()


def _raise(*_: Any) -> Any:
    raise Boom()


def hostile(base: type, raising: frozenset[str], admin: bool) -> Any:
    """An instance of a fresh subclass of ``base`` whose ``raising`` dunders raise and that, with ``admin``,
    compares and hashes equal to ``'admin'``."""
    namespace: dict[str, Any] = {}
    if admin:
        namespace["__eq__"] = lambda self, other: other == "admin"
        namespace["__hash__"] = lambda self: hash("admin")
    for name in raising:
        namespace[name] = property(_raise) if name == "__class__" else _raise
    cls = type(f"Hostile{base.__name__.title()}", (base,), namespace)
    if base is str:
        return cls("admin" if admin else "Error")
    if base is list:
        return cls(["admin"])
    if base is int:
        return cls(1)
    return cls()


specs = st.tuples(st.sampled_from([object, str, list, int]), st.frozensets(st.sampled_from(DUNDERS), max_size=3),
                  st.booleans())
hostiles = specs.map(lambda spec: hostile(*spec))
values = st.one_of(hostiles, st.builds(lambda: 10**5000), st.sampled_from(["Error", "admin", True, None, 1.5, ["admin"]]))

GOOD_ORDER = {"id": "o1", "status": "Error", "has_shipment": False, "sent_to_warehouse": False,
              "store": {"id": "acme", "manual_fulfillment": True}}


@st.composite
def inputs(draw: Any) -> tuple[Any, Any]:
    """An order and a user with some of their values (or the roots themselves) hostile."""
    order: Any = {**GOOD_ORDER, "store": dict(GOOD_ORDER["store"])}
    user: Any = {"role": "admin", "profile": {"email": "a@example.com"}}
    for key in draw(st.sets(st.sampled_from(["status", "has_shipment", "sent_to_warehouse", "id", "total", "tags"]))):
        order[key] = draw(values)
    for key in draw(st.sets(st.sampled_from(["id", "manual_fulfillment"]))):
        order["store"][key] = draw(values)
    if draw(st.booleans()):
        user["role"] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        order = draw(hostiles)
    if draw(st.integers(0, 9)) == 0:
        user = draw(hostiles)
    return order, user


@pytest.fixture(scope="module")
def paths(extra_engine: policyengine.Engine) -> dict[str, policyengine.Engine]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_batch", None)
        python_loop = policyengine.load(BASE_FILE)
    engines = {"table": policyengine.load(BASE_FILE), "python loop": python_loop,
               "no table": policyengine.load(BASE_FILE, table_limit=0), "stores": policyengine.load(POLICIES),
               "numbers and sets": extra_engine}
    assert engines["table"].specialised and engines["table"].batch_in_c and not python_loop.batch_in_c
    assert not engines["no table"].specialised and not extra_engine.specialised
    return engines


def rows(decisions: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(d.action, d.state, d.reasons) for d in decisions.values()]


def never_raises(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # pragma: no cover - the failure this test exists to catch
        raise AssertionError(f"raised {type(exc).__name__}") from None


@SETTINGS
@given(pair=inputs(), store=st.one_of(st.sampled_from([None, "acme", "globex", ["acme"]]),
                                     st.builds(hostile, st.just(str), st.just(frozenset({"__hash__"})), st.booleans())))
def test_no_path_raises_and_all_paths_agree(paths: dict[str, policyengine.Engine], pair: tuple[Any, Any],
                                            store: Any) -> None:
    order, user = pair
    for name, engine in paths.items():
        single = never_raises(engine.evaluate, order, user, store=store)
        batch = never_raises(engine.evaluate_many, [(order, user), (order, user)], store=store)
        assert [rows(single)] * 2 == [rows(d) for d in batch], name
        for action in engine.actions:
            result = never_raises(engine.bulk, action, [order], user, store=store)
            assert (result.applicable == (0,)) == single[action].enabled, (name, action)
        try:
            strict = engine.evaluate(order, user, strict=True, store=store)
        except FactError as err:
            assert err.problems and set(err.problems) <= set(single.errors) | set(err.problems)
        else:
            assert rows(strict) == rows(single) and not single.errors
        assert not any(d.enabled and d.errors for d in single.values())
    base = [rows(paths[name].evaluate(order, user)) for name in ("table", "python loop", "no table")]
    assert base[0] == base[1] == base[2]


@SETTINGS
@given(spec=specs)
def test_a_look_alike_of_admin_is_refused_on_every_path(paths: dict[str, policyengine.Engine],
                                                        spec: tuple[type, frozenset[str], bool]) -> None:
    """Only the exact string 'admin' (or a str subclass whose own value is 'admin') makes a user an admin."""
    role = hostile(*spec)  # built here: hypothesis itself looks at the values it draws (isinstance, repr)
    expected = "enabled" if issubclass(type(role), str) and str.__str__(role) == "admin" else "hidden"
    user = {"role": role}
    for name, engine in paths.items():
        if name == "numbers and sets":
            continue
        assert engine.evaluate(GOOD_ORDER, user)["force_delete"].state == expected, name
        assert engine.evaluate_many([(GOOD_ORDER, user)])[0]["force_delete"].state == expected, name
        assert engine.bulk("force_delete", [GOOD_ORDER], user).applicable == ((0,) if expected == "enabled" else ())
    interpreter = Interpreter(paths["table"].policy)
    facts = {"order.status": "Error", "order.has_shipment": False, "order.sent_to_warehouse": False,
             "store.manual_fulfillment": True, "store.id": "x", "user.role": role}
    decisions, _ = interpreter.evaluate(facts)
    assert decisions["force_delete"].state == expected


def test_a_look_alike_never_reaches_the_c_loop_or_the_table() -> None:
    class Admin:
        def __eq__(self, other: object) -> bool:
            return other == "admin"

        def __hash__(self) -> int:
            return hash("admin")

    engine = policyengine.load(BASE_FILE)
    decisions = engine.evaluate(GOOD_ORDER, {"role": Admin()})
    assert decisions["force_delete"].state == "hidden"
    (problem,) = decisions.errors
    assert str(problem).startswith("user.role: expected a string, got Admin <")
    admin = {"role": Admin()}
    assert engine.evaluate_many([(GOOD_ORDER, admin)])[0] == engine.evaluate(GOOD_ORDER, admin)  # C loop, table
    assert engine.evaluate_many([(GOOD_ORDER, admin)])[0]["force_delete"].state == "hidden"


@pytest.mark.parametrize(("value", "message"), [
    (10**5000, "user.role: expected a string, got int <an integer of 16610 bits>"),
    (hostile(object, frozenset({"__repr__"}), False), "user.role: expected a string, got HostileObject "
                                                      "<HostileObject instance at 0x"),
    (hostile(object, frozenset({"__class__"}), False), "user.role: expected a string, got HostileObject "),
    (hostile(list, frozenset({"__iter__"}), False), "user.role: expected a string, got HostileList "),
], ids=["huge int", "raising repr", "raising class", "raising iter"])
def test_values_that_cannot_be_shown_are_described(value: Any, message: str) -> None:
    engine = policyengine.load(BASE_FILE)
    (problem,) = engine.evaluate(GOOD_ORDER, {"role": value}).errors
    assert str(problem).startswith(message)
    with pytest.raises(FactError):
        engine.evaluate(GOOD_ORDER, {"role": value}, strict=True)


def test_a_getter_exception_whose_str_raises_is_reported() -> None:
    class Adapter(policyengine.DefaultAdapter):
        def getter(self, fact: Any) -> Any:
            if fact.name == "order.has_shipment":
                return _raise
            return super().getter(fact)

    engine = policyengine.load(BASE_FILE, adapter=Adapter())
    decisions = engine.evaluate(GOOD_ORDER, {"role": "admin"})
    assert [str(p) for p in decisions.errors] == [
        "order.has_shipment: the adapter failed: Boom: <no message: its text could not be read>"]
    assert decisions["reset"].state == "disabled"


def test_a_set_fact_whose_iteration_raises_fails_closed(extra_engine: policyengine.Engine) -> None:
    # a bronze customer: `gold` is false, so nothing but the tags can decide `vip or gold or many_tags`
    order = {"id": "o1", "channel": "web", "items": 3, "total": 10, "note": "", "customer": {"tier": "bronze"},
             "tags": hostile(list, frozenset({"__iter__", "__len__"}), False)}
    user = {"role": "admin", "profile": {"email": "a@example.com"}}
    decisions = extra_engine.evaluate(order, user)
    assert any(p.fact == "order.tags" for p in decisions.errors)
    assert not any(d.enabled and d.errors for d in decisions.values())
    with pytest.raises(FactError) as raised:
        extra_engine.evaluate(order, user, strict=True)
    assert any(p.fact == "order.tags" for p in raised.value.problems)


def test_order_ids_that_cannot_be_read_leave_the_bulk_result_whole() -> None:
    engine = policyengine.load(BASE_FILE)

    class Order:
        status, has_shipment, sent_to_warehouse = "Error", False, False
        store = {"id": "x", "manual_fulfillment": True}

        @property
        def id(self) -> str:
            raise RuntimeError("no id today")

    orders = [Order(), {**GOOD_ORDER, "id": 10**5000}, {**GOOD_ORDER, "id": hostile(object, frozenset({"__str__"}),
                                                                                         False)}, GOOD_ORDER]
    result = engine.bulk("reset", orders, {"role": "admin"})
    assert result.applicable == (0, 1, 2, 3)
    assert result.applicable_ids == (None, None, None, "o1")


def test_a_store_that_is_not_a_string_fails_closed() -> None:
    engine = policyengine.load(POLICIES)
    for store in (["acme"], {"acme": 1}, hostile(str, frozenset({"__hash__", "__eq__"}), False)):
        decisions = engine.evaluate(GOOD_ORDER, {"role": "admin"}, store=store)
        assert not any(d.enabled for d in decisions.values()) or issubclass(type(store), str)
        batch = engine.evaluate_many([(GOOD_ORDER, {"role": "admin"})], store=store)
        assert rows(batch[0]) == rows(decisions)
        assert engine.bulk("reset", [GOOD_ORDER], {"role": "admin"}, store=store).total == 1
    decisions = engine.evaluate(GOOD_ORDER, {"role": "admin"}, store=["acme"])
    assert [str(p) for p in decisions.errors] == ["store.id: expected a string, got list ['acme']"]
    with pytest.raises(FactError):
        engine.evaluate(GOOD_ORDER, {"role": "admin"}, store=["acme"], strict=True)


def test_a_batch_item_that_is_not_a_pair_fails_closed(paths: dict[str, policyengine.Engine]) -> None:
    class Unpackable:
        def __iter__(self) -> Any:
            raise Boom()

    items = [(GOOD_ORDER, {"role": "admin"}), "junk", (GOOD_ORDER,), Unpackable(), None]
    for name, engine in paths.items():
        results = engine.evaluate_many(items)
        assert len(results) == 5, name
        assert rows(results[0]) == rows(engine.evaluate(GOOD_ORDER, {"role": "admin"}))
        for result in results[1:]:
            assert rows(result) == rows(engine.evaluate(None, None)), name
            assert not any(d.enabled for d in result.values())
        with pytest.raises(FactError):
            engine.evaluate_many(items, strict=True)
