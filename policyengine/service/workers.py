"""Several worker processes sharing one listening socket (``policyengine serve --workers N``).

The parent binds the port, then forks the workers before it starts a thread or an event loop (fork is safe then);
each worker accepts on the inherited socket (the kernel spreads connections between them), loads and watches the
policies itself and runs its own uvicorn server. The parent only supervises: it forwards SIGTERM/SIGINT to every
worker, waits for them (each shuts down gracefully within its own ``--shutdown-timeout``), and starts a new worker in
place of one that died unasked. Prometheus metrics are shared through ``PROMETHEUS_MULTIPROC_DIR`` (set by the
parent before any metric exists), so a scrape of any worker reads the whole service.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from types import FrameType

__all__ = ["MULTIPROC_ENV", "default_workers", "prepare_metrics_dir", "supervise"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_RESTART_LIMIT = 20
"""Workers started in place of dead ones before the parent gives up (a worker that cannot start at all)."""


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def prepare_metrics_dir() -> str:
    """A fresh directory for the workers' metric files, named in the environment before prometheus_client is used."""
    path = tempfile.mkdtemp(prefix="policyengine-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _start(worker: Callable[[], int], workers: set[int]) -> None:
    """Fork a worker and record it in ``workers``, with SIGTERM/SIGINT blocked meanwhile: a stop signal arriving
    between the fork and the record would miss the new worker (the parent's ``stop`` would not know it), and one
    arriving in the child before it drops the parent's handler would be lost. Blocked, it waits, then acts."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            _run_worker(worker)
        workers.add(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _run_worker(worker: Callable[[], int]) -> None:
    """The worker: default signal handling (a pending stop signal now ends it), run, then leave without the
    parent's cleanup (atexit, finally blocks)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        code = worker()
    except BaseException:  # noqa: BLE001 - reported, and the worker exits with a failure
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(count: int, worker: Callable[[], int], metrics_dir: str | None = None) -> int:
    """Run ``worker`` in ``count`` forked processes until SIGTERM/SIGINT; 0 once every worker has exited."""
    from prometheus_client import multiprocess

    stopping: list[int] = []
    workers: set[int] = set()

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for pid in list(workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    for _ in range(count):
        _start(worker, workers)
    restarts = 0
    try:
        while workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            workers.discard(pid)
            if metrics_dir is not None:
                multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
            if not stopping and restarts < _RESTART_LIMIT:
                restarts += 1
                print(f"policyengine serve: worker {pid} exited ({status}); starting another", file=sys.stderr,
                      flush=True)
                time.sleep(min(5.0, 0.1 * restarts))  # a worker failing at once is not restarted in a hot loop
                if not stopping:  # a stop during the pause: start nothing it would not reach
                    _start(worker, workers)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
