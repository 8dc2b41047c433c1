"""Running the decision service for real in tests: a uvicorn server on a free loopback port, in a thread.

``running(app)`` yields the base URL of a server serving ``app``; it binds ``127.0.0.1:0`` itself (the kernel picks a
free port, so parallel runs cannot collide) and stops the server on exit. Tests call it with httpx, as a client
application would. ``policy_copy(tmp_path)`` copies the shipped policies, for tests that change them. ``serving(*args)`` runs
``policyengine serve`` itself, as a process, and yields its port once it serves.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from conftest import POLICIES

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# An ACME order from Amazon that the warehouse shipped: several guards fire (README, "Store overrides").
SHIPPED_ACME = {"status": "Shipped", "has_shipment": True, "sent_to_warehouse": True, "channel": "amazon",
                "store": {"id": "acme", "manual_fulfillment": False}}
ADMIN = {"role": "admin"}

EXE = Path(sys.executable).with_name("policyengine")


@contextmanager
def serving(*args: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``policyengine serve`` on the shipped policies and a free loopback port, with ``args``: its port and process,
    once it says it serves (read from its log, never waited for by time); SIGTERM on exit."""
    proc = subprocess.Popen([str(EXE), "serve", str(POLICIES), "--port", "0", "--no-watch", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    port = None
    for line in proc.stderr:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        port = port or (int(match.group(1)) if match else None)
        if "serving revision" in line:
            break
    assert port, "policyengine serve did not start"
    try:
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


@contextmanager
def running(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def policy_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped policy files (policies and store overrides only)."""
    target = tmp_path / "policies"
    target.mkdir()
    shutil.copy(POLICIES / "order-actions.yaml", target)
    shutil.copytree(POLICIES / "stores", target / "stores")
    return target


class Records(logging.Handler):
    """Collects the decision records emitted on a logger."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []
        self.logger = logger
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.decision)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.logger.removeHandler(self)
        super().close()


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step (write a sibling, rename it over), as editors and deploy tools do."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def variant(base: str, n: int) -> str:
    """The shipped base policy with two labels marked ``vN``: a response shows which set decided it."""
    return base.replace("label: Reset\n", f"label: Reset v{n}\n").replace("label: Delete\n", f"label: Delete v{n}\n")


BROKEN = "label: [Reset"
"""What :func:`broken` writes: a YAML syntax error."""


def broken(base: str) -> str:
    return base.replace("label: Reset\n", BROKEN + "\n")


def marks(labels: Any) -> set[str]:
    """The variant numbers a set of labels carries (``{"3"}`` for one set, more when sets were mixed)."""
    return {label.split(" v")[1] if " v" in label else "shipped" for label in labels
            if label.startswith(("Reset", "Delete"))}
