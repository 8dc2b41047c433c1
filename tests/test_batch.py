"""The optional C batch loop (``policyengine/runtime/_batch.c``) decides exactly like the generated Python loop.

The C loop answers only pairs of plain dicts whose facts are all valid, from the policy's table; every other pair is
a miss, decided by the generated Python ``evaluate``. So on any input, ``evaluate_many`` with the C loop must equal
``evaluate_many`` without it, and ``evaluate`` in a loop, object for object where the table answered. Host code that
runs during a lookup (a value's ``__eq__`` or ``__hash__``) must neither crash it nor be swallowed when it raises
something that is not an ``Exception``. Skipped where the extension was not built (no C compiler at install).
BATCH_EXAMPLES=5000 runs the property test longer (with PYTHONMALLOC=debug and -X dev, it also hunts memory errors).
"""

from __future__ import annotations

import enum
import os
import re
import types
from typing import Any

import pytest
from conftest import BASE_FILE, POLICIES, ROLES, STATUSES, make_order
from hypothesis import given, settings
from hypothesis import strategies as st

import policyengine
from policyengine.runtime import codegen

batch = pytest.importorskip("policyengine.runtime._batch", reason="the C batch loop was not built (no C compiler at install)")


class Status(str, enum.Enum):
    ERROR = "Error"
    SHIPPED = "Shipped"


class Touchy(str):
    """A string whose comparisons raise: it reaches the table lookup's ``__eq__``."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("do not compare me")

    __hash__ = str.__hash__


class Stop(BaseException):
    """Not an Exception: must get out of the C loop, as it gets out of the Python one."""


class CollidesWithStatus:
    """A dict key that collides with "status": looking "status" up compares with it, running host code."""

    def __hash__(self) -> int:
        return hash("status")

    def __eq__(self, other: object) -> bool:
        raise Stop


class Sub(dict):  # type: ignore[type-arg]
    """A dict subclass: not a plain dict, so the C loop leaves it to Python."""


@pytest.fixture(scope="module")
def engines() -> tuple[policyengine.Engine, policyengine.Engine]:
    in_c = policyengine.load(BASE_FILE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_batch", None)
        in_python = policyengine.load(BASE_FILE)
    assert in_c.batch_in_c and not in_python.batch_in_c
    return in_c, in_python


statuses = st.sampled_from(["Error", "Shipped", "Pending", "Archived", "Weird", "", None, 1, Status.ERROR,
                            Status.SHIPPED, Touchy("Error"), Touchy("Nope")])
flags = st.sampled_from([True, False, True, False, 1, 0, 1.0, 0.0, "yes", None])
roles = st.sampled_from(["admin", "member", "viewer", "viewer", 3, None, Touchy("admin")])


@st.composite
def pairs(draw: Any) -> Any:
    fields = {"status": draw(statuses), "has_shipment": draw(flags), "sent_to_warehouse": draw(flags)}
    fields = {k: v for k, v in fields.items() if draw(st.integers(0, 9)) or k == "status"}  # sometimes missing
    store: Any = {"id": "acme", "manual_fulfillment": draw(flags)}
    store = draw(st.sampled_from([store, store, store, types.SimpleNamespace(**store), types.MappingProxyType(store)]))
    order: Any = {**fields, "store": store}
    order = draw(st.sampled_from([order, order, order, Sub(order), types.SimpleNamespace(**order)]))
    user: Any = {"role": draw(roles)}
    user = draw(st.sampled_from([user, user, user, types.SimpleNamespace(**user)]))
    return draw(st.sampled_from([(order, user), (order, user), (order, user), [order, user]]))


@settings(max_examples=int(os.environ.get("BATCH_EXAMPLES", "300")), deadline=None)
@given(batch_pairs=st.lists(pairs(), max_size=25))
def test_the_c_loop_decides_like_the_python_loop_on_any_input(
        engines: tuple[policyengine.Engine, policyengine.Engine], batch_pairs: list[Any]) -> None:
    in_c, in_python = engines
    got = in_c.evaluate_many(batch_pairs)
    assert got == in_python.evaluate_many(batch_pairs)
    one_by_one = [in_c.evaluate(order, user) for order, user in batch_pairs]
    assert got == one_by_one
    table = {id(d) for d in in_c.evaluate.__globals__["TABLE"] if d is not None}
    for result, single in zip(got, one_by_one, strict=True):
        if id(result) in table:  # answered from the table, by either loop: the very object evaluate returns
            assert result is single
    if any(result.errors for result in got):
        with pytest.raises(policyengine.FactError):
            in_c.evaluate_many(batch_pairs, strict=True)


def test_a_base_exception_from_host_code_gets_out(engines: tuple[policyengine.Engine, policyengine.Engine]) -> None:
    good = ({"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
             "store": {"id": "x", "manual_fulfillment": True}}, {"role": "admin"})
    colliding: dict[Any, Any] = {CollidesWithStatus(): "Error", **{k: v for k, v in good[0].items() if k != "status"}}
    bad = (colliding, {"role": "admin"})
    for engine in engines:
        with pytest.raises(Stop):
            engine.evaluate_many([good, bad, good])


def test_bulk_runs_on_the_c_loop_and_agrees(engines: tuple[policyengine.Engine, policyengine.Engine]) -> None:
    orders = [{"id": f"o{i}", "status": status, "has_shipment": i % 2 == 0, "sent_to_warehouse": i % 3 == 0,
               "store": {"id": "x", "manual_fulfillment": i % 5 == 0}}
              for i, status in enumerate(["Error", "Shipped", "Weird", "Archived", "Pending", None] * 7)]
    in_c, in_python = engines
    for action in in_c.actions:
        assert in_c.bulk(action, orders, {"role": "member"}) == in_python.bulk(action, orders, {"role": "member"})


PATHS, INDEXES, CLASSES = ((0, "k"), (1, "flag")), ({"a": 0, "b": 1}, {False: 0, True: 1}), (str, bool)
FLAT = ("A-false", "A-true", "B-false", "B-true")  # itertools.product order of the domains


@pytest.mark.parametrize(("args", "error", "message"), [
    ((), TypeError, "takes 5 or 6 arguments"),
    (((), FLAT, PATHS, INDEXES, CLASSES), TypeError, "pairs must be a list"),
    (([], list(FLAT), PATHS, INDEXES, CLASSES), TypeError, "must be tuples"),
    (([], FLAT, PATHS, INDEXES, (str,)), TypeError, "must be tuples"),
    (([], FLAT, PATHS, INDEXES, (str, True)), TypeError, "each class must be a type"),
    (([], FLAT, (("order", "k"), (1, "flag")), INDEXES, CLASSES), TypeError, "each path must be a tuple (root, key, ...)"),
    (([], FLAT, ((2, "k"), (1, "flag")), INDEXES, CLASSES), ValueError, "root must be 0 (order) or 1 (user)"),
    (([], FLAT, PATHS, ({"a": 0, "b": 1}, [False, True]), CLASSES), TypeError, "each index must be a dict"),
    (([], FLAT, PATHS, ({"a": 0, "b": 2}, {False: 0, True: 1}), CLASSES), ValueError, "outside its domain's range"),
    (([], FLAT, PATHS, ({"a": 0, "b": "1"}, {False: 0, True: 1}), CLASSES), ValueError, "outside its domain's range"),
    (([], FLAT[:3], PATHS, INDEXES, CLASSES), ValueError, "one entry per combination"),
])
def test_lookup_all_refuses_malformed_arguments(args: tuple[Any, ...], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        batch.lookup_all(*args)


def test_lookup_all_reports_each_miss_by_index() -> None:
    pairs = [({"k": "a"}, {"flag": True}), ({"k": "c"}, {"flag": True}), ({"k": "a"}, {"flag": 1}),
             ([{"k": "a"}], {}), ({"k": "b"}, {"flag": False}), ({"k": ["a"]}, {"flag": False}), "junk",
             ({"k": "b"}, {"flag": True}), ({}, {"flag": True}), (types.SimpleNamespace(k="a"), {"flag": True})]
    results, misses, keys = batch.lookup_all(pairs, FLAT, PATHS, INDEXES, CLASSES)
    assert results == ["A-true", None, None, None, "B-false", None, None, "B-true", None, None]
    assert misses == [1, 2, 3, 5, 6, 8, 9]
    # a key for each miss read through plain dicts with plain values (or missing ones); None for the others
    assert keys == [("c", str, True, bool), ("a", str, 1, int), None, None, None, (..., None, True, bool), None]


def test_lookup_all_with_one_user_reads_orders_alone() -> None:
    orders = [{"k": "a"}, {"k": "b"}, {"k": "c"}, ({"k": "a"}, {"flag": True}), types.SimpleNamespace(k="a")]
    results, misses, _ = batch.lookup_all(orders, FLAT, PATHS, INDEXES, CLASSES, {"flag": True})
    assert results == ["A-true", "B-true", None, None, None]
    assert misses == [2, 3, 4]
    assert batch.lookup_all(orders[:2], FLAT, PATHS, INDEXES, CLASSES, {"flag": 1}) == (
        [None, None], [0, 1], [("a", str, 1, int), ("b", str, 1, int)])


def test_the_keys_of_misses_tell_values_and_classes_apart() -> None:
    orders = [{"k": "a"}, {}, {"k": 1}, {"k": True}, {"k": 1.0}, {"k": None}]
    results, misses, keys = batch.lookup_all(orders, FLAT, PATHS, INDEXES, CLASSES, {})
    assert (results, misses) == ([None] * 6, [0, 1, 2, 3, 4, 5])
    assert keys == [("a", str, ..., None), (..., None, ..., None), (1, int, ..., None), (True, bool, ..., None),
                    None, (None, type(None), ..., None)]  # a float is no key: 0.0 == -0.0, yet they read differently




# -- store overrides: the C loop dispatches to each store's rows; every path decides as evaluate does ---------------

def _stores_tree(tmp: Any) -> Any:
    """policies/ (acme reads order.channel: a store read its own way; globex: the base's shape) plus two generated
    overrides of the base's shape, so the batch meets every kind of store."""
    import shutil

    root = tmp / "stores-set"
    shutil.copytree(POLICIES, root, ignore=shutil.ignore_patterns("tests", "invariants"))
    for name, body in (("s1", "  edit:\n    hidden: true\n"), ("s2", "  archive:\n    label: Put away\n")):
        (root / "stores" / f"{name}.yaml").write_text(
            "apiVersion: policyengine/v1\nkind: StoreOverride\nstore: " + name + "\nversion: 1\nbase:\n"
            "  policy: order-actions\n  version: 1\nactions:\n" + body)
    return root


@pytest.fixture(scope="module")
def store_engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[policyengine.Engine, policyengine.Engine]:
    root = _stores_tree(tmp_path_factory.mktemp("stores"))
    in_c = policyengine.load(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_batch", None)
        in_python = policyengine.load(root)
    assert in_c.batch_in_c and not in_python.batch_in_c and set(in_c.stores) == {"acme", "globex", "s1", "s2"}
    return in_c, in_python


store_ids = st.sampled_from(["acme", "globex", "s1", "s2", "acme", "globex", "no-override", "", None, 7,
                             Touchy("acme"), Status.ERROR])
channels = st.sampled_from(["shopify", "amazon", "woocommerce", "ebay", None, 3])


@st.composite
def store_pairs(draw: Any) -> Any:
    order, user = draw(pairs())
    if type(order) is dict and type(order.get("store")) is dict:
        order = {**order, "channel": draw(channels), "store": {**order["store"], "id": draw(store_ids)}}
        if not draw(st.integers(0, 9)):
            order["store"].pop("id")
        if not draw(st.integers(0, 5)):
            order.pop("channel")
    return draw(st.sampled_from([(order, user)] * 6 + [[order, user], "junk", (order,)]))


def _one_by_one(engine: policyengine.Engine, items: list[Any], store: Any = None, strict: bool = False) -> list[Any]:
    out = []
    for item in items:
        try:
            order, user = item
        except Exception:
            order = user = None
        out.append(engine.evaluate(order, user, strict, store))
    return out


@settings(max_examples=int(os.environ.get("BATCH_EXAMPLES", "80")), deadline=None)
@given(items=st.lists(store_pairs(), max_size=30), store=st.sampled_from([None, None, "acme", "globex", "s1",
                                                                         "no-override", 5]))
def test_evaluate_many_with_stores_decides_each_pair_as_evaluate_does(
        store_engines: tuple[policyengine.Engine, policyengine.Engine], items: list[Any], store: Any) -> None:
    in_c, in_python = store_engines
    for engine in store_engines:
        got = engine.evaluate_many(items, store=store)
        assert got == _one_by_one(engine, items, store)
        assert got == engine.evaluate_many(items, store=store)  # again: now from the rows the first run built
    assert in_c.evaluate_many(items, store=store) == in_python.evaluate_many(items, store=store)
    if any(result.errors for result in in_c.evaluate_many(items, store=store)):
        for engine in store_engines:
            with pytest.raises(policyengine.FactError):
                engine.evaluate_many(items, store=store, strict=True)


@settings(max_examples=int(os.environ.get("BATCH_EXAMPLES", "30")), deadline=None)
@given(items=st.lists(store_pairs(), max_size=20), ids=st.lists(st.sampled_from(
    ["a", 1, 2**80, -3, True, None, 1.5, Touchy("x"), "b"]), min_size=20, max_size=20),
    store=st.sampled_from([None, "acme", "globex"]))
def test_bulk_with_stores_and_any_ids_agrees_with_evaluate(
        store_engines: tuple[policyengine.Engine, policyengine.Engine], items: list[Any], ids: list[Any],
        store: Any) -> None:
    user = {"role": "member"}
    orders = [item[0] if type(item) is tuple and len(item) == 2 else item for item in items]
    orders = [{**o, "id": i} if type(o) is dict else o for o, i in zip(orders, ids, strict=False)]
    in_c, in_python = store_engines
    for action in ("reset", "delete", "edit"):
        got = in_c.bulk(action, orders, user, store=store, decisions=True)
        assert got == in_python.bulk(action, orders, user, store=store, decisions=True)
        expected = [in_c.evaluate(o, user, False, store) for o in orders]
        assert [d.state for d in got.decisions or ()] == [r[action].state if action in r else "hidden"
                                                          for r in expected]
        # ids read as the default adapter's own order_id reads them, whatever their type
        adapter = policyengine.DefaultAdapter()
        assert [d["order_id"] for d in got.to_dict()["decisions"]] == [adapter.order_id(o) for o in orders]


def test_order_ids_in_c_read_as_the_default_adapter_does() -> None:
    adapter = policyengine.DefaultAdapter()
    orders: list[Any] = [{"id": "a"}, {"id": 3}, {}, {"id": None}, {"id": True}, {"id": 2**70}, [], {"id": 1.5},
                         {"id": -12}, types.SimpleNamespace(id=4), {"id": Touchy("t")}, {"id": 2**300}]
    ids, others = batch.order_ids(orders)
    for i in others:
        ids[i] = adapter.order_id(orders[i])
    assert ids == [adapter.order_id(o) for o in orders]
    assert ids == ["a", "3", None, None, "True", str(2**70), None, "1.5", "-12", "4", "t", None]


def test_a_warmed_up_engine_answers_every_valid_pair_in_c(store_engines: tuple[policyengine.Engine,
                                                                                policyengine.Engine]) -> None:
    in_c, _ = store_engines
    in_c.warm_up()
    items = [({**make_order(status, store_id=store), "channel": "amazon"}, {"role": role})
             for status in STATUSES for store in ("acme", "globex", "s1", "s2", "elsewhere") for role in ROLES]
    evaluator = in_c._default.evaluator  # noqa: SLF001 - the loop itself: which pairs it leaves to Python
    assert evaluator.store_loop is not None and evaluator.lookup is not None
    in_c.evaluate_many(items)  # builds the rows these combinations use
    _, misses, _ = evaluator.store_loop(items, in_c._tables, evaluator.lookup.rows, in_c._store_path, None, None)  # noqa: SLF001
    assert misses == []


def test_lookup_stores_misses_what_it_cannot_read_as_the_dispatch_does() -> None:
    tables = {"x": ["X-A-false", "X-A-true", "X-B-false", "X-B-true"], "lazy": None,
              "y": [None, "Y-A-true", None, None]}
    fallback = list(FLAT)
    path = (0, "store")
    items = [({"k": "a", "store": "x"}, {"flag": True}), ({"k": "a", "store": "other"}, {"flag": False}),
             ({"k": "a", "store": "lazy"}, {"flag": True}), ({"k": "a", "store": "y"}, {"flag": False}),
             ({"k": "a"}, {"flag": True}), ({"k": "a", "store": 1}, {"flag": True}),
             ({"k": "c", "store": "x"}, {"flag": True}), "junk"]
    results, misses, keys = batch.lookup_stores(items, tables, fallback, path, PATHS, INDEXES, CLASSES, None, None)
    assert results == ["X-A-true", "A-false", None, None, None, None, None, None]
    assert misses == [2, 3, 4, 5, 6, 7]
    assert keys == [None, ("y", ("a", str, False, bool)), None, None, ("x", ("c", str, True, bool)), None]
    # a given store: only its own pairs are answered, and none is keyed
    results, misses, keys = batch.lookup_stores(items, tables, fallback, path, PATHS, INDEXES, CLASSES, None, "x")
    assert results == ["X-A-true"] + [None] * 7 and keys == [None] * 7
    with pytest.raises(TypeError, match="tables must be a dict"):
        batch.lookup_stores(items, [], fallback, path, PATHS, INDEXES, CLASSES, None, None)
