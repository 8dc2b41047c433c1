"""Live policies: an engine that follows the files it was loaded from, keeping the last good set on failure.

:class:`LivePolicies` holds one :class:`Snapshot` (an engine, what was prepared for it, and how it was loaded) and
replaces it with a single attribute assignment when a new set has loaded completely. A reader takes the snapshot
once per request and uses only it, so no request ever sees half of one set and half of another; the old engine
stays alive for as long as a request still holds it. A set that does not load is refused: the last good snapshot
keeps serving, and :attr:`LivePolicies.status` says which set failed, when, and why (its diagnostics).

Loads run one at a time, in the thread that asked for them: the watcher's (``watch=True``, with ``watchfiles``,
imported only then) or the caller of :meth:`LivePolicies.reload`. Readers never wait for a load.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..engine import Engine
from ..errors import Diagnostic, PolicyError
from ..layout import deciding_files, read_bounded
from ..loader import load
from ..pipeline.yamlsource import NotReadable
from ..runtime.adapters import Adapter
from ..runtime.bulk import BulkResult
from ..runtime.decision import Decisions
from .decisionlog import DecisionLog
from .view import EngineView

if TYPE_CHECKING:
    from ..analysis.explain import Explanation
    from ..cache import CacheOption
    from .bundle import BundleSource

__all__ = ["LivePolicies", "LiveStatus", "LoadRecord", "NotReady", "Snapshot", "live"]

_SUFFIXES = (".yaml", ".yml")
_log = logging.getLogger("policyengine.live")
_SETTLE_ATTEMPTS = 3


class NotReady(PolicyError):
    """No policy set has loaded yet (only with ``LivePolicies(..., wait=False)``)."""

    def __init__(self, status: LiveStatus) -> None:
        self.status = status
        diagnostics = status.failed.diagnostics if status.failed is not None else ()
        super().__init__(diagnostics)
        self.args = ("no policy set has loaded yet" + (f": {self.args[0]}" if diagnostics else ""),)


@attrs.frozen(slots=True)
class LoadRecord:
    """One attempt to load the policy set."""

    at: datetime
    """When the attempt finished (UTC)."""
    ok: bool
    digest: str
    """SHA-256 over every policy file under the path (relative path and content) as read for this attempt: names
    the set that was tried, loaded or not. (An engine's ``revision`` counts only the policy and override files.)"""
    revision: str | None = None
    """The engine's revision when the set loaded."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Why the set was refused."""
    seconds: float = 0.0
    """How long the load took."""

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "ok": self.ok, "revision": self.revision, "digest": self.digest,
                "seconds": round(self.seconds, 6), "diagnostics": [d.to_dict() for d in self.diagnostics]}


@attrs.frozen(slots=True)
class LiveStatus:
    """What :class:`LivePolicies` serves and what happened to the last attempts to change it."""

    path: str
    serving: LoadRecord | None
    """The load of the set that serves (None until one has loaded)."""
    failed: LoadRecord | None
    """The last refused set, if it is newer than the one serving (cleared when a newer set loads)."""
    last: LoadRecord | None
    """The last attempt, whatever its outcome."""
    reloads: int
    """Attempts that loaded a set (the first load included)."""
    failures: int
    """Attempts that were refused."""
    watching: bool

    @property
    def ready(self) -> bool:
        return self.serving is not None

    @property
    def revision(self) -> str | None:
        """The revision serving (None until a set has loaded)."""
        return self.serving.revision if self.serving else None

    @property
    def loaded_at(self) -> datetime | None:
        """When the set serving loaded."""
        return self.serving.at if self.serving else None

    @property
    def failed_at(self) -> datetime | None:
        """When the newest refused set was tried (None when the newest files serve)."""
        return self.failed.at if self.failed else None

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Why the newest files are refused (empty when they serve)."""
        return self.failed.diagnostics if self.failed else ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ready": self.ready, "revision": self.revision, "watching": self.watching,
                "reloads": self.reloads, "failures": self.failures,
                "serving": self.serving.to_dict() if self.serving else None,
                "failed": self.failed.to_dict() if self.failed else None,
                "last": self.last.to_dict() if self.last else None}


@attrs.frozen(slots=True)
class Snapshot:
    """One loaded policy set: what a request uses from start to end."""

    engine: Engine
    view: EngineView
    """Load-time preparations for presenting and logging this engine's decisions."""
    record: LoadRecord


def _digest(path: Path) -> str:
    """SHA-256 of the files that decide (:func:`~policyengine.layout.deciding_files`), read through the same
    bounded reader as :func:`~policyengine.engine.load`: a huge file, a FIFO or a device under the directory can
    neither stall nor balloon a reload (issue 23). A file that cannot be read counts by why: the load says so."""
    digest = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for file in deciding_files(path) if path.exists() else ():
        try:
            content = read_bounded(file)
        except NotReadable as err:  # vanished, too large, not a regular file: the load names the problem
            content = b"\xff(unreadable: " + err.reason.encode() + b")"
        digest.update(file.relative_to(root).as_posix().encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LivePolicies:
    """A policy set that reloads when its files change and never serves a set that failed to load.

    ``LivePolicies(path)`` loads the set before returning and raises :class:`PolicyError` if it does not load;
    with ``wait=False`` it returns at once, loads in the background, and :attr:`engine` raises :class:`NotReady`
    until a set has loaded. With ``watch=True`` a thread watches ``path`` (``watchfiles``, from the ``serve``
    extra) and reloads after each change; :meth:`reload` does the same on demand. ``decision_log`` turns on
    decision logging for the :meth:`evaluate`, :meth:`evaluate_many`, :meth:`bulk` and :meth:`explain` made
    through this object (``.engine.evaluate`` is never logged). ``cache`` keeps each loaded set compiled on disk
    (True: the default directory, or a directory; see :mod:`policyengine.cache`), so that a restart serving an
    unchanged set skips compiling it. Use it as a context manager, or call :meth:`close` to stop watching.
    """

    def __init__(self, path: str | Path, *, adapter: Adapter | None = None, watch: bool = True,
                 decision_log: DecisionLog | None = None, wait: bool = True, debounce_ms: int = 200,
                 on_load: Callable[[LoadRecord], None] | None = None, cache: CacheOption = None,
                 bundle_key: bytes | None = None, poll_seconds: float = 10.0) -> None:
        self._source: BundleSource | None = None
        if bundle_key is not None:  # path is the URL of a signed bundle: polled, never watched
            from .bundle import BundleSource

            self._source = BundleSource(str(path), bundle_key, poll_seconds)
            watch = False
        self._path = Path(path)
        self._cache = cache
        self._adapter = adapter
        self._log = decision_log
        self._debounce_ms = debounce_ms
        self._on_load = on_load
        self._load_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._status = LiveStatus(str(path), None, None, None, 0, 0, watch or self._source is not None)
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if watch:
            import watchfiles  # noqa: F401  (the serve extra; fail here, in the caller, when it is missing)
        if wait:
            record = self.reload()
            if not record.ok:
                raise PolicyError(record.diagnostics)
        if watch or not wait or self._source is not None:
            self._thread = threading.Thread(target=self._run, args=(watch, not wait), daemon=True,
                                            name=f"policyengine-live:{self._path}")
            self._thread.start()

    # -- reading -------------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The set serving now. Take it once per request and use only it: it never changes under you."""
        snapshot = self._snapshot
        if snapshot is None:
            raise NotReady(self._status)
        return snapshot

    @property
    def engine(self) -> Engine:
        """The engine serving now: always a fully loaded set (the last good one)."""
        return self.snapshot().engine

    @property
    def status(self) -> LiveStatus:
        return self._status

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def decision_log(self) -> DecisionLog | None:
        return self._log

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until a set has loaded (or ``timeout`` seconds passed); whether one has."""
        return self._ready.wait(timeout)

    # -- loading -------------------------------------------------------------------------------------------
    def reload(self) -> LoadRecord:
        """Load the set now (waiting for a load already running) and swap it in if it loads; the attempt's record.

        A set identical to the one serving (same digest) is not loaded again. Files that change while they are
        being read are read again, a few times, so that one load sees one state of the directory."""
        if self._source is not None:
            return self._reload_bundle(self._source)
        with self._load_lock:
            started = time.perf_counter()
            digest = _digest(self._path)
            serving = self._snapshot
            if serving is not None and digest == serving.record.digest:
                self._status = attrs.evolve(self._status, failed=None)  # the files are back to the good set
                return serving.record
            for _ in range(_SETTLE_ATTEMPTS):
                try:
                    engine: Engine | None = load(self._path, adapter=self._adapter, cache=self._cache)
                    diagnostics: tuple[Diagnostic, ...] = ()
                except PolicyError as err:
                    engine, diagnostics = None, err.diagnostics
                after = _digest(self._path)
                if after == digest:
                    break
                digest = after
            record = self._settle(engine, diagnostics, digest, started)
        if self._on_load is not None:
            self._on_load(record)
        return record

    def _settle(self, engine: Engine | None, diagnostics: tuple[Diagnostic, ...], digest: str,
                started: float) -> LoadRecord:
        """Record an attempt, and swap its engine in when it loaded (the caller holds the load lock)."""
        seconds = time.perf_counter() - started
        if engine is None:
            record = LoadRecord(_now(), False, digest, None, diagnostics, seconds)
            self._status = attrs.evolve(self._status, failed=record, last=record, failures=self._status.failures + 1)
            _log.warning("the policies at %s were refused; the last good set keeps serving:\n%s", self._path,
                         "\n".join(f"  {d}" for d in diagnostics))
            return record
        record = LoadRecord(_now(), True, digest, engine.revision, (), seconds)
        # everything is prepared before the swap: the first request on the new set does no load-time work
        self._snapshot = Snapshot(engine, EngineView(engine, self._log), record)
        self._status = attrs.evolve(self._status, serving=record, failed=None, last=record,
                                    reloads=self._status.reloads + 1)
        self._ready.set()
        return record

    def _reload_bundle(self, source: BundleSource) -> LoadRecord:
        """Fetch the bundle (If-None-Match), verify it, load it as a directory, and check its revision."""
        with self._load_lock:
            started = time.perf_counter()
            fetched = source.fetch()
            if fetched is None:  # not modified, the same bytes as before, or unreachable (logged, backing off)
                return self._status.last or LoadRecord(_now(), False, "", None)
            engine: Engine | None = None
            diagnostics: tuple[Diagnostic, ...] = (Diagnostic(source.url, 1, 1, fetched.error),) if fetched.error else ()
            if fetched.directory is not None:
                try:
                    engine = load(fetched.directory, adapter=self._adapter, cache=self._cache)
                    if engine.revision != fetched.revision:
                        engine, diagnostics = None, (Diagnostic(source.url, 1, 1, "the bundle's files do not have "
                                                                f"the revision its manifest says ({fetched.revision})"),)
                except PolicyError as err:
                    diagnostics = err.diagnostics
                source.settled(fetched, engine is not None)
            record = self._settle(engine, diagnostics, fetched.digest, started)
        if self._on_load is not None:
            self._on_load(record)
        return record

    def _changes(self) -> Iterator[Any]:
        import watchfiles

        # A file is watched through its directory: editors replace files (write a copy, rename it over), which
        # a watch on the file itself would lose after the first save.
        target = self._path if self._path.is_dir() else self._path.parent
        name = None if self._path.is_dir() else self._path.name

        def relevant(_change: Any, changed: str) -> bool:
            return Path(changed).name == name if name else changed.endswith(_SUFFIXES) or Path(changed).is_dir()

        yield from watchfiles.watch(target, watch_filter=relevant, stop_event=self._stop, debounce=self._debounce_ms,
                                    step=50, rust_timeout=500, yield_on_timeout=True, raise_interrupt=False)

    def _reload_in_background(self) -> None:
        try:
            self.reload()
        except Exception:  # an adapter's own failure, say: report it, and keep watching with the last good set
            _log.exception("reloading %s failed", self._path)

    def _run(self, watch: bool, first: bool) -> None:
        if self._source is not None:
            while True:
                self._reload_in_background()
                if self._stop.wait(self._source.delay()):
                    return
        if first:
            self._reload_in_background()
            while not self._ready.is_set() and not watch and not self._stop.wait(1.0):
                self._reload_in_background()  # without a watcher, retry until the first set loads
        if watch:
            checked = False
            for changes in self._changes():
                # The first (empty) batch comes once the watch is set up: files changed after the first load and
                # before then are caught by that reload (which loads nothing when the files are as they were).
                if changes or not checked:
                    self._reload_in_background()
                    checked = True

    def close(self) -> None:
        """Stop watching (the last snapshot keeps serving). Idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._load_lock:
            self._status = attrs.evolve(self._status, watching=False)

    def __enter__(self) -> LivePolicies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- deciding, with decision logs ------------------------------------------------------------------------
    def evaluate(self, order: Any, user: Any, *, strict: bool = False, store: str | None = None,
                 request_id: str | None = None) -> Decisions:
        """``engine.evaluate`` on the set serving now, logged to the decision log when there is one."""
        snap = self.snapshot()
        started = time.perf_counter()
        result = snap.engine.evaluate(order, user, strict=strict, store=store)
        if self._log is not None:
            self._log.log("evaluate", snap.view, [(order, user)], [result], store=store, request_id=request_id,
                          started=started)
        return result

    def evaluate_many(self, pairs: list[tuple[Any, Any]], *, strict: bool = False, store: str | None = None,
                      request_id: str | None = None) -> list[Decisions]:
        """``engine.evaluate_many`` on the set serving now; one decision log record for the whole batch."""
        snap = self.snapshot()
        started = time.perf_counter()
        results = snap.engine.evaluate_many(pairs, strict=strict, store=store)
        if self._log is not None:
            self._log.log("batch", snap.view, pairs, results, store=store, request_id=request_id, started=started)
        return results

    def bulk(self, action: str, orders: list[Any], user: Any, *, store: str | None = None,
             request_id: str | None = None, decisions: bool = False) -> BulkResult:
        """``engine.bulk`` on the set serving now; one decision log record (the bulk action's outcome per order)."""
        snap = self.snapshot()
        started = time.perf_counter()
        result = snap.engine.bulk(action, orders, user, store=store, decisions=decisions)
        if self._log is not None:
            self._log.log_bulk(snap.view, result, orders, user, store=store, request_id=request_id, started=started)
        return result

    def explain(self, order: Any, user: Any, *, store: str | None = None, actions: list[str] | None = None,
                request_id: str | None = None) -> Explanation:
        """:func:`policyengine.analysis.explain.explain` on the set serving now; logged like an evaluate."""
        from ..analysis.explain import explain

        snap = self.snapshot()
        started = time.perf_counter()
        result = explain(snap.engine, order, user, store=store, actions=actions)
        if self._log is not None and self._log.wanted():
            decisions = snap.engine.evaluate(order, user, store=store)
            self._log.log("explain", snap.view, [(order, user)], [decisions], store=store, request_id=request_id,
                          started=started, sampled=True)
        return result

    def __repr__(self) -> str:
        snap = self._snapshot
        serving = f"{snap.engine!r} revision {snap.record.revision[:12] if snap.record.revision else '?'}" if snap else "not ready"
        return f"<LivePolicies {self._path}: {serving}>"


def live(path: str | Path, *, adapter: Adapter | None = None, watch: bool = True,
         decision_log: DecisionLog | None = None, cache: CacheOption = None, bundle_key: bytes | None = None,
         poll_seconds: float = 10.0) -> LivePolicies:
    """Load the policies at ``path`` and keep them current: see :class:`LivePolicies`. Raises :class:`PolicyError`
    when the first set does not load; after that, a set that fails is refused and the last good one serves.

    With ``bundle_key`` (an Ed25519 public key, PEM), ``path`` is the HTTP(S) URL of a signed bundle, polled every
    ``poll_seconds`` (see :mod:`policyengine.service.bundle`)."""
    return LivePolicies(path, adapter=adapter, watch=watch, decision_log=decision_log, cache=cache,
                        bundle_key=bundle_key, poll_seconds=poll_seconds)
