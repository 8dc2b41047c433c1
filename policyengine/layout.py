"""The trust layout of a policy directory: each kind of file has one place, so who may write a file (a review
rule, a CODEOWNERS entry) decides what it can do.

=====================  ==========================  ===================================================
kind                   place                       read by
=====================  ==========================  ===================================================
``ActionPolicy``       the top of the directory    :func:`policyengine.load` (every version, one file each)
``StoreOverride``      ``stores/`` (any depth)     :func:`policyengine.load`
``PolicyTestSuite``    ``tests/`` (any depth)      ``policyengine test``, ``validate``
``PolicyInvariants``   ``invariants/`` (any depth) ``policyengine verify``, ``validate``
=====================  ==========================  ===================================================

A store override speaks only for its own store: ``stores/<id>.yaml`` (or ``.yml``, in any folder under
``stores/``) must say ``store: <id>``, so that whoever may write that one file decides that one store's menu and
no other (a review rule or CODEOWNERS entry per file holds); any other pairing is a load error at the ``store:``
value (:func:`store_binding`).

A file of another kind in a place, or a YAML file anywhere else, is a load error naming where its kind belongs:
a policy version dropped under ``stores/`` is refused rather than becoming the latest version. ``load`` reads only
the files that decide (the top and ``stores/``), so a broken test suite or invariant never stops an engine from
loading; ``validate`` checks them too (:func:`policyengine.toolkit.companions.companion_diagnostics`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import Diagnostic, PolicyError
from .pipeline.validate import SCHEMAS, validate_document
from .pipeline.yamlsource import MAX_FILE_BYTES, Document, read_document, read_regular_file

__all__ = ["PLACES", "DECIDING", "place_of", "belongs", "read_placed", "layout_files", "deciding_files", "read_bounded",
           "store_binding"]

PLACES = {"ActionPolicy": "", "StoreOverride": "stores", "PolicyTestSuite": "tests", "PolicyInvariants": "invariants"}
"""Each kind's place: a folder of the policy directory ("" is its top)."""

DECIDING = ("ActionPolicy", "StoreOverride")
"""The kinds that decide, the only ones ``load`` reads."""

_SUFFIXES = (".yaml", ".yml")


def place_of(root: Path, file: Path) -> str | None:
    """The place ``file`` is in ("" for the top of ``root``, else its first folder), or None outside the layout."""
    parts = file.relative_to(root).parts
    if len(parts) == 1:
        return ""
    return parts[0] if parts[0] in PLACES.values() else None


def belongs(kind: str) -> str:
    """Where files of ``kind`` belong, in words."""
    return _in_words(PLACES[kind])


def _in_words(place: str | None) -> str:
    if place is None:
        return "outside the policy layout"
    return "at the top of the policy directory" if not place else f"under {place}/"


def layout_files(root: Path) -> list[Path]:
    """Every YAML file under ``root`` (a symlink to one included), sorted by path parts; hidden files and folders
    are left out and symlinked folders are not entered (as ``Path.rglob``)."""
    return [root.joinpath(*parts) for parts in layout_parts(root)]


def layout_parts(root: Path) -> list[tuple[str, ...]]:
    """:func:`layout_files` as path parts relative to ``root``. ``os.scandir`` with plain string work, because with
    thousands of store overrides pathlib's per-path parsing and a ``stat`` per file were most of a warm start from
    the compiled cache (see policyengine.cache). As ``os.walk`` (not following symlinked folders, unreadable ones
    skipped) and ``os.path.isfile`` (a symlink counts as what it points to): the entries' own types save the stat."""
    found: list[tuple[str, ...]] = []
    todo: list[tuple[str, ...]] = [()]
    while todo:
        prefix = todo.pop()
        try:
            with os.scandir(os.path.join(root, *prefix)) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if _is(entry.is_dir):
                if not _is(entry.is_symlink):
                    todo.append((*prefix, name))
            elif name.endswith(_SUFFIXES) and _is(entry.is_file):
                found.append((*prefix, name))
    found.sort()
    return found


def _is(test: Callable[[], bool]) -> bool:
    try:
        return test()
    except OSError:  # as os.walk and os.path.isfile: an entry that cannot be checked is not one
        return False


def deciding_files(path: Path) -> list[Path]:
    """The files ``load(path)`` reads: for a directory, its YAML files at the top and under ``stores/`` (never
    ``tests/`` or ``invariants/``, nor any other folder, whose files load refuses by name without reading them
    whole); ``[path]`` for a file."""
    if not path.is_dir():
        return [path]
    deciding = {PLACES[kind] for kind in DECIDING}
    return [path.joinpath(*parts) for parts in layout_parts(path)
            if (len(parts) == 1 and "" in deciding) or (len(parts) > 1 and parts[0] in deciding)]


def read_bounded(file: Path) -> bytes:
    """The bytes of one policy file as ``load`` reads it (the same limit, FIFOs and devices refused without
    blocking); raises :class:`~.pipeline.yamlsource.NotReadable` when load would refuse it."""
    return read_regular_file(file, MAX_FILE_BYTES)


def read_placed(file: Path, place: str | None, diagnostics: list[Diagnostic], display: str | None = None) -> Document | None:
    """Stages 1 and 2 for a file in ``place``: the document when it reads, is of the kind that place holds and
    matches its schema; otherwise None, with the problem added to ``diagnostics``. ``display`` names the file in
    diagnostics (default: :func:`~.pipeline.yamlsource.display_name`)."""
    try:
        doc = read_document(file, display)
    except PolicyError as err:
        diagnostics += err.diagnostics
        return None
    found = doc.data.get("kind") if isinstance(doc.data, dict) else None
    kind = found if isinstance(found, str) and found in SCHEMAS else None  # `kind: [x]` is for validation to word
    if place is None or (kind is not None and PLACES[kind] != place):
        here = _in_words(place)
        if kind is not None:
            diagnostics.append(doc.diagnostic(("kind",), f"{_article(kind)} {kind} does not belong {here}: it belongs "
                                                         f"{belongs(kind)}"))
        else:
            diagnostics.append(Diagnostic(doc.file, 1, 1, f"a file {here}", hint=_layout_hint()))
        return None
    problems = validate_document(doc)
    if not problems and kind == "StoreOverride" and place == PLACES["StoreOverride"]:
        problems = store_binding(doc)
    diagnostics += problems
    return None if problems else doc


def store_binding(doc: Document) -> list[Diagnostic]:
    """``stores/<id>.yaml`` declares ``store: <id>``: the file's name (without its suffix) is the store it speaks
    for; anything else is refused at the ``store:`` value."""
    store = doc.data.get("store")
    name = os.path.basename(doc.file)
    stem = next((name[:-len(s)] for s in _SUFFIXES if name.endswith(s)), name)
    if store == stem:
        return []
    return [doc.diagnostic(("store",), f"this file speaks for store {stem!r} (its name), but declares store "
                                       f"{store!r}: a store override speaks only for the store it is named after",
                           hint=f"rename the file to stores/{store}.yaml, or declare store: {stem}")]


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOU" else "a"


def _layout_hint() -> str:
    return ("policy versions go at the top of the policy directory, store overrides under stores/, test suites "
            "under tests/, invariants under invariants/")
