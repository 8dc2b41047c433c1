"""Every undeclared enum literal of one condition, so that an author fixes them all in one pass: how they read.

Lowering stops at the first problem it meets; when that problem is an undeclared enum value, the compiler asks
:func:`policyengine.ir.lower.bad_literals` (the one reader of rule-engine's tree) for all of them
(``order.status in ['Shiped', 'Cancled']`` gets two diagnostics). In a store override the hint also says what to
do about a value the base does not declare: an override cannot add values to a base fact, so the value must be
declared in the base policy (or the condition must use one that is).
"""

from __future__ import annotations

import difflib

import attrs

from .model import FactSpec

__all__ = ["BadLiteral", "literal_hint"]


@attrs.frozen(slots=True)
class BadLiteral:
    fact: FactSpec
    value: str

    @property
    def message(self) -> str:
        return f"{self.fact.name} is never {self.value!r}; its declared values are: {', '.join(self.fact.values)}"


def literal_hint(bad: BadLiteral, in_override: bool) -> str | None:
    """Did you mean a close declared value; else, in a store override, that the base policy must declare it."""
    close = difflib.get_close_matches(bad.value, bad.fact.values, n=1, cutoff=0.6)
    mean = f"did you mean {close[0]!r}?" if close else None
    if mean is not None or not in_override:  # a close declared value: a typo, most likely
        return mean
    return (f"a store override cannot add values to {bad.fact.name}: to use {bad.value!r}, declare it in the base "
            f"policy's values of {bad.fact.name}")
