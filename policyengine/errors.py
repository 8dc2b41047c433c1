"""The one error hierarchy of policyengine, rooted at :class:`PolicyError`.

Load-time problems are collected as :class:`Diagnostic` values (file, line, column, JSON path, message, hint) and
raised together in one :class:`PolicyError`, sorted by position, so that a policy author sees every problem at once
rather than fixing them one run at a time.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import attrs

__all__ = ["Diagnostic", "FactError", "FactProblem", "PolicyError", "format_diagnostics", "json_path"]


def json_path(path: Iterable[str | int]) -> str:
    """Render a path of keys and indexes as a JSONPath-like string: ``$.actions.reset.deny[0].when``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A hint naming the closest of ``choices`` to a misspelt ``word``, or None when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}?" if close else None


@attrs.frozen(slots=True, order=False)
class Diagnostic:
    """One problem found while loading policies, located in its source file.

    ``line`` and ``column`` are 1-based; 0 means "the whole file" (for example an empty file).
    """

    file: str
    line: int
    column: int
    message: str
    path: tuple[str | int, ...] = ()
    hint: str | None = None

    @property
    def json_path(self) -> str:
        """The location inside the document, e.g. ``$.actions.reset.allow``."""
        return json_path(self.path)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.json_path,
            "message": self.message,
            "hint": self.hint,
        }


def format_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    """Each diagnostic as ``file:line:col: message``, then its JSON path and hint, then a count: the one wording
    of the CLI and of the pytest helper."""
    diagnostics = tuple(diagnostics)
    lines = []
    for d in diagnostics:
        lines.append(f"{d.file}:{d.line}:{d.column}: {d.message}")
        if d.path:
            lines.append(f"    at {d.json_path}")
        if d.hint:
            lines.append(f"    hint: {d.hint}")
    lines.append(f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} found")
    return "\n".join(lines)


class PolicyError(Exception):
    """Policies could not be loaded. ``diagnostics`` lists every problem found, sorted by file and position."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(sorted(set(diagnostics), key=lambda d: d.sort_key))
        super().__init__(self._summary())

    def _summary(self) -> str:
        if not self.diagnostics:
            return "policy error"
        head = f"{len(self.diagnostics)} problem(s) in policies:"
        return "\n".join([head, *(str(d) for d in self.diagnostics)])


@attrs.frozen(slots=True)
class FactProblem:
    """A fact that could not be used while deciding: missing, of the wrong type, undeclared, or its adapter failed."""

    fact: str
    message: str

    def __str__(self) -> str:
        return f"{self.fact}: {self.message}"


class FactError(PolicyError):
    """Raised by ``Engine.evaluate(..., strict=True)`` when a fact the policy needs is bad."""

    def __init__(self, problems: Iterable[FactProblem]) -> None:
        self.problems: tuple[FactProblem, ...] = tuple(problems)
        Exception.__init__(self, "; ".join(str(p) for p in self.problems) or "bad facts")
        self.diagnostics = ()
