"""A store's own policy: the value :func:`policyengine.load` builds for each store override, and the compiled cache
(:mod:`policyengine.cache`) stores and reads back. Its own module so the cache does not import the engine."""

from __future__ import annotations

import attrs

from .pipeline.compiler import CompiledPolicy
from .pipeline.model import OverrideSpec

__all__ = ["StorePolicy"]


@attrs.frozen(slots=True)
class StorePolicy:
    """A store's own policy: its override applied to the base version it runs on."""

    store: str
    override: OverrideSpec
    base_version: int
    policy: CompiledPolicy

    @property
    def action_labels(self) -> tuple[tuple[str, str], ...]:
        """Each of its actions' id and label, in menu order (what bulk summaries name an action by). A store read
        back from the compiled cache answers without restoring its policy."""
        return tuple((a.id, a.spec.label) for a in self.policy.actions)
