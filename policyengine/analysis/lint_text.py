"""Lint rules about the text people read (registered by :func:`policyengine.analysis.lint.lint`):

* PE402 reason-names-other-values: a reason that names values of an enum fact (``Viewers can't change orders.``
  names the role ``viewer``) while its condition no longer implies them. Decided by enumerating the enum: the text
  is consistent when every combination that shows the reason has one of the named values (``Viewers ...``), or
  when every combination without them that reaches the reason's gate shows it (``Only account admins ...``).
  Anything else (a new role ``agent`` that now also gets "Viewers can't change orders.") is reported. A value
  is named when its word appears in the text (``s``/``es`` plural allowed; in any case for a lowercase value such
  as a role, as declared for a capitalised one such as a status); text that names no value
  (``Read-only users``) cannot be decided and is not reported.
* PE601 comment-cuts-text: an unquoted value followed by `` #`` and a non-space (``label: Refund #2``): YAML
  reads ``#2`` as a comment, so the label is ``Refund``. Comments that start ``# `` (with a space) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..pipeline.compiler import CompiledAction, CompiledPolicy
from ..pipeline.yamlsource import Document

if TYPE_CHECKING:
    from ..engine import Engine
    from .machinery import Analysis

__all__ = ["TEXT_RULES", "text_findings"]

TEXT_RULES: tuple[tuple[str, str, str], ...] = (
    ("PE402", "reason-names-other-values", "a reason names values of an enum fact that its condition no longer implies"),
    ("PE601", "comment-cuts-text", "an unquoted value is cut at ` #`: YAML reads the rest as a comment"),
)
"""``(id, name, summary)`` of each rule here, merged into ``lint.RULES``."""

Raw = tuple[str, str, str, str | None]
"""``(rule, file:line:col, message, hint)``."""

_CUT = re.compile(r"[ \t]#(?=[^\s#])")


def _documents(engine: Engine) -> Iterator[Document]:
    seen: set[str] = set()
    for version in engine.versions:
        doc = engine.version_policy(version).spec.doc
        if doc.file not in seen:
            seen.add(doc.file)
            yield doc
    for store in engine.stores:
        override = engine.store_override(store)
        if override is not None and override.override.doc.file not in seen:
            seen.add(override.override.doc.file)
            yield override.override.doc


def _cut_values(doc: Document) -> Iterator[Raw]:
    """PE601 in one document: each unquoted string value whose line goes on with `` #x``."""
    text = doc.text
    for path, mark in doc.marks.items():
        if not path or mark.index >= len(text) or text[mark.index] in "'\"|>[{":
            continue
        value = doc._value_at(path)
        if not isinstance(value, str) or "\n" in value or not text.startswith(value, mark.index):
            continue
        end = mark.index + len(value)
        rest = text[end:text.find("\n", end) if "\n" in text[end:] else len(text)]
        cut = _CUT.match(rest)
        if cut is None:
            continue
        whole = (value + rest).rstrip()
        key = path[-1]
        shown = f"{key}: " if isinstance(key, str) else ""
        column = end - (text.rfind("\n", 0, end) + 1) + 2
        yield ("PE601", f"{doc.file}:{mark.line}:{column}",
               f"YAML reads `{rest.strip()}` as a comment: the value is {value!r}",
               f'quote it to keep the text: {shown}"{whole}"')


def _named(text: str, values: tuple[str, ...]) -> set[str]:
    # a value written in lowercase (a role) is named in any case (`Viewers`); one with capitals (a status) only as
    # declared, so prose ("has shipped") does not name the status `Shipped`
    return {v for v in values if re.search(rf"(?<![\w-]){re.escape(v)}(?:e?s)?(?![\w-])", text,
                                           re.IGNORECASE if v == v.lower() else 0)}


def _reasons(action: CompiledAction) -> Iterator[tuple[str, str, bool]]:
    """``(reason text, where its condition is, whether it is the visibility's)`` of each gate of ``action``."""
    spec = action.spec
    if spec.hidden_reason:
        yield spec.hidden_reason, action.visible.where, True
    if spec.allow_reason:
        yield spec.allow_reason, action.allow.where, False
    for guard in action.guards:
        yield guard.spec.reason, guard.when.where, False


def _reason_values(analysis: Analysis, action: CompiledAction) -> Iterator[Raw]:
    """PE402 for one action: enumerate the combinations its conditions read (skipped when they are not finite)."""
    space = analysis.space(action.exprs())
    if space.skipped is not None:
        return
    enums = [analysis.facts[name] for name in space.facts if analysis.facts[name].type == "enum"]
    decided = [(row, analysis.decision(action.id, row)) for row in space.rows]
    for text, where, visibility in _reasons(action):
        for fact in enums:
            values = tuple(fact.values or ())
            named = _named(text, values)
            if not named or len(named) == len(values):
                continue
            shown = {row.values[fact.name] for row, d in decided if text in d.reasons}
            reached = [(row, d) for row, d in decided if visibility or d.state != "hidden"]
            positive = shown <= named
            negative = all(text in d.reasons for row, d in reached if row.values[fact.name] not in named)
            if positive or negative or not shown:
                continue
            others = sorted(shown - named, key=values.index)
            yield ("PE402", where,
                   f"the reason {text!r} names {fact.name} {', '.join(sorted(named, key=values.index))}, but it is "
                   f"also shown when {fact.name} is {', '.join(others)}",
                   f"check that the text is true for {', '.join(others)}: reword it, or narrow the condition")


def text_findings(engine: Engine, analyses: dict[int, Analysis]) -> list[tuple[Raw, str | None]]:
    """Every finding of this module's rules, each with the store whose merged policy alone shows it (or None)."""
    out: list[tuple[Raw, str | None]] = []
    for doc in _documents(engine):
        out += [(raw, None) for raw in _cut_values(doc)]
    policies: list[tuple[CompiledPolicy, str | None]] = [(engine.version_policy(v), None) for v in engine.versions]
    policies += [(engine.store_policy(s), s) for s in engine.stores]
    for policy, store in policies:
        analysis = analyses.get(id(policy))
        if analysis is None:
            continue
        for action in policy.actions:
            out += [(raw, store) for raw in _reason_values(analysis, action)]
    return out

