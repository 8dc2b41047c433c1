"""Run the studio for tests: in a thread of this process, on a free port of 127.0.0.1, over a copy of policies/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from policyengine.studio.app import Impact, create_app

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def copy_policies(tmp: Path) -> Path:
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


class Running:
    def __init__(self, root: Path, url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.root, self.url, self.server, self.thread = root, url, server, thread

    def post(self, name: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        origin = self.url.rstrip("/")
        return httpx.post(f"{origin}/api/{name}", json=body, headers={"Origin": origin, **headers}, timeout=60)


@contextmanager
def studio(root: Path, *, token: str | None = None, impact: Impact | None = None) -> Iterator[Running]:
    """The studio on ``root``, listening until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app = create_app(str(root), token=token, impact=impact)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while not server.started:  # bounded: the server starts in well under the deadline, or the test fails
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the studio did not start")
        time.sleep(0.02)
    try:
        yield Running(root, url, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
