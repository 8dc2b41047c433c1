"""Compiled code objects of generated evaluators, reused by their source: the hook that lets the load cache
(:mod:`policyengine.cache`) skip ``compile()``.

Code generation calls :func:`compile_source` instead of the builtin. Outside :func:`collecting` it is exactly
``compile(source, filename, "exec")``. Inside it, code objects are looked up (and recorded) in the given store by
a digest of the file name and the source, so a store filled by one load and saved (marshalled) by the cache hands
the next load the very same code objects; a source the store does not hold is compiled as usual. The store is
content-addressed, so it can never hand out code for another source. It is held in a context variable rather than
passed down, so code generation keeps its signatures; it is reset when the ``with`` block ends.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import CodeType
from typing import TypeVar

T = TypeVar("T")

__all__ = ["CodeStore", "collecting", "compile_source", "current", "within"]

CodeStore = MutableMapping[str, "CodeType | bytes"]
"""Source digest -> its code object, or the code object marshalled (loaded on first use)."""

_STORE: ContextVar[CodeStore | None] = ContextVar("policyengine_code_store", default=None)


def source_digest(source: str, filename: str) -> str:
    """The key of a source in a :data:`CodeStore`."""
    return hashlib.blake2b(filename.encode() + b"\0" + source.encode("utf-8", "surrogatepass"),
                           digest_size=20).hexdigest()


def compile_source(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, through the store of the enclosing :func:`collecting`, if any."""
    store = _STORE.get()
    if store is None:
        return compile(source, filename, "exec")
    key = source_digest(source, filename)
    code = store.get(key)
    if isinstance(code, bytes):
        code = marshal.loads(code)  # noqa: S302 - written by this process's cache, checksummed (see cache.py)
        if isinstance(code, CodeType):
            store[key] = code
            return code
    elif isinstance(code, CodeType):
        return code
    code = compile(source, filename, "exec")
    store[key] = code
    return code


@contextmanager
def collecting(store: CodeStore) -> Iterator[CodeStore]:
    """Within the block, :func:`compile_source` reads and fills ``store``."""
    token = _STORE.set(store)
    try:
        yield store
    finally:
        _STORE.reset(token)


def current() -> CodeStore | None:
    """The store of the enclosing :func:`collecting`, if any: an engine built in one keeps it, so that the
    evaluators it builds later (a store's, on its first order) read and fill the same store."""
    return _STORE.get()


def within(store: CodeStore | None, build: Callable[[], T]) -> T:
    """``build()`` inside ``collecting(store)`` (just ``build()`` without a store)."""
    if store is None:
        return build()
    with collecting(store):
        return build()
