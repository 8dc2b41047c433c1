"""Reload under load: HTTP clients keep calling the service while the policy files change, good and bad, many times
(picked up by the file watcher). No request fails or sees a mixed set, the last good revision serves after a bad
change, and the status reports the refused set's diagnostics."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from service_support import ADMIN, SHIPPED_ACME, broken, marks, policy_copy, running, variant, write_atomically

import policyengine
from policyengine.service.app import create_app


def unsupported_version(text: str) -> str:
    return text.replace("apiVersion: policyengine/v1", "apiVersion: policyengine/v9")


def test_reload_under_load(tmp_path: Path) -> None:
    tree = policy_copy(tmp_path)
    base = tree / "order-actions.yaml"
    shipped = base.read_text()
    revisions = {}
    for n in range(3):
        write_atomically(base, variant(shipped, n))
        revisions[policyengine.load(tree).revision] = {str(n)}
    write_atomically(base, variant(shipped, 0))
    changes = [(variant(shipped, 1), True), (broken(shipped), False), (variant(shipped, 2), True),
               (unsupported_version(shipped), False), (variant(broken(shipped), 0), False), (variant(shipped, 0), True),
               (variant(shipped, 1), True), (broken(shipped), False), (variant(shipped, 2), True)]

    answers: list[tuple[str, Any]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(url: str, batch: bool) -> None:
        pair = {"order": SHIPPED_ACME, "user": ADMIN}
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    if batch:
                        response = http.post("/v1/evaluate/batch", json={"pairs": [pair] * 5})
                    else:
                        response = http.post("/v1/evaluate", json=pair)
                except httpx.HTTPError as err:  # a refused or dropped connection is a failed request too
                    failures.append(repr(err))
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    answers.append(("batch" if batch else "evaluate", response.json()))

    with policyengine.LivePolicies(tree, debounce_ms=50) as live:
        with running(create_app(live)) as url:
            threads = [threading.Thread(target=client, args=(url, k == 2)) for k in range(3)]
            for thread in threads:
                thread.start()
            good = live.engine.revision
            with httpx.Client(base_url=url) as http:
                for text, loads in changes:
                    before = live.status.last
                    write_atomically(base, text)
                    deadline = time.monotonic() + 30
                    while live.status.last is before:
                        assert time.monotonic() < deadline, "the change was not picked up"
                        time.sleep(0.02)
                    time.sleep(0.1)  # let the clients call this set for a while
                    policies = http.get("/v1/policies").json()
                    if loads:
                        good = live.engine.revision
                        assert policies["status"]["failed"] is None
                    else:
                        assert live.status.failed is not None, "a bad set was not refused"
                        assert policies["status"]["failed"]["diagnostics"], policies
                        assert policies["status"]["failed"]["diagnostics"][0]["file"].endswith("order-actions.yaml")
                    assert policies["revision"] == good == live.engine.revision  # the last good set serves
            stop.set()
            for thread in threads:
                thread.join()
    assert failures == []
    assert live.status.failures == 4 and live.status.reloads >= 6
    served = set()
    for kind, answer in answers:
        menus = answer["results"] if kind == "batch" else [answer]
        assert len({m["revision"] for m in menus}) == 1  # one batch, one set
        for menu in menus:
            assert revisions[menu["revision"]] == marks(a["label"] for a in menu["actions"])
            served.add(menu["revision"])
    assert len(served) == 3  # the clients saw every good set while they kept calling
