"""Part of stage 3, compile: apply a store override to its base policy, giving the store's own policy spec.

The rules, in one place (docs/overrides.md, "Merge rules", has them with examples):

* facts and named conditions: an override may add new ones; a named condition of the same name replaces the
  base's (a fact must keep its declaration);
* an action the base has: ``label``, ``description``, ``confirm``, ``destructive`` and ``effects`` are replaced;
  ``hidden: true`` hides it; ``visible``/``allow`` replace the condition and/or reason; ``deny`` adds guards;
  ``drop_deny`` removes base guards; ``replace_deny`` changes a base guard's condition and/or reason;
* an action the base does not have is a new action (it needs ``label`` and ``allow``), appended to the menu;
* a ``locked`` guard can never be dropped. Whether a change widens a locked visibility, allow condition or guard,
  or sets a fact it may not, is decided on meaning, not on wording, by :mod:`policyengine.locks` after compilation;
* what effects may set stays the base's (``settable``, or the facts the base's own effects set).

Merging is a pure function of (base, override): file order never matters.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import Diagnostic, did_you_mean
from .model import ActionPatch, ActionSpec, ConditionSpec, Expr, FactSpec, GuardSpec, OverrideSpec, PolicySpec, parse_action

__all__ = ["merge_override"]

_PATCH_ONLY = ("hidden", "drop_deny", "replace_deny")




class _Merger:
    def __init__(self, base: PolicySpec, override: OverrideSpec) -> None:
        self.base = base
        self.override = override
        self.doc = override.doc
        self.diagnostics: list[Diagnostic] = []

    def facts(self) -> tuple[FactSpec, ...]:
        known = {f.name: f for f in self.base.facts}
        added = []
        for fact in self.override.facts:
            first = known.get(fact.name)
            if first is None:
                added.append(fact)
            elif (first.type, first.values, first.source) != (fact.type, fact.values, fact.source):
                self.diagnostics.append(self.doc.diagnostic(
                    fact.path, f"fact {fact.name!r} is already declared by the base policy, differently "
                               f"(at {first.doc.where(first.path, key=True)})", key=True,
                    hint="a store may add facts, not change the base's"))
        return (*self.base.facts, *added)

    def conditions(self) -> tuple[ConditionSpec, ...]:
        replaced = {c.name: c for c in self.override.conditions}
        merged = [replaced.pop(c.name, c) for c in self.base.conditions]
        return (*merged, *(c for c in self.override.conditions if c.name in replaced))

    def action(self, base: ActionSpec, patch: ActionPatch) -> ActionSpec:
        data = patch.data
        changes: dict[str, Any] = {key: data[key] for key in ("label", "description", "confirm") if key in data}
        if "destructive" in data:
            changes["destructive"] = bool(data["destructive"])
        if patch.effects is not None:
            changes["effects"] = patch.effects
        if patch.hidden and patch.visible is not None:
            self.diagnostics.append(self.doc.diagnostic(
                patch.visible.path, "'hidden: true' hides the action: this visible condition would never apply",
                hint="keep one of them (a reason alone is fine: visible: {reason: ...})"))
        if patch.hidden:
            changes["visible"] = Expr("false", self.doc, (*patch.path, "hidden"))
            changes["hidden_reason"] = patch.hidden_reason or f"Not offered for store {self.override.store}."
        else:
            if patch.visible is not None:
                changes["visible"] = patch.visible
            if patch.hidden_reason is not None:
                changes["hidden_reason"] = patch.hidden_reason
        if patch.allow is not None:
            changes["allow"] = patch.allow
        if patch.allow_reason is not None:
            changes["allow_reason"] = patch.allow_reason
        changes["deny"] = self.guards(base, patch)
        return attrs.evolve(base, **changes)

    def guards(self, base: ActionSpec, patch: ActionPatch) -> tuple[GuardSpec, ...]:
        by_id = {g.id: g for g in base.deny}
        ids = list(by_id)
        dropped: set[str] = set()
        for guard_id, path in patch.drop_deny:
            guard = by_id.get(guard_id)
            if guard is None:
                self.diagnostics.append(self.doc.diagnostic(
                    path, f"action {base.id!r} has no guard {guard_id!r} to drop", hint=did_you_mean(guard_id, ids)))
            elif guard.locked:
                self.diagnostics.append(self.doc.diagnostic(
                    path, f"cannot drop guard {guard_id!r} of action {base.id!r}: the base policy locks it "
                          f"(locked at {guard.doc.where((*guard.path, 'locked'), key=True)})",
                    hint="a store may add guards or change a locked guard's reason, never remove it"))
            else:
                dropped.add(guard_id)
        changed = dict(by_id)
        for change in patch.replace_deny:
            guard = by_id.get(change.id)
            if guard is None:
                self.diagnostics.append(self.doc.diagnostic(
                    change.path, f"action {base.id!r} has no guard {change.id!r} to replace", key=True,
                    hint=did_you_mean(change.id, ids)))
                continue
            changed[change.id] = attrs.evolve(guard, when=change.when or guard.when, reason=change.reason or guard.reason)
        for guard in patch.deny:
            if guard.id in by_id:
                self.diagnostics.append(guard.doc.diagnostic(
                    (*guard.path, "id"), f"action {base.id!r} already has a guard {guard.id!r} "
                                         f"(at {by_id[guard.id].doc.where((*by_id[guard.id].path, 'id'))})",
                    hint="use replace_deny to change a base guard"))
        return (*(changed[i] for i in ids if i not in dropped), *(g for g in patch.deny if g.id not in by_id))

    def new_action(self, patch: ActionPatch) -> ActionSpec | None:
        data = patch.data
        problems = [k for k in _PATCH_ONLY if k in data]
        for key in problems:
            self.diagnostics.append(self.doc.diagnostic(
                (*patch.path, key), f"{key!r} changes a base action, but the base policy has no action {patch.id!r}",
                key=True, hint=did_you_mean(patch.id, [a.id for a in self.base.actions])))
        missing = [k for k in ("label", "allow") if k not in data]
        if missing and not problems:  # a typo'd base action id already got its diagnostic
            self.diagnostics.append(self.doc.diagnostic(
                patch.path, f"new action {patch.id!r} needs {' and '.join(repr(k) for k in missing)}", key=True,
                hint=did_you_mean(patch.id, [a.id for a in self.base.actions])))
        if problems or missing:
            return None
        gates = [k for k in ("visible", "allow") if isinstance(data.get(k), dict) and "when" not in data[k]]
        for key in gates:
            self.diagnostics.append(self.doc.diagnostic((*patch.path, key), f"a new action's {key} needs 'when'"))
        if gates:
            return None
        return parse_action(self.doc, patch.id, data, patch.path)

    def run(self) -> PolicySpec:
        base_actions = {a.id: a for a in self.base.actions}
        patches = {p.id: p for p in self.override.actions}
        actions = [self.action(a, patches[a.id]) if a.id in patches else a for a in self.base.actions]
        for patch in self.override.actions:
            if patch.id not in base_actions:
                new = self.new_action(patch)
                if new is not None:
                    actions.append(new)
        # What effects may set is the base's to say (declared, or what its own effects set), not the store's.
        return attrs.evolve(self.base, facts=self.facts(), conditions=self.conditions(), actions=tuple(actions),
                            settable=tuple(sorted(self.base.may_set)))


def merge_override(base: PolicySpec, override: OverrideSpec) -> tuple[PolicySpec, list[Diagnostic]]:
    """The policy a store runs (``base`` with ``override`` applied), and what the override may not do.

    Refused changes (dropping a locked guard, say) are left out of the merged spec and reported, so the rest can
    still be compiled and checked: the author sees every problem of the override at once.
    """
    merger = _Merger(base, override)
    merged = merger.run()
    return merged, merger.diagnostics
