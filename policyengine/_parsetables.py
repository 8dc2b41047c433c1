"""rule-engine's condition parser without rebuilding its LALR tables in every process.

rule-engine parses conditions with ply, and builds the parse tables of its grammar when it is imported
(``rule_engine.Rule.parser = Parser()``): about a quarter of a second of CPU in every process that imports
policyengine, which is most of the start-up of a quick command such as ``policyengine validate``. ply first looks
for prebuilt tables in the module ``rule_engine.parser.parsetab``; rule-engine ships none. :func:`install` offers
:mod:`policyengine._rule_engine_parsetab` (written by :func:`write`) under that name. ply itself compares the
grammar signature recorded in those tables with the grammar it is about to build: with a rule-engine whose grammar
differs it ignores them and builds its own tables, exactly as without this module (and a test fails, asking for
the tables to be written again).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing alone costs more than the rest of `import policyengine`
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = ["TABMODULE", "install", "signature", "write"]

TABMODULE = "rule_engine.parser.parsetab"
"""Where ply (as rule-engine calls it) looks for prebuilt tables."""

_OURS = "_rule_engine_parsetab"


class _Tables:
    """A finder, last on ``sys.meta_path``, answering only ply's import of :data:`TABMODULE` (after every other
    finder: tables someone else installs win) with our prebuilt tables. Nothing is read until ply asks, so
    ``import policyengine`` costs nothing here."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> Any:
        if fullname != TABMODULE:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(TABMODULE, _Tables)  # type: ignore[arg-type]  # a loader by its two methods

    @staticmethod
    def create_module(spec: object) -> Any:
        from . import _rule_engine_parsetab  # the very module, under ply's name too

        return _rule_engine_parsetab

    @staticmethod
    def exec_module(module: object) -> None:
        return None


def install() -> None:
    """Offer the prebuilt tables to ply, unless rule-engine is already imported (too late to matter) or someone
    else provides tables of their own."""
    if "rule_engine.engine" in sys.modules or TABMODULE in sys.modules or _Tables in sys.meta_path:
        return
    sys.meta_path.append(_Tables)


def signature() -> str:
    """The grammar signature of the installed rule-engine, as ply computes it to validate tables."""
    from rule_engine import Rule
    from rule_engine._vendor.ply import yacc

    parser = Rule.parser
    pdict = {name: getattr(parser, name) for name in dir(parser)}
    pdict.setdefault("__file__", sys.modules[pdict["__module__"]].__file__)
    reflect = yacc.ParserReflect(pdict, log=yacc.NullLogger())
    reflect.get_all()
    return str(reflect.signature())


def write(folder: Path | None = None) -> Path:
    """Build the tables of the installed rule-engine's grammar and write them as ``_rule_engine_parsetab.py``
    in ``folder`` (after upgrading rule-engine:
    ``python -c 'from policyengine._parsetables import write; print(write())'``); by default next to this module."""
    from pathlib import Path

    folder = folder if folder is not None else Path(__file__).parent
    from rule_engine._vendor.ply import yacc
    from rule_engine.parser import Parser

    # A tabmodule name nobody provides, so that ply builds the tables (rather than reading ours) and writes them.
    yacc.yacc(module=Parser(), debug=False, write_tables=True, tabmodule=_OURS, outputdir=str(folder),
              errorlog=yacc.NullLogger())
    path = folder / f"{_OURS}.py"
    generated = path.read_text("utf-8")
    header = "# mypy: ignore-errors\n# ruff: noqa\n# Written by policyengine/_parsetables.py: ply's tables of rule-engine's grammar."
    path.write_text(header + generated, "utf-8")
    return path


install()  # on import: the package imports this module before anything that imports rule-engine
