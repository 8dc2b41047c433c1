"""``validate``'s look at a policy directory's companions: its test suites (``tests/``) and invariants
(``invariants/``), which ``load`` never reads (a broken suite never stops an engine from loading). It sits in the
toolkit, above the engine and analysis whose loaders it runs; :mod:`policyengine.layout` says where each kind lives.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.verify import load_invariants
from ..engine import Engine
from ..errors import Diagnostic, PolicyError
from ..layout import PLACES, layout_files, read_placed
from .suites import load_suites

__all__ = ["companion_diagnostics"]


def companion_diagnostics(engine: Engine, root: Path) -> list[Diagnostic]:
    """What is wrong with the test suites (``tests/``) and invariants (``invariants/``) of the policy directory
    ``root`` that ``engine`` was loaded from: files of another kind, and every problem their own loaders find."""
    diagnostics: list[Diagnostic] = []
    for kind in ("PolicyTestSuite", "PolicyInvariants"):
        folder = root / PLACES[kind]
        files = layout_files(folder) if folder.is_dir() else []
        found: list[Diagnostic] = []
        for file in files:
            read_placed(file, PLACES[kind], found)
        diagnostics += found
        if files and not found:  # each file reads and has its kind and shape: check it against the engine
            try:
                if kind == "PolicyTestSuite":
                    load_suites(engine, folder)
                else:
                    load_invariants(engine, files)
            except PolicyError as err:
                diagnostics += err.diagnostics
    return diagnostics
