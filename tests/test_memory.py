"""Memory stays flat (issue 11): ``load()`` retains nothing once its engine is gone, and every memo an engine keeps
is bounded, whatever the inputs. Measured with ``gc`` and ``tracemalloc``, never with time.

``MEMORY_LOADS`` (default 8) sets how many loads the reload test measures (``bench/soak.py`` runs for hours).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import unittest.mock
from typing import Any

import pytest
from conftest import BASE_FILE, POLICIES

import policyengine
from policyengine.engine import Engine
from policyengine.pipeline import yamlsource
from policyengine.runtime import codegen

LOADS = int(os.environ.get("MEMORY_LOADS", "8"))


def engines_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Engine)


def test_an_engine_and_its_documents_are_released_once_dropped() -> None:
    before = engines_alive()
    engine = policyengine.load(POLICIES)
    engine.evaluate({"status": "Error"}, {"role": "admin"})
    assert engines_alive() == before + 1
    del engine
    assert engines_alive() == before
    # the YAML reader keeps nothing between loads (a shared PyYAML constructor kept every scalar ever read)
    assert not getattr(yamlsource._SCALARS, "constructed_objects", {})


def test_a_reload_loop_keeps_no_objects() -> None:
    for _ in range(2):  # warm every cache that is meant to be filled once (schemas, validators, imports)
        policyengine.load(POLICIES)
    gc.collect()
    first = len(gc.get_objects())
    for _ in range(LOADS):
        policyengine.load(POLICIES)
    gc.collect()
    # before the fix every load kept thousands of YAML nodes; allow a little noise, in total
    assert len(gc.get_objects()) - first < 200, f"{LOADS} loads kept {len(gc.get_objects()) - first} objects"


def test_a_reload_loop_keeps_no_memory() -> None:
    policyengine.load(BASE_FILE)
    gc.collect()
    tracemalloc.start()
    try:
        policyengine.load(BASE_FILE)
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(3):
            policyengine.load(BASE_FILE)
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last - first < 64 * 1024, f"3 loads kept {(last - first) / 1024:.0f} KiB"


_GROWTH_SCRIPT = textwrap.dedent("""
    import json, shutil, sys, tempfile, pathlib
    import policyengine
    root = pathlib.Path(tempfile.mkdtemp()) / "policies"
    shutil.copytree(sys.argv[1], root)
    live = policyengine.live(root, watch=False)
    blocks = []
    for i in range(int(sys.argv[2])):
        engine = policyengine.load(root)
        engine.evaluate({"status": "Error"}, {"role": "admin"})
        del engine
        with open(root / "order-actions.yaml", "a") as f:  # a change: the live set reloads
            f.write(f"# edit {i}\\n")
        assert live.reload().ok
        blocks.append(sys.getallocatedblocks())
    print(json.dumps(blocks))
""")


def test_loads_and_reloads_keep_memory_flat_without_a_collection_in_the_loop() -> None:
    """Issue 23: every load moved its objects past the collector's accounting, so in a process that never ran a
    full collection each dropped engine stayed (a straight line, 0.5 MiB a load). A fresh interpreter with the
    default collector settings, no ``gc.collect()`` anywhere: the heap after the last loads is within a quarter (plus
    slack) of the heap after the first few, where it grew by about 6,000 blocks a load before."""
    loads = 24
    out = subprocess.run([sys.executable, "-c", _GROWTH_SCRIPT, str(POLICIES), str(loads)], capture_output=True,
                         text=True, check=True, timeout=600).stdout
    blocks = json.loads(out)
    settled = min(blocks[3:8])
    assert max(blocks[-8:]) - settled < 0.5 * settled, f"the heap grew: {blocks[::5]}"


def _closure(fn: Any, name: str) -> Any:
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ()), strict=True))[name]


def test_the_class_memo_is_bounded() -> None:
    engine = policyengine.load(BASE_FILE)
    plain = engine.evaluate.__globals__["PLAIN"]
    decisions = engine.evaluate(unittest.mock.Mock(), {"role": "admin"})  # every Mock is a class of its own
    for i in range(codegen.CLASS_MEMO_LIMIT + 50):
        decisions = engine.evaluate(type(f"Order{i}", (), {"status": "Error"})(), {"role": "admin"})
    assert not any(d.enabled and d.errors for d in decisions.values())
    assert 0 < len(plain) <= codegen.CLASS_MEMO_LIMIT


def test_the_fail_closed_memo_is_bounded_and_shares_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "SLOW_MEMO_CELLS", 200)  # 25 results of 8 actions: quick to fill
    engine = policyengine.load(BASE_FILE)
    slow = engine.evaluate.__globals__["slow"]
    memo, capacity = _closure(slow, "slow_memo"), _closure(slow, "slow_capacity")
    checked = _closure(_closure(slow, "problem_or_value"), "checked")
    order = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False, "store": {"id": "x"}}
    results = {id(engine.evaluate(order, {"role": "admin"})) for _ in range(50)}
    assert len(results) == 1  # the same bad input: one shared result
    for i in range(capacity + 100):  # every value new: the memo starts afresh when full
        engine.evaluate({**order, "status": f"Weird{i}"}, {"role": "admin"})
    assert 0 < len(memo) <= capacity
    assert 0 < len(checked) <= codegen.SLOW_MEMO_CELLS


@pytest.mark.parametrize("path", [BASE_FILE, POLICIES])
def test_a_batch_of_bad_orders_shares_its_results(path: Any) -> None:
    engine = policyengine.load(path)
    orders = [{"id": f"o{i}", "status": "Error", "has_shipment": False, "sent_to_warehouse": False,
               "store": {"id": "x"}} for i in range(2000)]
    results = engine.evaluate_many([(o, {"role": "admin"}) for o in orders])
    assert len({id(r) for r in results}) == 1
    bulk = engine.bulk("revalidate", orders, {"role": "admin"})
    assert bulk.applicable == () and len(bulk.skipped) == 1


def test_memos_keep_no_large_host_values() -> None:
    engine = policyengine.load(BASE_FILE)
    slow = engine.evaluate.__globals__["slow"]
    memos = [_closure(slow, "slow_memo"), _closure(_closure(slow, "problem_or_value"), "checked")]
    order = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False,
             "store": {"id": "x", "manual_fulfillment": True}}
    for i in range(20):
        big = f"{i}" + "x" * 1_000_000
        engine.evaluate({**order, "status": big}, {"role": "admin"})
        engine.evaluate_many([({**order, "status": big}, {"role": "admin"})])
    assert all(len(repr(key)) < 10_000 for memo in memos for key in memo)
