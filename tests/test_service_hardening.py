"""The service as an attacker and an operator try it (issue 23): bounded reloads, logged refusals, read deadlines,
JSON for malformed requests, a bounded graceful shutdown, and start-up arguments refused before anything starts.

Servers run as subprocesses on loopback (port 0). Nothing here measures time: deadlines are given small values and
each wait has a generous bound that only a hang would reach.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import run_cli
from conftest import POLICIES
from service_support import policy_copy, serving

import policyengine
from policyengine.service.live import LoadRecord


# -- reloads read through the bounded reader ----------------------------------------------------------------------
def _reload_in_thread(live: policyengine.LivePolicies) -> LoadRecord:
    records: list[LoadRecord] = []
    thread = threading.Thread(target=lambda: records.append(live.reload()), daemon=True)
    thread.start()
    thread.join(timeout=120)  # a bound only a blocked reload reaches
    assert not thread.is_alive(), "the reload blocked"
    return records[0]


def test_a_huge_file_under_tests_is_not_read_by_a_reload(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    with policyengine.live(root, watch=False) as live:
        (root / "tests").mkdir()
        with open(root / "tests" / "huge.yaml", "wb") as file:  # sparse: 300 MiB that cost no disk
            file.truncate(300 << 20)
        tracemalloc.start()
        try:
            record = _reload_in_thread(live)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert record.ok and record is live.status.serving  # the files that decide did not change
        assert peak < 32 << 20, f"the reload allocated {peak >> 20} MiB"


def test_a_huge_store_file_is_refused_by_size_without_reading_it(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    with policyengine.live(root, watch=False) as live:
        with open(root / "stores" / "huge.yaml", "wb") as file:
            file.truncate(300 << 20)
        tracemalloc.start()
        try:
            record = _reload_in_thread(live)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not record.ok and peak < 32 << 20
        assert [d.message for d in record.diagnostics] == [f"file is too large ({300 << 20} bytes; the limit is 1048576)"]


def test_a_fifo_anywhere_cannot_stall_a_reload(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    with policyengine.live(root, watch=False) as live:
        (root / "tests").mkdir()
        os.mkfifo(root / "tests" / "suite.yaml")
        os.mkfifo(root / "stores" / "pipe.yaml")
        assert _reload_in_thread(live).ok  # neither is listed: a FIFO is not a regular file


def test_a_refused_reload_is_logged_with_its_location(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = policy_copy(tmp_path)
    with policyengine.live(root, watch=False) as live:
        text = (root / "order-actions.yaml").read_text()
        (root / "order-actions.yaml").write_text(text.replace("label:", "labl:", 1))
        with caplog.at_level(logging.WARNING, logger="policyengine.live"):
            record = live.reload()
    assert not record.ok
    [logged] = [r for r in caplog.records if r.name == "policyengine.live"]
    assert logged.levelno == logging.WARNING
    first = record.diagnostics[0]
    assert f"{first.file}:{first.line}:{first.column}: {first.message}" in logged.getMessage()
    assert "the last good set keeps serving" in logged.getMessage()


# -- start-up arguments -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "--port: must be between 0 and 65535, got 70000"),
    (["--port", "-1"], "--port: must be between 0 and 65535, got -1"),
    (["--log-sample", "2"], "--log-sample: must be between 0 and 1, got 2.0"),
    (["--log-sample", "nan"], "--log-sample: must be between 0 and 1, got nan"),
    (["--header-timeout", "0"], "--header-timeout: must be more than 0 and at most 86400 seconds, got 0.0"),
    (["--shutdown-timeout", "inf"], "--shutdown-timeout: must be more than 0 and at most 86400 seconds, got inf"),
    (["--token-file", "/dev/zero"], "--token-file: cannot read /dev/zero (not a regular file (a FIFO, device or socket))"),
])
def test_bad_start_up_arguments_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], args: list[str],
                                                        message: str) -> None:
    code, out, err = run_cli(capsys, "serve", str(POLICIES), *args)
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1 and message in err, err


def test_a_token_file_that_is_a_fifo_or_huge_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "huge", "wb") as file:
        file.truncate(1 << 30)
    for name, reason in (("fifo", "not a regular file (a FIFO, device or socket)"),
                         ("huge", "1073741824 bytes; the limit is 4096")):
        code, _, err = run_cli(capsys, "serve", str(POLICIES), "--port", "0", "--token-file", str(tmp_path / name))
        assert code == 2 and f"--token-file: cannot read {tmp_path / name} ({reason})" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- deadlines, JSON errors, shutdown -------------------------------------------------------------------------------
def _answer(port: int, data: bytes) -> bytes:
    """What the server sends back on a connection that sent ``data`` and then nothing, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _json_error(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), raw
    return int(head.split(b" ")[1]), json.loads(body)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with serving("--header-timeout", "0.5", "--body-timeout", "0.5") as (port, _):
        yield port


def test_half_sent_headers_are_answered_408_and_closed(server: int) -> None:
    status, body = _json_error(_answer(server, b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\n"))
    assert status == 408 and body["error"] == "timeout" and "headers" in str(body["message"])


def test_a_connection_that_sends_nothing_is_closed(server: int) -> None:
    status, body = _json_error(_answer(server, b""))
    assert status == 408 and body["error"] == "timeout"


def test_a_body_that_never_arrives_is_answered_408(server: int) -> None:
    raw = _answer(server, b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"order\"")
    status, body = _json_error(raw)
    assert status == 408 and body["error"] == "timeout" and "body" in str(body["message"])


@pytest.mark.parametrize("request_bytes", [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                                           b"POST /v1/evaluate HTTP/1.1\r\nContent-Length: abc\r\n\r\n"])
def test_malformed_http_is_answered_in_json(server: int, request_bytes: bytes) -> None:
    status, body = _json_error(_answer(server, request_bytes))
    assert status == 400 and body["error"] == "invalid_http"


def test_sigterm_with_a_stalled_body_exits_after_the_shutdown_timeout() -> None:
    with serving("--body-timeout", "3600", "--shutdown-timeout", "1") as (port, proc):
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        try:
            sock.sendall(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            # a request in flight: the body check waits for the rest, which never comes
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) in (0, -signal.SIGTERM)  # a bound a hang alone reaches
        finally:
            sock.close()
