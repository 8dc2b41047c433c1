"""Signed bundles for a fleet (issue 23): ``policyengine bundle keygen/build/sign/verify``, and ``serve --bundle``
polling a static file server, keeping the last good set on a tampered or truncated bundle. Polls have bounds;
nothing is timed."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cli_support import run_cli
from service_support import ADMIN, SHIPPED_ACME, policy_copy

import policyengine
from policyengine.service import bundle

EXE = Path(sys.executable).with_name("policyengine")


def _make(capsys: pytest.CaptureFixture[str], root: Path, out: Path, key: Path) -> bytes:
    assert run_cli(capsys, "bundle", "build", str(root), "-o", str(out) + ".unsigned")[0] == 0
    assert run_cli(capsys, "bundle", "sign", str(out) + ".unsigned", "--key", str(key), "-o", str(out))[0] == 0
    return out.read_bytes()


def test_build_sign_verify_and_refuse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = tmp_path / "key"
    assert run_cli(capsys, "bundle", "keygen", "-o", str(key))[0] == 0
    signed = _make(capsys, policy_copy(tmp_path), tmp_path / "set.signed", key)
    code, out, _ = run_cli(capsys, "bundle", "verify", str(tmp_path / "set.signed"), "--key", f"{key}.pub")
    revision = policyengine.load(tmp_path / "policies").revision
    assert (code, out) == (0, f"{tmp_path / 'set.signed'}: signature good, revision {revision}\n")
    other = tmp_path / "other"
    run_cli(capsys, "bundle", "keygen", "-o", str(other))
    tampered = signed[:-40] + bytes([signed[-40] ^ 1]) + signed[-39:]
    for name, data, pub in (("tampered", tampered, f"{key}.pub"), ("truncated", signed[: len(signed) // 2], f"{key}.pub"),
                            ("other-key", signed, f"{other}.pub")):
        (tmp_path / name).write_bytes(data)
        code, out, err = run_cli(capsys, "bundle", "verify", str(tmp_path / name), "--key", pub)
        assert (code, out) == (1, "") and "the signature does not match" in err, name


def test_a_bundle_with_a_path_outside_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    private, public = bundle.generate_key()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.yaml")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    signed = bundle.sign_bundle(raw.getvalue(), private)
    with pytest.raises(bundle.BundleError, match="only files at relative paths"):
        bundle.open_bundle(signed, bundle.load_public_key(public), tmp_path)
    assert not (tmp_path.parent / "escape.yaml").exists()


# -- the fleet ------------------------------------------------------------------------------------------------------
@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _publish(site: Path, data: bytes) -> None:
    (site / "set.tmp").write_bytes(data)
    (site / "set.tmp").replace(site / "set.signed")  # whole, in one step: the client never sees it half-written


def _revisions(url: str) -> list[str]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    pattern = r'^policyengine_policy_info\{pid="\d+",policy="[^"]*",revision="([0-9a-f]+)",version="\d+"\} 1\.0$'
    return re.findall(pattern, text, re.M)


def _poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120  # a bound only a hang reaches
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _all_on(urls: list[str], revision: str) -> bool:
    return all((r := _revisions(u)) and len(r) == 2 and set(r) == {revision} for u in urls)


def _refused(url: str, digest: str) -> bool:
    failed = httpx.get(f"{url}/v1/policies", timeout=30).json()["status"]["failed"]
    return failed is not None and failed["digest"] == digest


def test_a_fleet_follows_one_signed_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = tmp_path / "key"
    run_cli(capsys, "bundle", "keygen", "-o", str(key))
    root = policy_copy(tmp_path)
    first = _make(capsys, root, tmp_path / "a.signed", key)
    policy = root / "order-actions.yaml"
    policy.write_text(policy.read_text().replace("label: Reprocess", "label: Process again"))
    second = _make(capsys, root, tmp_path / "b.signed", key)
    rev_a, rev_b = (bundle.open_bundle(s, bundle.load_public_key(Path(f"{key}.pub").read_bytes()),
                                       tmp_path).revision for s in (first, second))
    site = tmp_path / "site"
    site.mkdir()
    _publish(site, first)
    with static_server(site) as static:
        procs, urls = [], []
        try:
            for _ in range(3):
                proc = subprocess.Popen([str(EXE), "serve", "--port", "0", "--workers", "2", "--bundle",
                                         f"{static}/set.signed", "--bundle-key", f"{key}.pub", "--bundle-poll", "0.2"],
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
                procs.append(proc)
                assert proc.stderr is not None
                match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stderr.readline())
                assert match, "serve --bundle did not start"
                urls.append(match.group(1))
            _poll(lambda: _all_on(urls, rev_a), "the fleet did not load the first bundle")
            failures: list[str] = []
            done = threading.Event()

            def client() -> None:
                with httpx.Client(timeout=30) as http:
                    while not done.is_set():
                        for url in urls:
                            try:
                                r = http.post(f"{url}/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN})
                                if r.status_code != 200 or r.json()["revision"] not in (rev_a, rev_b):
                                    failures.append(f"{url}: {r.status_code}")
                            except httpx.HTTPError as err:
                                failures.append(f"{url}: {err!r}")
            thread = threading.Thread(target=client, daemon=True)
            thread.start()
            _publish(site, second)
            _poll(lambda: _all_on(urls, rev_b), "the fleet did not move to the new bundle")
            tampered = second[:-40] + bytes([second[-40] ^ 1]) + second[-39:]
            truncated = second[: len(second) - 100]
            for bad in (tampered, truncated):
                _publish(site, bad)
                digest = hashlib.sha256(bad).hexdigest()
                for url in urls:
                    _poll(lambda u=url, d=digest: _refused(u, d), f"{url} did not refuse the bad bundle")  # type: ignore[misc]
                assert _all_on(urls, rev_b), "a bad bundle changed what serves"
            done.set()
            thread.join(timeout=60)
            assert not failures, failures[:5]
            metrics = httpx.get(f"{urls[0]}/metrics", timeout=30).text
            assert "policyengine_reload_failing 1.0" in metrics and "policyengine_ready 1.0" in metrics
            for url in urls:  # whichever worker answers has refused the truncated bundle by now, or will shortly
                _poll(lambda u=url: httpx.get(f"{u}/readyz", timeout=30).json() ==  # type: ignore[misc]
                      {"ready": True, "revision": rev_b, "failing": True}, f"{url}/readyz does not say")
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                assert proc.wait(timeout=60) == 0


class _ETagged(http.server.BaseHTTPRequestHandler):
    """An object store's answers: the bundle with an ETag (its digest), 304 when If-None-Match names it."""

    body = b""
    seen: list[tuple[str | None, int]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        etag = '"' + hashlib.sha256(self.body).hexdigest() + '"'
        sent = self.headers.get("If-None-Match")
        status = 304 if sent == etag else 200
        self.seen.append((sent, status))
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", "0" if status == 304 else str(len(self.body)))
        self.end_headers()
        if status == 200:
            self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_poll_sends_the_etag_and_a_304_loads_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = tmp_path / "key"
    assert run_cli(capsys, "bundle", "keygen", "-o", str(key))[0] == 0
    handler = type("Handler", (_ETagged,), {"body": _make(capsys, policy_copy(tmp_path), tmp_path / "set.signed", key),
                                             "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = bundle.BundleSource(f"http://127.0.0.1:{server.server_address[1]}/set.signed",
                                     (tmp_path / "key.pub").read_bytes(), poll_seconds=1.0)
        first = source.fetch()
        assert first is not None and first.error is None and first.revision == policyengine.load(tmp_path / "policies").revision
        assert source.fetch() is None and source.fetch() is None  # unchanged: the server answers 304, nothing is read
        etag = '"' + hashlib.sha256(handler.body).hexdigest() + '"'
        assert handler.seen == [(None, 200), (etag, 304), (etag, 304)]
    finally:
        server.shutdown()
        server.server_close()
