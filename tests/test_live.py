"""policyengine.live / LivePolicies: loading, reloading (on demand and watched), refusing a set that does not load
while the last good one serves, status, readiness, concurrent readers, and decision logs through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import POLICIES
from service_support import ADMIN, BROKEN, SHIPPED_ACME, Records, broken, marks, policy_copy, variant, write_atomically

import policyengine
from policyengine.service import JsonLinesFormatter, NotReady


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return policy_copy(tmp_path)


@pytest.fixture()
def records() -> Iterator[Records]:
    handler = Records(logging.getLogger(f"test.live.{uuid.uuid4().hex}"))
    yield handler
    handler.close()


def labels(live: policyengine.LivePolicies) -> set[str]:
    return {d.label for d in live.evaluate(SHIPPED_ACME, ADMIN).values()}


def test_live_serves_what_load_loads(tree: Path) -> None:
    with policyengine.live(tree, watch=False) as live:
        assert live.engine.revision == policyengine.load(tree).revision
        status = live.status
        assert status.ready and status.serving is not None and status.serving.ok
        assert (status.reloads, status.failures, status.failed, status.revision) == (1, 0, None, live.engine.revision)
        assert status.serving.diagnostics == () and status.serving.at.tzinfo is not None
    assert live.status.watching is False
    assert live.engine.revision == status.revision  # closing stops watching; the last set still answers


def test_a_first_set_that_does_not_load_raises(tree: Path) -> None:
    base = tree / "order-actions.yaml"
    base.write_text(broken(base.read_text()))
    with pytest.raises(policyengine.PolicyError) as caught:
        policyengine.live(tree, watch=False)
    assert caught.value.diagnostics[0].file.endswith("order-actions.yaml")


def test_reload_swaps_good_sets_and_refuses_bad_ones(tree: Path) -> None:
    base = tree / "order-actions.yaml"
    shipped = base.read_text()
    with policyengine.live(tree, watch=False) as live:
        first = live.engine
        write_atomically(base, variant(shipped, 1))
        record = live.reload()
        assert record.ok and record.revision == live.engine.revision != first.revision
        assert marks(labels(live)) == {"1"}
        good = live.engine
        write_atomically(base, broken(shipped))
        refused = live.reload()
        assert not refused.ok and refused.revision is None
        assert live.engine is good and marks(labels(live)) == {"1"}  # the last good set keeps serving
        status = live.status
        assert status.failed == refused and status.last == refused and status.serving == record
        assert status.diagnostics == refused.diagnostics and status.failed_at == refused.at
        assert status.revision == record.revision and status.loaded_at == record.at
        assert (status.reloads, status.failures) == (2, 1)
        [diagnostic] = refused.diagnostics
        assert diagnostic.file.endswith("order-actions.yaml") and "started at line 80" in diagnostic.message
        assert refused.digest != record.digest
        write_atomically(base, variant(shipped, 1))  # back to the set that serves: nothing to load
        assert live.reload() == record and live.status.failed is None and live.engine is good
        assert live.status.diagnostics == () and live.status.failed_at is None
        assert live.status.reloads == 2


def test_not_ready_until_the_first_set_loads(tree: Path) -> None:
    base = tree / "order-actions.yaml"
    shipped = base.read_text()
    base.write_text(broken(shipped))
    with policyengine.LivePolicies(tree, watch=False, wait=False) as live:
        assert not live.wait_ready(0.2)
        with pytest.raises(NotReady):
            live.engine  # noqa: B018
        with pytest.raises(policyengine.PolicyError):  # NotReady is a PolicyError
            live.evaluate(SHIPPED_ACME, ADMIN)
        assert live.status.failed is not None and not live.status.ready
        base.write_text(shipped)
        assert live.wait_ready(30)  # retried in the background
        assert live.engine.revision == policyengine.load(tree).revision


def test_watching_reloads_on_change_and_keeps_the_last_good_set(tree: Path) -> None:
    base = tree / "order-actions.yaml"
    shipped = base.read_text()

    def settle(condition: object) -> None:
        deadline = time.monotonic() + 30
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, live.status
            time.sleep(0.05)

    with policyengine.live(tree) as live:
        assert live.status.watching
        write_atomically(base, variant(shipped, 7))
        settle(lambda: marks(labels(live)) == {"7"})
        good = live.engine.revision
        base.write_text(broken(shipped))  # written in place, as a careless editor would
        settle(lambda: live.status.failed is not None)
        assert live.engine.revision == good and BROKEN not in labels(live)
        (tree / "stores" / "notes.txt").write_text("not a policy file")  # ignored
        write_atomically(base, variant(shipped, 8))
        settle(lambda: marks(labels(live)) == {"8"})
        assert live.status.failed is None
    assert not live.status.watching


def test_concurrent_readers_never_see_a_mixed_set(tree: Path) -> None:
    base = tree / "order-actions.yaml"
    shipped = base.read_text()
    expected = {}
    for n in range(3):
        write_atomically(base, variant(shipped, n))
        expected[policyengine.load(tree).revision] = {str(n)}
    seen: list[tuple[str, set[str]]] = []
    stop = threading.Event()
    with policyengine.live(tree, watch=False) as live:

        def reader() -> None:
            while not stop.is_set():
                decisions = live.evaluate(SHIPPED_ACME, ADMIN)
                seen.append((decisions.revision, marks(d.label for d in decisions.values())))
                time.sleep(0.0005)  # leave the loading thread some of the GIL

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for thread in threads:
            thread.start()
        for text in (variant(shipped, 1), broken(shipped), variant(shipped, 0), variant(shipped, 1), broken(shipped)):
            write_atomically(base, text)
            live.reload()
        stop.set()
        for thread in threads:
            thread.join()
    assert len(seen) > 5 and live.status.failures == 2
    assert all(expected[revision] == found for revision, found in seen)


def test_import_policyengine_and_live_without_watching_need_no_extra() -> None:
    code = ("import sys, policyengine; live = policyengine.live(sys.argv[1], watch=False); live.close(); "
            "print(sorted(m for m in ('watchfiles', 'starlette', 'uvicorn', 'prometheus_client', 'fastjsonschema') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(POLICIES)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- decision logs through the API -------------------------------------------------------------------------------------
def test_decision_log_records_one_per_call(records: Records) -> None:
    log = policyengine.DecisionLog(records.logger, hash=["store.id"], hash_key=b"secret", mask=["order.channel"])
    with policyengine.live(POLICIES, watch=False, decision_log=log) as live:
        live.evaluate(SHIPPED_ACME, ADMIN, request_id="one")
        live.evaluate_many([(SHIPPED_ACME, ADMIN)] * 2, request_id="two")
        live.bulk("delete", [SHIPPED_ACME], ADMIN, request_id="three")
        live.explain(SHIPPED_ACME, ADMIN, request_id="four")
        live.engine.evaluate(SHIPPED_ACME, ADMIN)  # the engine itself never logs
    assert [(r["request_id"], r["kind"], len(r["decisions"])) for r in records.records] == [
        ("one", "evaluate", 1), ("two", "batch", 2), ("three", "bulk", 1), ("four", "explain", 1)]
    facts = records.records[0]["decisions"][0]["facts"]
    assert facts["store.id"] == "hmac-sha256:" + hmac.new(b"secret", b'"acme"', hashlib.sha256).hexdigest()
    assert facts["order.channel"] == "[masked]" and facts["user.role"] == "admin"


def test_decision_log_sampling(records: Records) -> None:
    with policyengine.live(POLICIES, watch=False, decision_log=policyengine.DecisionLog(records.logger, sample=0)) as live:
        for _ in range(20):
            live.evaluate(SHIPPED_ACME, ADMIN)
    assert records.records == []
    log = policyengine.DecisionLog(records.logger, sample=0.5, seed=13)
    with policyengine.live(POLICIES, watch=False, decision_log=log) as live:
        for _ in range(200):
            live.evaluate(SHIPPED_ACME, ADMIN)
    assert 60 < len(records.records) < 140
    with pytest.raises(ValueError):
        policyengine.DecisionLog(sample=1.5)


def test_decision_log_as_json_lines(tmp_path: Path) -> None:
    logger = logging.getLogger(f"test.jsonl.{uuid.uuid4().hex}")
    handler = logging.FileHandler(tmp_path / "decisions.jsonl")
    handler.setFormatter(JsonLinesFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with policyengine.live(POLICIES, watch=False, decision_log=policyengine.DecisionLog(logger)) as live:
            live.evaluate(SHIPPED_ACME, ADMIN, request_id="a")
            live.evaluate({"status": "New", "store": {"id": "globex"}}, ADMIN, request_id="b")
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["a", "b"]
    second = json.loads(lines[1])["decisions"][0]
    assert second["store_override"] == "globex@2"
    assert {"fact": "order.has_shipment", "message": "missing"} in second["errors"]
