"""``policyengine serve`` as a user runs it: a subprocess on loopback (port 0), with a token file and a decision log
file; usage errors exit 2 before anything listens."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import run_cli
from conftest import POLICIES
from service_support import ADMIN, SHIPPED_ACME, TOKEN

EXE = Path(sys.executable).with_name("policyengine")


@pytest.fixture()
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def serve(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen([str(EXE), "serve", str(POLICIES), "--port", "0", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    url, workers, serving = None, 1, 0
    for line in proc.stderr:  # until every worker serves (one that still loads would answer 503)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+) \(.*, (\d+) workers?\)", line)
        if match:
            url, workers = match.group(1), int(match.group(2))
        serving += line.count("serving revision")  # two workers' lines may share one
        if serving >= workers:
            break
    assert url, "policyengine serve did not start"
    try:
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_serve_with_a_token_and_a_decision_log(tmp_path: Path, token_file: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    server = serve("--token-file", str(token_file), "--decision-log", str(log), "--log-mask", "user.role")
    url, proc = next(server)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "cli-1"}
        assert httpx.post(f"{url}/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}).status_code == 401
        response = httpx.post(f"{url}/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}, headers=headers)
        assert response.status_code == 200 and response.json()["store_override"] == "acme@1"
        assert httpx.get(f"{url}/readyz").json()["ready"] is True
    finally:
        next(server, None)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn shuts down cleanly, then exits by the signal it got
    [line] = log.read_text().splitlines()
    record = json.loads(line)
    assert record["request_id"] == "cli-1" and record["decisions"][0]["facts"]["user.role"] == "[masked]"


def test_decision_log_to_stdout() -> None:
    server = serve("--decision-log", "-", "--no-watch")
    url, proc = next(server)
    try:
        httpx.post(f"{url}/v1/evaluate/batch", json={"pairs": [{"order": SHIPPED_ACME, "user": ADMIN}] * 2})
    finally:
        next(server, None)
    assert proc.stdout is not None
    [line] = proc.stdout.read().splitlines()
    assert json.loads(line)["kind"] == "batch"


@pytest.mark.parametrize(("args", "message"), [
    (["--token-file", "/nonexistent/token"], "--token-file: cannot read"),
    (["--log-sample", "2", "--decision-log", "-"], "--log-sample: must be between 0 and 1"),
    (["--max-body", "0"], "--max-body: must be at least 1"),
    (["--decision-log", "/nonexistent/dir/log.jsonl"], "--decision-log: cannot open"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, "serve", str(POLICIES), "--port", "0", *args)
    assert code == 2 and message in err


def test_a_short_token_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short\n")
    code, _, err = run_cli(capsys, "serve", str(POLICIES), "--port", "0", "--token-file", str(tmp_path / "token"))
    assert code == 2 and "at least 16 printable ASCII characters" in err


def test_a_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "serve", str(tmp_path / "nope"), "--port", "0")
    assert code == 2 and "no such file or directory" in err
