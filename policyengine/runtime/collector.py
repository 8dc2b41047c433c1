"""The cyclic garbage collector paused while a policy set is built (loaded, or read from the compiled cache), and
kept honest afterwards.

A load of thousands of store overrides allocates millions of long-lived objects and next to no garbage cycles.
Each collection pass walks the growing heap again: the collector alone made load time grow faster than the number
of overrides, and was half of a warm start from the cache. Reference counting frees everything as usual meanwhile.

An engine is cyclic (rule-engine's syntax trees hold bound methods of their own nodes, generated functions sit in
their own globals), so a dropped engine is freed only by a full collection. The objects a load makes are moved to the
oldest generation without CPython counting them towards its next full collection, which then may never come: every
reload kept a whole engine (issue 23). :func:`collector_paused` therefore does the accounting CPython skipped: when the
heap has grown by a quarter since the last full collection (CPython's own rule for the oldest generation), it runs
one.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator

__all__ = ["GROWTH", "MIN_GROWTH", "collector_paused"]

GROWTH = 0.25
"""A full collection runs after a load when the heap grew by this share since the last one (CPython's own ratio)."""
MIN_GROWTH = 20_000
"""...and by at least this many allocated blocks (small loads do not collect every time)."""


class _HeapWatch:
    """The heap size (``sys.getallocatedblocks``, constant time) after the last full collection. Process-wide, as the
    collector it accounts for is; guarded by a lock since loads run in any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.base: int | None = None
        self.full_collections = -1

    def after_load(self) -> None:
        with self.lock:
            full = gc.get_stats()[-1]["collections"]
            blocks = sys.getallocatedblocks()
            if self.base is None or full != self.full_collections:  # first load, or CPython collected fully itself
                self.base, self.full_collections = blocks, full
                return
            if blocks - self.base > max(MIN_GROWTH, GROWTH * self.base):
                gc.collect()
                self.base, self.full_collections = sys.getallocatedblocks(), gc.get_stats()[-1]["collections"]


_WATCH = _HeapWatch()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block the collector is off; it is restored as it was, however the block ends.

    The objects made in the block are then moved to the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``,
    which moves them without walking them), where long-lived objects end up anyway: otherwise the first young
    collection after the block walks all of them at once (0.3 s after a warm start of 10,000 stores). Not done
    when the host has frozen objects of its own (a pre-fork server's ``gc.freeze()``): unfreezing would undo that.
    Then a full collection runs if the heap grew by a quarter since the last one (see the module's documentation);
    a host that turned the collector off keeps it off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
            _WATCH.after_load()
