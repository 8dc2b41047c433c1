"""Run the studio for tests: in a thread of this process, on a free port of 127.0.0.1, over a copy of policies/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from policyengine.studio.app import Impact
from policyengine.studio.server import serve_in_thread

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def copy_policies(tmp: Path) -> Path:
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


class Running:
    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url

    def post(self, name: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        origin = self.url.rstrip("/")
        return httpx.post(f"{origin}/api/{name}", json=body, headers={"Origin": origin, **headers}, timeout=60)


@contextmanager
def studio(root: Path, *, token: str | None = None, impact: Impact | None = None) -> Iterator[Running]:
    """The studio on ``root``, listening until the block ends."""
    with serve_in_thread(root, token=token, impact=impact) as running:
        yield Running(root, running.url)
