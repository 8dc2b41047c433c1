"""The policy AST: frozen, source-located specs built from validated documents (before any condition is parsed).

Keeping this separate from compilation mirrors Cedar's parser/ast split: specs say what the author wrote, and
where (every spec keeps its document and JSON path, so a merged policy still points into the right file); the
compiler decides what it means.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import Diagnostic
from .yamlsource import Document

__all__ = ["ActionSpec", "ActionPatch", "ConditionSpec", "EffectSpec", "Expr", "FactSpec", "GuardPatch", "GuardSpec",
           "OverrideSpec", "PolicySpec", "UnlockSpec", "parse_override", "parse_policy", "parse_action", "parse_facts",
           "parse_conditions", "STORE_FACT"]

STORE_FACT = "store.id"
"""The fact that names an order's store: store overrides are chosen by it (defined here, below every layer that
reads it: locks.py, runtime/plan.py and the rest import this one)."""

PathT = tuple[str | int, ...]
LOCKABLE = ("visible", "allow")


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
        """``file:line:col`` of the condition."""
        return self.doc.where(self.path)


@attrs.frozen(slots=True)
class FactSpec:
    """A declared fact: its dotted name, type (bool, enum, string, number, set) and where the adapter reads it."""

    name: str
    type: str
    values: tuple[str, ...]
    source: tuple[str, ...]
    """Where the default adapter reads it: ("order", "store", "id") for store.id."""
    description: str | None
    path: PathT
    doc: Document = attrs.field(eq=False, repr=False)
    default: Any = None
    """The value the engine uses when the host does not send the fact (``default:``; a set fact's as a frozenset);
    None when it declares none. Checked against the fact's type at load (see the compiler), so the runtime takes
    it as it is. Only a *missing* fact gets it: ``null`` or a wrong value still fails closed."""

    @property
    def has_default(self) -> bool:
        """Whether the fact declares a ``default:``."""
        return self.default is not None

    @property
    def finite(self) -> bool:
        """Whether its values can be enumerated (enum and bool facts)."""
        return self.type in ("enum", "bool")

    @property
    def domain(self) -> tuple[Any, ...]:
        """Every value of a finite fact, in declaration order."""
        return (False, True) if self.type == "bool" else self.values


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
    doc: Document = attrs.field(eq=False, repr=False)


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
    doc: Document = attrs.field(eq=False, repr=False)
    locked: frozenset[str] = frozenset()
    """Which of visible/allow no store override may widen."""


@attrs.frozen(slots=True)
class UnlockSpec:
    """A newer version's explicit, reviewed weakening of a lock of the previous version: the ``visible`` or
    ``allow`` lock of an action (``part``), or one of its locked guards (``guard``)."""

    action: str
    part: str | None
    guard: str | None
    reason: str
    path: PathT

    @property
    def what(self) -> str:
        """``force_delete.allow``, ``delete guard 'sent-to-warehouse'``: the lock, as validate and diff show it."""
        return f"{self.action}.{self.part}" if self.part else f"{self.action} guard {self.guard!r}"


@attrs.frozen(slots=True)
class PolicySpec:
    """One ActionPolicy document, as written (or as merged with a store override)."""

    name: str
    version: int
    facts: tuple[FactSpec, ...]
    conditions: tuple[ConditionSpec, ...]
    actions: tuple[ActionSpec, ...]
    doc: Document = attrs.field(eq=False, repr=False)
    constraints: tuple[ConditionSpec, ...] = ()
    """Which fact combinations are possible (for analysis only; never used to decide)."""
    settable: tuple[str, ...] | None = None
    """The facts an effect may set, as declared (``settable:``); None when undeclared (see :attr:`may_set`)."""
    unlocks: tuple[UnlockSpec, ...] = ()
    """Locks of the previous version this version weakens on purpose."""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def may_set(self) -> frozenset[str]:
        """The facts an effect may set: those declared ``settable``, or else those this policy's own effects set."""
        if self.settable is not None:
            return frozenset(self.settable)
        return frozenset(name for a in self.actions for e in a.effects for name, _ in e.set)


@attrs.frozen(slots=True)
class GuardPatch:
    """A store's change to a base guard: a new condition and/or a new reason."""

    id: str
    when: Expr | None
    reason: str | None
    path: PathT


@attrs.frozen(slots=True)
class ActionPatch:
    """What a store override says about one action: changes to a base action, or a whole new action."""

    id: str
    data: dict[str, Any] = attrs.field(eq=False, repr=False)
    path: PathT
    doc: Document = attrs.field(eq=False, repr=False)
    hidden: bool
    visible: Expr | None
    hidden_reason: str | None
    allow: Expr | None
    allow_reason: str | None
    deny: tuple[GuardSpec, ...]
    drop_deny: tuple[tuple[str, PathT], ...]
    replace_deny: tuple[GuardPatch, ...]
    effects: tuple[EffectSpec, ...] | None


@attrs.frozen(slots=True)
class OverrideSpec:
    """One StoreOverride document: a store's changes to a base policy, within the limits the base sets."""

    store: str
    version: int
    policy: str
    based_on: int
    compatible: tuple[int, ...]
    pin: int | None
    facts: tuple[FactSpec, ...]
    conditions: tuple[ConditionSpec, ...]
    actions: tuple[ActionPatch, ...]
    doc: Document = attrs.field(eq=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.store}@{self.version}"


def _expr(doc: Document, value: Any, path: PathT) -> Expr:
    if isinstance(value, bool):
        return Expr("true" if value else "false", doc, path)
    return Expr(str(value), doc, path)


def _gate(doc: Document, value: Any, path: PathT) -> tuple[Expr | None, str | None]:
    """``allow``/``visible`` are either a condition or ``{when: condition, reason: text}``."""
    if isinstance(value, dict):
        when = _expr(doc, value["when"], (*path, "when")) if "when" in value else None
        return when, value.get("reason")
    return _expr(doc, value, path), None


def _default_source(name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    return parts if parts[0] in ("order", "user") else ("order", *parts)


def _fact_default(raw: Any) -> Any:
    """A ``default:`` as the runtime holds it: a list (a set fact's) as a frozenset; None when absent."""
    return frozenset(raw) if isinstance(raw, list) else raw


def parse_facts(doc: Document, data: dict[str, Any]) -> tuple[FactSpec, ...]:
    return tuple(
        FactSpec(name, f["type"], tuple(f.get("values", ())),
                 tuple(f["from"].split(".")) if "from" in f else _default_source(name),
                 f.get("description"), ("facts", name), doc, _fact_default(f.get("default")))
        for name, f in (data.get("facts") or {}).items()
    )


def parse_conditions(doc: Document, data: dict[str, Any], section: str = "conditions") -> tuple[ConditionSpec, ...]:
    conditions = []
    for name, value in (data.get(section) or {}).items():
        path: PathT = (section, name)
        if isinstance(value, dict):
            conditions.append(ConditionSpec(name, _expr(doc, value["when"], (*path, "when")), value.get("description")))
        else:
            conditions.append(ConditionSpec(name, _expr(doc, value, path), None))
    return tuple(conditions)


def _guards(doc: Document, raw: Any, base: PathT) -> tuple[GuardSpec, ...]:
    return tuple(
        GuardSpec(g["id"], _expr(doc, g["when"], (*base, "deny", i, "when")), g["reason"], bool(g.get("locked")),
                  (*base, "deny", i), doc)
        for i, g in enumerate(raw or ())
    )


def _effects(doc: Document, raw: Any, base: PathT) -> tuple[EffectSpec, ...]:
    return tuple(
        EffectSpec(_expr(doc, e["when"], (*base, "effects", i, "when")) if "when" in e else None,
                   tuple((e.get("set") or {}).items()), e.get("operation"), (*base, "effects", i))
        for i, e in enumerate(raw or ())
    )


def parse_action(doc: Document, action_id: str, a: dict[str, Any], base: PathT) -> ActionSpec:
    """A whole action (from a policy, or a store override's new action: both have ``label`` and ``allow``)."""
    visible, hidden_reason = _gate(doc, a.get("visible", True), (*base, "visible"))
    allow, allow_reason = _gate(doc, a["allow"], (*base, "allow"))
    assert visible is not None and allow is not None  # the schema requires `when` in a policy's gates
    locked = a.get("locked", False)
    locks = frozenset(LOCKABLE if locked is True else (locked or ()))
    return ActionSpec(action_id, a["label"], visible, hidden_reason, allow, allow_reason, _guards(doc, a.get("deny"), base),
                      a.get("confirm"), bool(a.get("destructive")), _effects(doc, a.get("effects"), base),
                      a.get("description"), base, doc, locks)


def parse_policy(doc: Document) -> PolicySpec:
    """Build the spec of a schema-valid ActionPolicy document."""
    data = doc.data
    actions = tuple(parse_action(doc, action_id, a, ("actions", action_id)) for action_id, a in data["actions"].items())
    settable = tuple(data["settable"]) if "settable" in data else None
    unlocks = tuple(UnlockSpec(u["action"], u.get("part"), u.get("guard"), u["reason"], ("unlocks", i))
                    for i, u in enumerate(data.get("unlocks") or ()))
    return PolicySpec(data["name"], data["version"], parse_facts(doc, data), parse_conditions(doc, data), actions, doc,
                      parse_conditions(doc, data, "constraints"), settable, unlocks)


def _patch(doc: Document, action_id: str, a: dict[str, Any]) -> ActionPatch:
    base: PathT = ("actions", action_id)
    visible, hidden_reason = _gate(doc, a["visible"], (*base, "visible")) if "visible" in a else (None, None)
    allow, allow_reason = _gate(doc, a["allow"], (*base, "allow")) if "allow" in a else (None, None)
    replace = tuple(
        GuardPatch(guard_id, _expr(doc, g["when"], (*base, "replace_deny", guard_id, "when")) if "when" in g else None,
                   g.get("reason"), (*base, "replace_deny", guard_id))
        for guard_id, g in (a.get("replace_deny") or {}).items()
    )
    return ActionPatch(action_id, a, base, doc, bool(a.get("hidden")), visible, hidden_reason, allow, allow_reason,
                       _guards(doc, a.get("deny"), base),
                       tuple((g, (*base, "drop_deny", i)) for i, g in enumerate(a.get("drop_deny") or ())),
                       replace, _effects(doc, a["effects"], base) if "effects" in a else None)


def parse_override(doc: Document) -> OverrideSpec:
    """Build the spec of a schema-valid StoreOverride document."""
    data = doc.data
    base = data["base"]
    return OverrideSpec(data["store"], data["version"], base["policy"], base["version"], tuple(base.get("compatible", ())),
                        base.get("pin"), parse_facts(doc, data), parse_conditions(doc, data),
                        tuple(_patch(doc, action_id, a) for action_id, a in (data.get("actions") or {}).items()), doc)
