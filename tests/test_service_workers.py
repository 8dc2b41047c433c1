"""``policyengine serve --workers N`` (issue 23): N processes share one port, each reloads the same revision, and
``/metrics`` reads as one service whichever worker answers. Polls have bounds; nothing is timed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from service_support import ADMIN, SHIPPED_ACME, policy_copy

EXE = Path(sys.executable).with_name("policyengine")


def _revisions(url: str) -> list[str]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    # the revision each worker serves (value 1; one it served before stays in the shared files with 0)
    pattern = r'^policyengine_policy_info\{pid="\d+",policy="[^"]*",revision="([0-9a-f]+)",version="\d+"\} 1\.0$'
    return re.findall(pattern, text, re.M)


def _poll(check: object, what: str) -> None:
    deadline = time.monotonic() + 60  # a bound only a hang reaches
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_two_workers_share_a_port_reload_alike_and_count_as_one(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    proc = subprocess.Popen([str(EXE), "serve", str(root), "--port", "0", "--workers", "2"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        url, loaded = None, 0
        for line in proc.stderr:
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+) \(.*2 workers\)", line)
            url = url or (match.group(1) if match else None)
            loaded += line.count("serving revision")  # two workers' lines may share one
            if loaded == 2:
                break
        assert url, "policyengine serve --workers 2 did not start"
        first = _revisions(url)
        assert len(first) == 2 and len(set(first)) == 1, first  # two workers, one revision
        for _ in range(40):  # a new connection each: the kernel spreads them over the workers
            response = httpx.post(f"{url}/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}, timeout=30)
            assert response.status_code == 200
        # each worker adds its requests to the shared files a moment after answering them
        _poll(lambda: 'policyengine_http_requests_total{method="POST",route="/v1/evaluate",status="200"} 40.0'
              in httpx.get(f"{url}/metrics", timeout=30).text, "the two workers' requests did not add up to 40")
        assert "policyengine_ready 1.0" in httpx.get(f"{url}/metrics", timeout=30).text
        policy = root / "order-actions.yaml"
        policy.write_text(policy.read_text().replace("label: Reprocess", "label: Process again"))
        _poll(lambda: (r := _revisions(url)) and len(r) == 2 and len(set(r)) == 1 and r[0] != first[0],
              "the workers did not both reach the new revision")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
