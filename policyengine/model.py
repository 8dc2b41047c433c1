"""The policy AST: frozen, source-located specs built from a validated document (before any condition is parsed).

Keeping this separate from compilation mirrors Cedar's parser/ast split: specs say what the author wrote, and
where; the compiler decides what it means.
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import Diagnostic
from .yamlsource import Document

__all__ = ["ActionSpec", "ConditionSpec", "EffectSpec", "Expr", "FactSpec", "GuardSpec", "PolicySpec", "parse_policy"]

PathT = tuple[str | int, ...]


@attrs.frozen(slots=True)
class Expr:
    """A condition as written: rule-engine text (YAML booleans become ``true``/``false``) and its location."""

    text: str
    doc: Document = attrs.field(eq=False, repr=False)
    path: PathT

    def diagnostic(self, message: str, *, offset: int = 0, hint: str | None = None) -> Diagnostic:
        return self.doc.diagnostic(self.path, message, offset=offset, hint=hint)

    @property
    def where(self) -> str:
        mark = self.doc.mark(self.path)
        return f"{self.doc.file}:{mark.line}:{mark.column}"


@attrs.frozen(slots=True)
class FactSpec:
    name: str
    type: str
    values: tuple[str, ...]
    source: tuple[str, ...]
    """Where the default adapter reads it: ("order", "store", "id") for store.id."""
    description: str | None
    path: PathT


@attrs.frozen(slots=True)
class ConditionSpec:
    name: str
    expr: Expr
    description: str | None


@attrs.frozen(slots=True)
class GuardSpec:
    id: str
    when: Expr
    reason: str
    locked: bool
    path: PathT


@attrs.frozen(slots=True)
class EffectSpec:
    when: Expr | None
    set: tuple[tuple[str, Any], ...]
    operation: str | None
    path: PathT


@attrs.frozen(slots=True)
class ActionSpec:
    id: str
    label: str
    visible: Expr
    hidden_reason: str | None
    allow: Expr
    allow_reason: str | None
    deny: tuple[GuardSpec, ...]
    confirm: str | None
    destructive: bool
    effects: tuple[EffectSpec, ...]
    description: str | None
    path: PathT


@attrs.frozen(slots=True)
class PolicySpec:
    """One ActionPolicy document, as written."""

    name: str
    version: int
    facts: tuple[FactSpec, ...]
    conditions: tuple[ConditionSpec, ...]
    actions: tuple[ActionSpec, ...]
    doc: Document = attrs.field(eq=False, repr=False)


def _expr(doc: Document, value: Any, path: PathT) -> Expr:
    if isinstance(value, bool):
        return Expr("true" if value else "false", doc, path)
    return Expr(str(value), doc, path)


def _gate(doc: Document, value: Any, path: PathT) -> tuple[Expr, str | None]:
    """``allow``/``visible`` are either a condition or ``{when: condition, reason: text}``."""
    if isinstance(value, dict):
        return _expr(doc, value["when"], (*path, "when")), value.get("reason")
    return _expr(doc, value, path), None


def _default_source(name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    return parts if parts[0] in ("order", "user") else ("order", *parts)


def parse_policy(doc: Document) -> PolicySpec:
    """Build the spec of a schema-valid ActionPolicy document."""
    data = doc.data
    facts = tuple(
        FactSpec(name, f["type"], tuple(f.get("values", ())),
                 tuple(f["from"].split(".")) if "from" in f else _default_source(name),
                 f.get("description"), ("facts", name))
        for name, f in data["facts"].items()
    )
    conditions = []
    for name, value in (data.get("conditions") or {}).items():
        path: PathT = ("conditions", name)
        if isinstance(value, dict):
            conditions.append(ConditionSpec(name, _expr(doc, value["when"], (*path, "when")), value.get("description")))
        else:
            conditions.append(ConditionSpec(name, _expr(doc, value, path), None))
    actions = []
    for action_id, a in data["actions"].items():
        base: PathT = ("actions", action_id)
        visible, hidden_reason = _gate(doc, a.get("visible", True), (*base, "visible"))
        allow, allow_reason = _gate(doc, a["allow"], (*base, "allow"))
        guards = tuple(
            GuardSpec(g["id"], _expr(doc, g["when"], (*base, "deny", i, "when")), g["reason"], bool(g.get("locked")),
                      (*base, "deny", i))
            for i, g in enumerate(a.get("deny") or ())
        )
        effects = tuple(
            EffectSpec(_expr(doc, e["when"], (*base, "effects", i, "when")) if "when" in e else None,
                       tuple((e.get("set") or {}).items()), e.get("operation"), (*base, "effects", i))
            for i, e in enumerate(a.get("effects") or ())
        )
        actions.append(ActionSpec(action_id, a["label"], visible, hidden_reason, allow, allow_reason, guards,
                                  a.get("confirm"), bool(a.get("destructive")), effects, a.get("description"), base))
    return PolicySpec(data["name"], data["version"], facts, tuple(conditions), tuple(actions), doc)
