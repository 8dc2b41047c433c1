"""The cyclic garbage collector paused while a policy set is built (loaded, or read from the compiled cache).

A load of thousands of store overrides allocates millions of long-lived objects and next to no garbage cycles.
Each collection pass walks the growing heap again: the collector alone made load time grow faster than the number
of overrides, and was half of a warm start from the cache. Reference counting frees everything as usual meanwhile.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Within the block the collector is off; it is restored as it was, however the block ends.

    The objects made in the block are then moved to the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``,
    which moves them without walking them), where long-lived objects end up anyway: otherwise the first young
    collection after the block walks all of them at once (0.3 s after a warm start of 10,000 stores). Not done
    when the host has frozen objects of its own (a pre-fork server's ``gc.freeze()``): unfreezing would undo that.
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
