"""The studio served from a thread of this process, on a port of 127.0.0.1 the OS picks: for tests, benches and
embedding (``policyengine studio`` runs the same app in the foreground)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import uvicorn

from .app import Impact, create_app

__all__ = ["Running", "serve_in_thread"]


@attrs.frozen(slots=True)
class Running:
    root: Path
    url: str
    """``http://127.0.0.1:PORT/``"""


@contextmanager
def serve_in_thread(root: str | Path, *, token: str | None = None, impact: Impact | None = None,
                    start_timeout: float = 30.0) -> Iterator[Running]:
    """The studio on the policy directory ``root``, answering until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(str(root), token=token, impact=impact), log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:  # bounded: it starts well within the deadline, or this raises
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the studio did not start")
            time.sleep(0.02)
        yield Running(Path(root), f"http://127.0.0.1:{port}/")
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout)
        sock.close()
