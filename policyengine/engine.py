"""The public entry points: :func:`load` runs the pipeline (load -> validate -> compile) and returns an
:class:`Engine`, whose :meth:`Engine.evaluate` decides every action of a policy for one order and user."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .adapters import Adapter, DefaultAdapter
from .codegen import Evaluator, build_evaluator
from .compiler import CompiledPolicy, compile_policy
from .decision import Decisions
from .errors import Diagnostic, FactError, PolicyError
from .model import parse_policy
from .validate import validate_document
from .yamlsource import Document, read_document

__all__ = ["Engine", "load", "policy_files"]

_SUFFIXES = (".yaml", ".yml")


class Engine:
    """A loaded, compiled policy ready to evaluate. Immutable and safe to share between threads."""

    __slots__ = ("_adapter", "_evaluator", "_policy")

    def __init__(self, policy: CompiledPolicy, adapter: Adapter | None = None) -> None:
        self._policy = policy
        self._adapter = adapter or DefaultAdapter()
        self._evaluator: Evaluator = build_evaluator(policy, self._adapter)

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy (facts, conditions, actions and their sources)."""
        return self._policy

    @property
    def name(self) -> str:
        return self._policy.name

    @property
    def version(self) -> int:
        return self._policy.version

    @property
    def actions(self) -> tuple[str, ...]:
        """Action ids in policy (menu) order."""
        return tuple(a.id for a in self._policy.actions)

    @property
    def generated_source(self) -> str:
        """The Python source of the generated fast evaluator."""
        return self._evaluator.source

    def evaluate(self, order: Any, user: Any, *, strict: bool = False) -> Decisions:
        """Decide every action for ``order`` and ``user``.

        Bad facts fail closed: no action is enabled (or shown, when its visibility is unknown) because of an error,
        the affected decisions say why, and ``decision.errors`` lists the problems. With ``strict=True`` a bad
        fact raises :class:`FactError` instead.
        """
        result = self._evaluator.fast(order, user)
        if type(result) is tuple:  # only the fail-closed path returns (decisions, problems)
            decisions, problems = result
            if strict and problems:
                raise FactError(problems)
            return decisions
        assert isinstance(result, Decisions)  # for the type checker; never false
        return result

    def __repr__(self) -> str:
        return f"<Engine {self.name}@{self.version}: {len(self.actions)} actions>"


def policy_files(path: Path) -> list[Path]:
    """The YAML files under ``path`` (recursively, sorted), or ``[path]`` for a file."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    return [path]


def _display(file: Path, base: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def load(path: str | Path, *, adapter: Adapter | None = None) -> Engine:
    """Load, validate and compile the policies at ``path`` (a directory or one file) into an :class:`Engine`.

    Raises :class:`PolicyError` carrying every diagnostic found (all files are checked before it is raised).
    """
    root = Path(path)
    if not root.exists():
        raise PolicyError([Diagnostic(str(path), 1, 1, "no such file or directory")])
    files = policy_files(root)
    diagnostics: list[Diagnostic] = []
    documents: list[Document] = []
    for file in files:
        try:
            doc = read_document(file, _display(file, root))
        except PolicyError as err:
            diagnostics += err.diagnostics
            continue
        problems = validate_document(doc)
        diagnostics += problems
        if not problems:
            documents.append(doc)
    policies = [d for d in documents if d.data["kind"] == "ActionPolicy"]
    if not files:
        diagnostics.append(Diagnostic(str(path), 1, 1, "no policy files (*.yaml) found"))
    elif not policies and not diagnostics:
        diagnostics.append(Diagnostic(str(path), 1, 1, "no ActionPolicy found"))
    elif len(policies) > 1:
        names = ", ".join(d.file for d in policies)
        diagnostics += [Diagnostic(d.file, 1, 1, f"more than one ActionPolicy is loaded ({names})",
                                   hint="load one policy directory per engine") for d in policies[1:]]
    compiled = _compile_all(policies[:1], diagnostics)
    if diagnostics:
        raise PolicyError(diagnostics)
    return Engine(compiled[0], adapter)


def _compile_all(documents: Iterable[Document], diagnostics: list[Diagnostic]) -> list[CompiledPolicy]:
    out = []
    for doc in documents:
        try:
            out.append(compile_policy(parse_policy(doc)))
        except PolicyError as err:
            diagnostics += err.diagnostics
    return out
