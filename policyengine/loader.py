"""Loading a policy directory: :func:`load` reads the files, validates and compiles every version and store
override, checks the locks, and builds the :class:`~policyengine.engine.Engine` (or raises one
:class:`~policyengine.errors.PolicyError` listing every problem of every file).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine import Engine
from .errors import Diagnostic, PolicyError
from .layout import DECIDING, PLACES, layout_files, layout_parts, read_placed
from .locks import STORE_FACT, StoreProofs, check_settable, check_version
from .pipeline.compiler import CompiledPolicy, compile_policy
from .pipeline.merge import merge_override
from .pipeline.model import OverrideSpec, PolicySpec, parse_override, parse_policy
from .pipeline.yamlsource import Document, display_name, is_directory, missing
from .runtime.adapters import Adapter, DefaultAdapter
from .runtime.codegen import TABLE_LIMIT
from .runtime.collector import collector_paused
from .runtime.plan import plan_budget_problems
from .store_policy import StorePolicy

if TYPE_CHECKING:
    from .cache import CacheOption

__all__ = ["load", "policy_files"]


def policy_files(path: Path) -> list[Path]:
    """The YAML files under ``path`` (recursively, sorted, hidden ones left out), or ``[path]`` for a file."""
    return layout_files(path) if is_directory(path) else [path]




class _Loader:
    """Collects every diagnostic of every file and stage before raising, so authors see all problems at once."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.relative: dict[str, str] = {}
        self.contexts: dict[Any, Any] = {}  # the typed contexts of this load's store policies, by what they declare
        self.plan_sizes: dict[Any, int] = {}  # plan budget verdicts, by what an action's plan reads (issue 21)
        self.proofs = StoreProofs()  # each shape of override proved once per load

    def attempt(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except PolicyError as err:
            self.diagnostics += err.diagnostics
            return None

    def documents(self, root: Path) -> list[Document]:
        """The documents that decide: policy versions at the top of ``root``, store overrides under ``stores/``
        (see :mod:`policyengine.layout`). Test suites and invariants are not read; any other file is an error."""
        directory = is_directory(root)
        listed = layout_parts(root) if directory else [(root.name,)]
        if not listed:
            self.diagnostics.append(Diagnostic(str(root), 1, 1, "no policy files (*.yaml, *.yml) found"))
        deciding = {PLACES[kind] for kind in DECIDING}
        places = set(PLACES.values())
        # diagnostics name a file as display_name does (relative to the working directory when under it), worked
        # out once for the directory: with thousands of store files, pathlib per file was a tenth of a load
        shown = display_name(root) if directory else ""
        docs = []
        for parts in listed:
            place = ("" if len(parts) == 1 else parts[0] if parts[0] in places else None) if directory else ""
            if place is not None and place not in deciding:
                continue  # tests/, invariants/: for validate and the toolkit, never for deciding
            file = root.joinpath(*parts) if directory else root
            display = (os.path.join(*parts) if shown == os.curdir else os.path.join(shown, *parts)) if directory else None
            doc = read_placed(file, place, self.diagnostics, display)
            if doc is not None:
                # the revision names files relative to the loaded directory: the same set hashes alike anywhere
                self.relative[doc.file] = "/".join(parts) if directory else root.name
                docs.append(doc)
        return docs

    def policies(self, docs: list[Document]) -> dict[int, CompiledPolicy]:
        specs: list[PolicySpec] = [parse_policy(d) for d in docs]
        names = sorted({s.name for s in specs})
        if len(names) > 1:  # no policy is chosen: each file is flagged, and nothing is built on a guess
            listing = ", ".join(f"{s.name} ({s.doc.file})" for s in specs)
            for spec in specs:
                self.diagnostics.append(spec.doc.diagnostic(("name",), f"one engine loads one policy; found {listing}",
                                                            hint="load each policy directory into its own engine"))
            return {}
        seen: dict[int, PolicySpec] = {}
        compiled = {}
        for spec in specs:
            if spec.name != specs[0].name:
                continue
            duplicate = spec.version in seen
            if duplicate:
                self.diagnostics.append(spec.doc.diagnostic(
                    ("version",), f"{spec.label} is defined twice (first in {seen[spec.version].doc.file})",
                    hint="bump the version of the newer file"))
            seen.setdefault(spec.version, spec)
            policy = self.attempt(compile_policy, spec)  # a duplicate is still compiled: report all its problems
            if policy is not None:
                self.diagnostics += check_settable(policy) + plan_budget_problems(policy, self.plan_sizes)
                if not duplicate:
                    compiled[spec.version] = policy
        ordered = [compiled[v] for v in sorted(compiled)]
        for older, newer in zip(ordered, ordered[1:], strict=False):  # consecutive pairs: one shorter by design
            self.diagnostics += check_version(older, newer)
        return compiled

    def dispatch(self, versions: dict[int, CompiledPolicy], overrides: list[Document]) -> None:
        """With store overrides loaded, every version must declare store.id: store dispatch never turns off."""
        if not overrides:
            return
        files = ", ".join(d.file for d in overrides[:3]) + (f" and {len(overrides) - 3} more" if len(overrides) > 3 else "")
        for policy in versions.values():
            if not any(f.name == STORE_FACT for f in policy.facts):
                self.diagnostics.append(policy.spec.doc.diagnostic(
                    ("facts",), f"{policy.spec.label} declares no {STORE_FACT} fact, but store overrides are loaded "
                                f"({files}): no order could be given its store's policy",
                    key=True, hint=f"declare {STORE_FACT} (type: string) in every version"))

    def stores(self, docs: list[Document], versions: dict[int, CompiledPolicy], name: str) -> list[StorePolicy]:
        out: list[StorePolicy] = []
        first: dict[str, OverrideSpec] = {}
        for doc in docs:
            override = parse_override(doc)
            if override.store in first:
                self.diagnostics.append(doc.diagnostic(
                    ("store",), f"a second override for store {override.store!r} (first in {first[override.store].doc.file})",
                    hint="one override file per store: merge them"))
                continue
            first[override.store] = override
            store = self.store(override, versions, name)
            if store is not None:
                out.append(store)
        return out

    def store(self, override: OverrideSpec, versions: dict[int, CompiledPolicy], name: str) -> StorePolicy | None:
        doc = override.doc
        if not versions:
            return None  # no base was built; its own diagnostics say why
        if override.policy != name:
            self.diagnostics.append(doc.diagnostic(("base", "policy"), f"no policy named {override.policy!r} is loaded "
                                                                       f"(loaded: {name})"))
            return None
        loaded = ", ".join(map(str, sorted(versions)))
        runs_on = override.pin if override.pin is not None else max(versions)
        if runs_on not in versions:
            self.diagnostics.append(doc.diagnostic(("base", "pin"), f"store {override.store!r} pins {name}@{runs_on}, "
                                                                    f"which is not loaded (loaded versions: {loaded})"))
            return None
        if runs_on not in (override.based_on, *override.compatible):
            self.diagnostics.append(doc.diagnostic(
                ("base", "version"), f"override written for {name}@{override.based_on}, but store {override.store!r} "
                                     f"runs on {name}@{runs_on}",
                hint=f"review it against version {runs_on} and add {runs_on} to base.compatible"
                     + (f", or pin: {override.based_on}" if override.based_on in versions else "")))
            return None
        base = versions[runs_on]
        merged_spec, refused = merge_override(base.spec, override)
        self.diagnostics += refused
        # what the override leaves alone is the base's, compiled; typed contexts are shared by overrides alike
        merged = self.attempt(functools.partial(compile_policy, contexts=self.contexts), merged_spec, base)
        if merged is None:
            return None
        problems = self.proofs.check(base, versions[max(versions)], merged, override)
        problems += plan_budget_problems(merged, self.plan_sizes, base)
        self.diagnostics += problems
        return None if problems or refused else StorePolicy(override.store, override, runs_on, merged)


def _revision(docs: Iterable[Document], names: Mapping[str, str]) -> str:
    """SHA-256 over each file's path (relative to the loaded directory) and content, in path order."""
    digest = hashlib.sha256()
    for name, doc in sorted((names[d.file], d) for d in docs):
        digest.update(name.encode() + b"\0" + doc.text.encode() + b"\0")
    return digest.hexdigest()


def load(path: str | Path, *, adapter: Adapter | None = None, table_limit: int = TABLE_LIMIT,
         cache: CacheOption = None) -> Engine:
    """Load, validate and compile the policies at ``path`` (a directory or one file) into an :class:`Engine`.

    A directory holds one policy (any number of its versions, at its top) and its store overrides (under
    ``stores/``), laid out as :mod:`policyengine.layout` says; test suites and invariants are not read. Raises
    :class:`PolicyError` carrying every diagnostic found (all files are checked before it is raised).
    ``table_limit`` bounds how many fact combinations a policy may be specialised into (0 turns tables off).
    ``cache`` (off by default) keeps what was compiled on disk, so that loading the same set again skips the
    compilation: True for the default directory, or a directory (see :mod:`policyengine.cache`).
    """
    with collector_paused():
        return _load(path, adapter, table_limit, cache)



def _load(path: str | Path, adapter: Adapter | None, table_limit: int, cache: CacheOption) -> Engine:
    """:func:`load`'s pipeline: read the files, their revision, parse and validate, compile, check the locks, and
    build the :class:`Engine`."""
    root = Path(path)
    absent = missing(root)
    if absent is not None:
        raise PolicyError([Diagnostic(str(path), 1, 1, absent)])

    def build(compiled: tuple[dict[int, CompiledPolicy], tuple[StorePolicy, ...], str]) -> Engine:
        versions, stores, revision = compiled
        return Engine(versions, stores, adapter, revision, table_limit=table_limit)

    if cache is None or cache is False:
        return build(_compile_set(root, path))
    from .cache import cached_load  # only when asked for: pickle and friends stay out of a plain load

    return cached_load(root, cache, lambda: _compile_set(root, path), build, table_limit=table_limit,
                       adapter=adapter or DefaultAdapter())


def _compile_set(root: Path, path: str | Path) -> tuple[dict[int, CompiledPolicy], tuple[StorePolicy, ...], str]:
    """Read, validate and compile the set at ``root``: its base versions, store policies and revision."""
    loader = _Loader()
    docs = loader.documents(root)
    by_kind: dict[str, list[Document]] = {}
    for doc in docs:
        by_kind.setdefault(doc.data["kind"], []).append(doc)
    policy_docs = by_kind.get("ActionPolicy", [])
    if not policy_docs and not loader.diagnostics:
        loader.diagnostics.append(Diagnostic(str(path), 1, 1, "no ActionPolicy found"))
    versions = loader.policies(policy_docs)
    loader.dispatch(versions, by_kind.get("StoreOverride", []))
    name = policy_docs[0].data["name"] if policy_docs else ""
    stores = loader.stores(by_kind.get("StoreOverride", []), versions, name)
    if loader.diagnostics:
        raise PolicyError(loader.diagnostics)
    deciding = [*policy_docs, *by_kind.get("StoreOverride", [])]  # test suites and the like decide nothing
    return versions, tuple(stores), _revision(deciding, loader.relative)
