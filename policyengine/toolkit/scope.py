"""What a store override changes, for coverage: a store's suite tests its override, not the whole base again.

The base policy's own suite covers the base. For a store, coverage (and so ``test --fail-under``) counts only:

* the named conditions the override declares or redefines, and those that read them (transitively);
* the actions it adds or patches, and those whose conditions read a changed named condition;
* in those actions, the guards it adds (``deny``) or replaces (``replace_deny``), and those reading a changed
  condition; the ``visible``/``allow`` it sets (or that read a changed condition); its effects' ``when``.
"""

from __future__ import annotations

import attrs

from ..pipeline.compiler import CompiledAction, CompiledExpr, CompiledPolicy
from ..pipeline.model import ActionPatch, OverrideSpec

__all__ = ["OverrideScope", "override_scope"]


@attrs.frozen(slots=True)
class OverrideScope:
    """The coverage names a store's suite answers for: ``conditions.x``, ``edit.visible``, ``archive.deny.g``..."""

    actions: frozenset[str]
    guards: frozenset[tuple[str, str]]
    conditions: frozenset[str]


def _changed_conditions(policy: CompiledPolicy, override: OverrideSpec) -> set[str]:
    changed = {c.name for c in override.conditions}
    grew = True
    while grew:
        grew = False
        for name, expr in policy.conditions.items():
            if name not in changed and expr.conditions & changed:
                changed.add(name)
                grew = True
    return changed


def _action_scope(action: CompiledAction, patch: ActionPatch | None, changed: set[str]) -> tuple[set[str], set[str]]:
    """(guard ids, condition names) of ``action`` the override answers for."""

    def reads(expr: CompiledExpr) -> bool:
        return bool(expr.conditions & changed)

    own = {g.id for g in patch.deny} | {g.id for g in patch.replace_deny} if patch is not None else set()
    guards = {g.spec.id for g in action.guards if g.spec.id in own or reads(g.when)}
    names = {f"{action.id}.deny.{g}" for g in guards}
    if (patch is not None and (patch.visible is not None or patch.hidden)) or reads(action.visible):
        names.add(f"{action.id}.visible")
    if (patch is not None and patch.allow is not None) or reads(action.allow):
        names.add(f"{action.id}.allow")
    names |= {f"{action.id}.effects[{i}].when" for i, e in enumerate(action.effects)
              if e.when is not None and ((patch is not None and patch.effects is not None) or reads(e.when))}
    return guards, names


def override_scope(policy: CompiledPolicy, override: OverrideSpec) -> OverrideScope:
    """What ``override`` (merged into ``policy``) changes, as :class:`OverrideScope` names it."""
    changed = _changed_conditions(policy, override)
    patches = {p.id: p for p in override.actions}
    actions: set[str] = set()
    guards: set[tuple[str, str]] = set()
    conditions = {f"conditions.{name}" for name in changed}
    for action in policy.actions:
        patch = patches.get(action.id)
        if patch is None and not any(e.conditions & changed for e in action.exprs()):
            continue
        actions.add(action.id)
        ids, names = _action_scope(action, patch, changed)
        guards |= {(action.id, g) for g in ids}
        conditions |= names
    return OverrideScope(frozenset(actions), frozenset(guards), frozenset(conditions))
