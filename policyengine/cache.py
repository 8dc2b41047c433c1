"""The compiled cache: ``load(path, cache=...)`` saves what loading a policy set built, and a later load of the same
set (a restart, another process) rebuilds its :class:`~policyengine.engine.Engine` from it, without reading YAML,
validating, translating, compiling conditions, proving locks or compiling generated code.

**Turning it on.** ``cache=None`` or ``False`` (the library's default): no cache. ``cache=True``: the default
directory, ``$POLICYENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/policyengine``, else ``~/.cache/policyengine``.
``cache=<a path>``: that directory. The library leaves it off by default because a library must not write into a
user's home unasked (tests, notebooks, read-only containers); ``policyengine serve --cache-dir DIR`` and
``LivePolicies(path, cache=...)`` turn it on for the long-running service, whose restarts are what it speeds up.

**The key.** An entry is found by, and must carry, a key made of: a SHA-256 of the deciding files (the policy
versions and store overrides :func:`~policyengine.loader.load` reads: relative path and raw bytes, read with the
same size limit and *not* parsed; test suites and invariants do not count, as for the engine's ``revision``); the
path as given and as diagnostics name it (compiled conditions carry ``file:line:col``); a SHA-256 of the source and
schema files of the ``policyengine`` package itself; the versions of Python (and its bytecode tag: code objects are
marshalled), rule-engine, PyYAML, jsonschema and attrs; whether the SMT solver is installed and its version (a
lock a cold load cannot prove without it is refused, and one it proves is accepted: the key keeps those apart); the
proof budgets (:func:`_proof_options`: the solver's time budgets, the enumeration and work caps); the
``table_limit``; the adapter's class. Any part that
differs is another entry: a stale one is simply never looked up again (and the directory keeps the newest
:data:`MAX_ENTRIES` entries). The files are hashed again after a cold load, and nothing is written when they
changed meanwhile, so an entry never pairs one state of the files with the compiled result of another.

**What is cached.** The compiled policy versions and store policies (what compilation and the lock proofs
produce), the engine's revision, and the code objects of every generated evaluator (marshalled, looked up by a
digest of their source: see :mod:`policyengine.runtime.codestore`). The engine itself is built again from them on
each load, as its generated functions are closures bound to the adapter. The rule-engine ``Rule`` of each condition
(the reference oracle, used by analyses, plans and tests, never to evaluate) is stored as its text and re-parsed
the first time it is used, and each rule-engine ``Context`` likewise (pickled once per distinct context): parsing
them all back would cost most of what the cache saves. Each store's override and compiled policy are a pickle of
their own (referring to the base versions' objects by their place in the shared pickle's memo), unpickled when the
store is first used: a warm start with thousands of stores unpickles none of them, and a process only the stores
it serves.

**Format and trust.** One file per key: a magic number and format version, the full key, a SHA-256 and the length
of the payload, then the payload (a pickle). A file that is not exactly that (truncated, a flipped byte, another
key, another format, garbage, a pickle of anything else) is ignored and replaced by the next cold load: it is
never trusted. The payload is the shared pickle (its length first), then the index of the stores' own pickles.
Unpickling runs code, so the trust boundary is the cache directory, as for Python's own
``__pycache__``: the directory is created ``0o700``; a directory or a file that is not owned by the current user,
or that group or others may write to, is not used (on systems without ``os.getuid``, only the permission bits are
checked). The unpickler also allows only exact ``(module, name)`` pairs (:data:`_SAFE_GLOBALS`: the classes a
compiled set is made of, a few rule-engine and standard ones), never a dotted name (which pickle would resolve
attribute by attribute, reaching anything a module imports). A store's own pickle goes through the same allowlist
when the store is first used; one that fails it (only an entry crafted inside the private directory: the checksum
holds) runs nothing and raises ``pickle.UnpicklingError`` from that store's use.
Writes go to a temporary file in the same directory, renamed over the entry (``os.replace``): readers see a whole
file or none, and concurrent writers of one entry each write a whole, equal file. A directory that cannot be
created or written to turns the cache off for that load with a logged warning (logger ``policyengine.cache``):
the load itself never fails because of the cache.

**Failures and warnings.** A load that fails raises its diagnostics and writes nothing (no negative caching: the
next load checks the files again). A load that succeeds has no diagnostics at all and emits no warnings, so the
warm path has nothing to replay.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import logging
import marshal
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import CodeType
from typing import Any, TypeVar, Union, cast

import attrs
import rule_engine

from .ir.numbers import CONTEXT
from .layout import DECIDING, PLACES, layout_parts
from .pipeline.compiler import CompiledPolicy
from .pipeline.model import OverrideSpec
from .pipeline.yamlsource import MAX_FILE_BYTES, Document, Mark, NotReadable, display_name, is_directory, read_regular_file
from .runtime.codestore import CodeStore, collecting
from .runtime.collector import collector_paused
from .store_policy import StorePolicy

__all__ = ["CacheOption", "ENV", "MAX_ENTRIES", "cache_directory", "cached_load", "default_directory"]

CacheOption = Union[bool, str, "os.PathLike[str]", None]
"""What ``load(..., cache=)`` accepts: None/False (off), True (the default directory) or a directory."""

ENV = "POLICYENGINE_CACHE_DIR"
"""Overrides the default directory (``cache=True``; ``serve --cache-dir``'s default)."""

MAX_ENTRIES = 32
"""Entries kept per directory; the least recently used beyond that are removed after each write."""

MAGIC = b"PECACHE\x00"
FORMAT = 3
SUFFIX = ".pecache"
_MARKER = "policyengine-compiled-cache"
_HEADER = len(MAGIC) + 2 + 4

Compiled = tuple[Mapping[int, Any], tuple[Any, ...], str]
"""What a load compiles: the base versions, the store policies and the revision (see ``loader._compile_set``)."""

_log = logging.getLogger("policyengine.cache")
_Set = TypeVar("_Set")
_Built = TypeVar("_Built")


# -- where ------------------------------------------------------------------------------------------------------
def default_directory() -> Path:
    """``$POLICYENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/policyengine``, else ``~/.cache/policyengine``."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec: relative is invalid
    return base / "policyengine"


def cache_directory(option: CacheOption) -> Path | None:
    """The directory ``option`` names, or None when the cache is off."""
    if option is None or option is False or option == "":  # "": an unset variable, not the working directory
        return None
    if option is True:
        return default_directory()
    return Path(option)


# -- the key -------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _environment() -> tuple[tuple[str, str], ...]:
    """What of this installation shapes a compiled result: the package's own files, Python, the runtime deps."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for file in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json") and p.is_file()):
        digest.update(file.relative_to(package).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    versions = []
    for dist in ("rule-engine", "pyyaml", "jsonschema", "attrs"):
        try:
            versions.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((dist, "?"))
    return (("package", digest.hexdigest()), ("python", sys.version),
            ("cache_tag", str(sys.implementation.cache_tag)), ("pickle", str(pickle.HIGHEST_PROTOCOL)), *versions)


def _files_digest(root: Path) -> str | None:
    """SHA-256 over the deciding files under ``root`` as load reads them (raw bytes, not parsed); None when one
    cannot be read (the load itself will say why)."""
    directory = is_directory(root)
    deciding = {PLACES[kind] for kind in DECIDING}
    places = set(PLACES.values())
    base = os.fspath(root)
    chunks: list[bytes] = []
    try:
        for parts in layout_parts(root) if directory else [(root.name,)]:
            place = "" if len(parts) == 1 else parts[0] if parts[0] in places else None  # as layout.place_of
            if place is not None and place not in deciding:
                continue
            raw = read_regular_file(os.path.join(base, *parts) if directory else base, MAX_FILE_BYTES)
            chunks += ("/".join(parts).encode("utf-8", "surrogateescape"), b"\0", len(raw).to_bytes(8, "big"), raw)
    except (OSError, NotReadable, ValueError):
        return None
    return hashlib.sha256(b"".join(chunks)).hexdigest()  # one call over the set: thousands of small updates cost more


@functools.lru_cache(maxsize=1)
def _z3_version() -> str:
    try:
        return importlib.metadata.version("z3-solver")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _proof_options() -> tuple[tuple[str, str], ...]:
    """What changes which locks a load proves or refuses besides the files: the solver (present or not, and its
    version) and every budget, read now (not at import: a host or a test may set them)."""
    from . import locks
    from .proof import implication, smt

    solver = f"z3-solver {_z3_version()}" if smt.available() else "none"
    budgets = {"smt.BUDGET_MS": smt.BUDGET_MS, "locks.SOLVER_BUDGET_MS": locks.SOLVER_BUDGET_MS,
               "locks.SOLVER_RLIMIT": getattr(locks, "SOLVER_RLIMIT", None),
               "implication.MAX_CLAIM_SPACE": implication.MAX_CLAIM_SPACE,
               "implication.MAX_PROOF_WORK": implication.MAX_PROOF_WORK}
    return (("solver", solver), ("budgets", ",".join(f"{k}={v}" for k, v in budgets.items())))


def _key(root: Path, table_limit: int, adapter: Any) -> bytes | None:
    files = _files_digest(root)
    if files is None:
        return None
    kind = type(adapter)
    parts = (("format", str(FORMAT)), ("files", files), ("path", str(root)), ("display", display_name(root)),
             ("table_limit", str(table_limit)), ("adapter", f"{kind.__module__}.{kind.__qualname__}"),
             *_proof_options(), *_environment())
    return "\n".join(f"{name}={value}" for name, value in parts).encode("utf-8", "surrogateescape")


def _entry_name(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:40] + SUFFIX


# -- rule-engine objects, stored as their recipe ------------------------------------------------------------
class _LazyContext(rule_engine.Context):  # type: ignore[misc]  # rule-engine ships no types
    """A rule-engine context restored from its pickle on first use (most loads never touch it)."""

    def __init__(self, blob: bytes) -> None:  # noqa: D107 - no super().__init__: that is what is deferred
        self.__dict__["_lazy_blob"] = blob

    def __getattr__(self, name: str) -> Any:  # only called for attributes not restored yet
        state = self.__dict__
        blob = state.get("_lazy_blob")
        if blob is None or "symbols" in state:
            raise AttributeError(name)
        real = _Unpickler(io.BytesIO(blob)).load()
        if not isinstance(real, rule_engine.Context):
            raise AttributeError(name)
        state.update(vars(real))  # two threads may both restore it: each writes equal values
        return getattr(self, name)


class _LazyRule(rule_engine.Rule):  # type: ignore[misc]
    """A rule-engine rule whose text is parsed (under its context) on first use of its ``statement``."""

    def __init__(self, text: str, context: rule_engine.Context) -> None:  # noqa: D107 - parsing is deferred
        self.__dict__.update(text=text, context=context)

    def __getattr__(self, name: str) -> Any:
        if name != "statement" or "text" not in self.__dict__:
            raise AttributeError(name)
        import decimal

        with decimal.localcontext(CONTEXT):  # as the compiler parsed it: rule-engine folds constants while parsing
            statement = self.parser.parse(self.__dict__["text"], self.__dict__["context"])
        self.__dict__["statement"] = statement
        return statement


def _restore_rule(text: str, context: rule_engine.Context) -> rule_engine.Rule:
    return _LazyRule(text, context)


def _restore_context(blob: bytes) -> rule_engine.Context:
    return _LazyContext(blob)


_POSITION_MAPS = ("marks", "key_marks")


def _restore_document(fields: dict[str, Any]) -> Document:
    for name in _POSITION_MAPS:
        fields[name] = dict(fields[name])
    return Document(**fields)


class _Pickler(pickle.Pickler):
    """Stores rules as (text, context) and each distinct context once, as its own pickle."""

    def __init__(self, file: io.BytesIO, shared: _Pickler | None = None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        # a store's own pickle refers to what the shared pickle holds (the base versions, their contexts) by its
        # position in that pickle's memo, and interns alike
        self._contexts: dict[bytes, _LazyContext] = shared._contexts if shared is not None else {}
        self._values: dict[Any, Any] = shared._values if shared is not None else {}
        self._positions: dict[int, int] | None = None
        self._shared: dict[int, int] = shared.positions() if shared is not None else {}

    def positions(self) -> dict[int, int]:
        """Each object this pickler has written, by its id, to its position in the memo (as an unpickler numbers
        them), once it is done. The memo keeps the objects alive, so no id is reused while this pickler is."""
        if self._positions is None:
            self._positions = {ident: position for ident, (position, _) in self.memo.copy().items()}
        return self._positions

    def persistent_id(self, obj: Any) -> int | None:
        return self._shared.get(id(obj)) if self._shared else None

    def _interned(self, value: Any) -> Any:
        """One object for equal immutable values (source positions and their paths): thousands of overrides of
        like shapes repeat the same ones, and a shared object is one memo reference in the pickle, not a new
        object to build on every load."""
        return self._values.setdefault((type(value), value), value)

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is Mark:
            shared = self._interned(obj)
            return (_same, (shared,)) if shared is not obj else (Mark, (obj.line, obj.column, obj.index))
        if kind is Document:  # every field as it is, but the position maps as pairs of shared paths and marks
            fields = {f.name: getattr(obj, f.name) for f in attrs.fields(Document)}
            for name in _POSITION_MAPS:
                fields[name] = tuple((self._interned(path), self._interned(mark)) for path, mark in fields[name].items())
            return _restore_document, (fields,)
        if isinstance(obj, rule_engine.Rule):
            return _restore_rule, (obj.text, obj.context)
        if isinstance(obj, rule_engine.Context):
            blob = obj.__dict__.get("_lazy_blob") if isinstance(obj, _LazyContext) else None
            if blob is None:
                blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            # equal contexts (a store that declares no facts of its own has the base's) share one stored copy
            shared = self._contexts.setdefault(blob, _LazyContext(blob))
            if shared is obj:
                return _restore_context, (blob,)
            return _same, (shared,)  # pickled once (the memo), shared by every context equal to it
        return NotImplemented


def _same(obj: Any) -> Any:
    return obj


def _defined_in(module: str, names: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    return frozenset((module, name) for name in names)


_SAFE_GLOBALS = frozenset({
    *_defined_in("policyengine.cache", ("_restore_context", "_restore_document", "_restore_rule", "_same")),
    *_defined_in("policyengine.store_policy", ("StorePolicy",)),
    *_defined_in("policyengine.pipeline.compiler", ("CompiledAction", "CompiledEffect", "CompiledExpr", "CompiledGuard",
                                                    "CompiledPolicy")),
    *_defined_in("policyengine.pipeline.model", ("ActionPatch", "ActionSpec", "ConditionSpec", "EffectSpec", "Expr",
                                                 "FactSpec", "GuardPatch", "GuardSpec", "OverrideSpec", "PolicySpec",
                                                 "UnlockSpec")),
    *_defined_in("policyengine.pipeline.yamlsource", ("Document", "Mark")),
    # the condition IR's node classes (frozen attrs values a CompiledExpr holds in its `ir` field): a new node class
    # is added here by exact name, or entries holding it are refused (and compiled again)
    *_defined_in("policyengine.ir.nodes", ("ActionRef", "And", "Arith", "Compare", "ConditionRef", "Const", "Contains",
                                           "Fact", "If", "Length", "Match", "Members", "Neg", "Not", "Or")),
    *_defined_in("rule_engine.engine.context", ("Context", "resolve_item", "_type_resolver")),
    *_defined_in("rule_engine.errors", ("UNDEFINED",)),
    *_defined_in("rule_engine.types.definitions", ("_ArrayDataTypeDef", "_CollectionDataTypeDef", "_DataTypeDef",
                                                   "_FunctionDataTypeDef", "_MappingDataTypeDef",
                                                   "_NullableDataTypeDef", "_ReferenceDataTypeDef",
                                                   "_SelfReferenceDataTypeDef", "_SetDataTypeDef",
                                                   "_UndefinedDataTypeDef")),
    *_defined_in("rule_engine.types._object", ("_ObjectDataTypeDef",)),
    *_defined_in("decimal", ("Decimal", "Context", "Overflow", "InvalidOperation", "DivisionByZero", "Inexact",
                             "Rounded", "Clamped", "Subnormal", "Underflow", "FloatOperation")),
    ("functools", "partial"), ("_operator", "getitem"), ("operator", "getitem"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("dateutil.tz.tz", "tzlocal"), ("dateutil.tz.tz", "tzutc"),
    ("collections", "OrderedDict"), ("copyreg", "_reconstructor"), ("re", "_compile"), ("_codecs", "encode"),
})
"""Every global a cache entry may name, as an exact ``(module, name)`` pair: the compiled set's own classes, what
rule-engine contexts refer to (a partial of their own resolver, type definitions, the default timezone, decimal
signals). A cache entry naming anything else (a dotted name included) is damaged, or made by someone else, and is
ignored."""
_SAFE_BUILTINS = frozenset({"set", "frozenset", "dict", "list", "tuple", "bytes", "bytearray", "str", "int",
                            "float", "complex", "bool", "slice", "range", "object", "NotImplemented", "Ellipsis"})


class _Unpickler(pickle.Unpickler):
    """Defence in depth on top of the directory's trust: only the globals a cache entry holds, by exact name. A
    store's own pickle refers to the shared pickle's objects by their memo position (``shared``), nothing else."""

    def __init__(self, file: io.BytesIO, shared: Mapping[int, Any] | None = None) -> None:
        super().__init__(file)
        self._shared = shared or {}

    def find_class(self, module: str, name: str) -> Any:
        allowed = name in _SAFE_BUILTINS if module == "builtins" else (module, name) in _SAFE_GLOBALS
        if not allowed:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a policyengine cache entry")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not int or pid not in self._shared:
            raise pickle.UnpicklingError("a cache entry refers to an object it does not hold")
        return self._shared[pid]


class _LazyStorePolicy(StorePolicy):
    """A store policy whose override and compiled policy are unpickled on first use (its first order, or anything
    that reads them), through the same allowlist: a warm start with thousands of stores unpickles none of them,
    and a process unpickles only the stores it serves. Pickled as the :class:`StorePolicy` it stands
    for (of its own class: attrs equality compares classes). Two threads may both restore it: each sets equal values."""

    __slots__ = ("_labels", "_blob", "_shared", "_restored")
    _labels: tuple[tuple[str, str], ...]
    _blob: bytes
    _shared: Mapping[int, Any]
    _restored: tuple[OverrideSpec, CompiledPolicy] | None

    def __init__(self, store: str, base_version: int, labels: tuple[tuple[str, str], ...], blob: bytes,  # noqa: D107
                 shared: Mapping[int, Any]) -> None:
        for name, value in (("store", store), ("base_version", base_version), ("_labels", labels), ("_blob", blob),
                            ("_shared", shared), ("_restored", None)):
            object.__setattr__(self, name, value)

    @property
    def action_labels(self) -> tuple[tuple[str, str], ...]:
        return self._labels  # kept in the entry's index: bulk's labels restore no store

    def _parts(self) -> tuple[OverrideSpec, CompiledPolicy]:
        restored = self._restored
        if restored is None:
            parts = _Unpickler(io.BytesIO(self._blob), self._shared).load()
            if not (type(parts) is tuple and len(parts) == 2 and isinstance(parts[0], OverrideSpec)
                    and isinstance(parts[1], CompiledPolicy)):
                raise pickle.UnpicklingError(f"the cache entry's part for store {self.store!r} is not a store policy")
            object.__setattr__(self, "_restored", parts)
            restored = parts
        return restored

    @property  # read-only, as the frozen field it stands for
    def override(self) -> OverrideSpec:
        return self._parts()[0]

    @property
    def policy(self) -> CompiledPolicy:
        return self._parts()[1]

    def __reduce__(self) -> Any:
        return StorePolicy, (self.store, self.override, self.base_version, self.policy)


# -- reading and writing ----------------------------------------------------------------------------------------
def _trusted(st: os.stat_result) -> str | None:
    """Why a file or directory with this status must not be trusted (None: it may)."""
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "it is owned by another user"
    if st.st_mode & 0o022:
        return "group or others may write to it"
    return None


def _usable_directory(directory: Path) -> bool:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
    except OSError as err:
        _log.warning("compiled cache off: cannot create %s (%s)", directory, err.strerror or err)
        return False
    why = _trusted(st) if stat.S_ISDIR(st.st_mode) else "it is not a directory"
    if why:
        _log.warning("compiled cache off: %s is not used, as %s", directory, why)
        return False
    return True


def _read(file: Path) -> bytes | None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        return None
    except OSError as err:
        _log.warning("compiled cache: cannot read %s (%s); compiling", file, err.strerror or err)
        return None
    with os.fdopen(fd, "rb") as stream:
        st = os.fstat(stream.fileno())
        why = _trusted(st) if stat.S_ISREG(st.st_mode) else "it is not a regular file"
        if why:
            _log.warning("compiled cache: ignoring %s, as %s", file, why)
            return None
        return stream.read()


def _decode(data: bytes, key: bytes) -> tuple[Compiled, dict[str, bytes]] | None:
    """The entry in ``data`` if it is whole, of this format and for exactly ``key``; else None. The stores come
    back lazy (:class:`_LazyStorePolicy`): their parts are unpickled on first use."""
    view = memoryview(data)
    if len(data) < _HEADER or data[:len(MAGIC)] != MAGIC:
        return None
    at = len(MAGIC)
    if int.from_bytes(view[at:at + 2], "big") != FORMAT:
        return None
    size = int.from_bytes(view[at + 2:at + 6], "big")
    at += 6
    if bytes(view[at:at + size]) != key:
        return None
    at += size
    checksum, length = bytes(view[at:at + 32]), int.from_bytes(view[at + 32:at + 40], "big")
    payload = view[at + 40:]
    if len(payload) != length or length < 8 or hashlib.sha256(payload).digest() != checksum:
        return None
    split = 8 + int.from_bytes(payload[:8], "big")
    try:
        unpickler = _Unpickler(io.BytesIO(payload[8:split]))
        entry = unpickler.load()
        index = _Unpickler(io.BytesIO(payload[split:])).load()
    except Exception:  # noqa: BLE001 - whatever a damaged pickle raises, the entry is not used
        return None
    if not (type(entry) is tuple and len(entry) == 5 and entry[0] == _MARKER and entry[1] == key):
        return None
    _, _, versions, revision, codes = entry
    if not (type(versions) is dict and versions and type(index) is tuple and type(revision) is str
            and type(codes) is dict
            and all(type(v) is int and isinstance(p, CompiledPolicy) for v, p in versions.items())
            and all(type(i) is tuple and len(i) == 4 and type(i[0]) is str and type(i[1]) is int
                    and type(i[2]) is tuple and all(type(p) is tuple and len(p) == 2 and type(p[0]) is str
                                                   and type(p[1]) is str for p in i[2])
                    and type(i[3]) is bytes for i in index)
            and all(type(k) is str and type(c) is bytes for k, c in codes.items())):
        return None
    shared = unpickler.memo.copy()  # the shared objects, by the positions the stores' pickles refer to them by
    stores = tuple(_LazyStorePolicy(store, version, labels, blob, shared) for store, version, labels, blob in index)
    return (versions, stores, revision), codes


def _encode(key: bytes, compiled: Compiled, codes: CodeStore) -> bytes:
    """The entry: a shared pickle (the base versions, the revision, the generated code), then an index of the stores:
    each one's id, base version, action labels and own pickle (its override and compiled policy, referring to the
    shared objects by memo position)."""
    versions, stores, revision = compiled
    marshalled = {k: c if isinstance(c, bytes) else marshal.dumps(c) for k, c in codes.items()}
    buffer = io.BytesIO()
    pickler = _Pickler(buffer)
    pickler.dump((_MARKER, key, dict(versions), revision, marshalled))
    shared = buffer.getvalue()
    index = []
    for store in stores:
        own = io.BytesIO()
        _Pickler(own, pickler).dump((store.override, store.policy))
        index.append((store.store, store.base_version, store.action_labels, own.getvalue()))
    payload = b"".join((len(shared).to_bytes(8, "big"), shared, pickle.dumps(tuple(index), pickle.HIGHEST_PROTOCOL)))
    return b"".join((MAGIC, FORMAT.to_bytes(2, "big"), len(key).to_bytes(4, "big"), key,
                     hashlib.sha256(payload).digest(), len(payload).to_bytes(8, "big"), payload))


def _write(directory: Path, name: str, data: bytes) -> None:
    try:
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=directory)  # 0o600
    except OSError as err:
        _log.warning("compiled cache: cannot write to %s (%s)", directory, err.strerror or err)
        return
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temp, directory / name)
    except OSError as err:
        _log.warning("compiled cache: cannot write %s (%s)", directory / name, err.strerror or err)
        try:
            os.unlink(temp)
        except OSError:
            pass
        return
    _prune(directory)


def _prune(directory: Path) -> None:
    """Keep the newest :data:`MAX_ENTRIES` entries (a hit refreshes its entry's time), and no old temporary file."""
    try:
        entries = [(p.stat().st_mtime, p) for p in directory.iterdir() if p.name.endswith(SUFFIX)]
    except OSError:
        return
    now = time.time()
    finished = sorted((e for e in entries if not e[1].name.startswith(".tmp-")), reverse=True)
    stale = [p for m, p in entries if p.name.startswith(".tmp-") and now - m > 3600]  # a writer that died
    for path in [p for _, p in finished[MAX_ENTRIES:]] + stale:
        try:
            path.unlink()
        except OSError:
            pass


# -- loading ----------------------------------------------------------------------------------------------------

def cached_load(root: Path, option: CacheOption, compile_set: Callable[[], _Set], build: Callable[[_Set], _Built], *,
                table_limit: int, adapter: Any) -> _Built:
    """``build(compile_set())``, with the compiled set (and the generated code) taken from and saved to the cache
    that ``option`` names (see the module docstring). ``compile_set`` raises :class:`PolicyError` for a set that
    does not load; nothing is written then."""
    directory = cache_directory(option)
    key = _key(root, table_limit, adapter) if directory is not None else None
    if directory is None or key is None or not _usable_directory(directory):
        return build(compile_set())
    with collector_paused():
        return _load(directory, key, root, compile_set, build, table_limit, adapter)


def _load(directory: Path, key: bytes, root: Path, compile_set: Callable[[], _Set], build: Callable[[_Set], _Built],
          table_limit: int, adapter: Any) -> _Built:
    file = directory / _entry_name(key)
    data = _read(file)
    if data is not None:
        decoded = _decode(data, key)
        if decoded is None:
            _log.warning("compiled cache: %s is damaged or not for this set; compiling again", file)
        else:
            stored, codes = decoded
            store: dict[str, CodeType | bytes] = dict(codes)
            with collecting(store):
                engine = build(cast(_Set, stored))  # what compile_set returned when the entry was written
            try:
                os.utime(file)  # least recently used goes first when pruning
            except OSError:
                pass
            return engine
    compiled = compile_set()
    fresh: dict[str, CodeType | bytes] = {}
    with collecting(fresh):
        engine = build(compiled)
        warm_up = getattr(engine, "warm_up", None)
        if warm_up is not None:  # every store's evaluator, so the entry holds all the code a warm start needs
            warm_up()
    if _key(root, table_limit, adapter) == key:  # the files did not change while they were compiled
        try:
            data = _encode(key, cast(Compiled, compiled), fresh)
        except Exception as err:  # noqa: BLE001 - an unpicklable custom object: work without the cache
            _log.warning("compiled cache: cannot save this set (%s: %s)", type(err).__name__, err)
        else:
            _write(directory, file.name, data)
    return engine
