"""A database value as ``evaluate`` reads it: the one conversion :func:`policyengine.sql.bulk`, ``reason`` and the
SQLite functions share (its own module, below both, so that neither imports the other)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ..pipeline.model import FactSpec

__all__ = ["engine_value"]


def engine_value(spec: FactSpec | None, value: Any) -> Any:
    """What ``evaluate`` reads for a database value of fact ``spec``: SQLite's 0/1 of a bool fact as False/True,
    a NUMERIC as an int (integral) or a float, a SQLite JSON array of a set fact as a list. Anything else is passed
    as it is (and is then a bad fact, where the SQL agrees)."""
    kind = spec.type if spec is not None else None
    if kind == "bool" and type(value) is int and value in (0, 1):
        return bool(value)
    if kind == "number" and isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if kind == "set" and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, list) else value
    return value
