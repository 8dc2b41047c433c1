"""A warning for the most common way an ORM table and a policy disagree: SQLAlchemy's ``Enum(Status)`` column
stores the enum's member *names* (``shipped``), while the policy declares the *values* (``Shipped``).

``evaluate`` on ORM objects works (it reads the members, then their values), but SQL sees the names, which the
policy does not declare: every row fails closed and a bulk action applies to none. :func:`warn_member_names` asks
the database, for each enum fact whose column is such an ``Enum`` type, whether every row holds a member name that
is not a declared value, and warns (:class:`EnumNamesWarning`) with the fix: ``values_callable``.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["EnumNamesWarning", "warn_member_names"]


class EnumNamesWarning(UserWarning):
    """Every row of an enum column holds a member name the policy does not declare (see the module docstring)."""


def _named_enum(column: Any) -> type[enum.Enum] | None:
    """The Python enum of a SQLAlchemy ``Enum`` column that stores its member names, or None."""
    kind = getattr(column, "type", None)
    cls = getattr(kind, "enum_class", None)
    if not isinstance(kind, sa.Enum) or cls is None or not issubclass(cls, enum.Enum):
        return None
    names = [m.name for m in cls]
    return cls if list(kind.enums) == names and names != [str(m.value) for m in cls] else None


def _rows_of(selectable: Any, *columns: Any) -> Any:
    if isinstance(selectable, sa.Select):
        return selectable.with_only_columns(*columns, maintain_column_froms=True)
    return sa.select(*columns).select_from(selectable)


def warn_member_names(connection: Connection, engine: Any, selectable: Any, columns: Mapping[str, Any]) -> None:
    """Warn for each enum fact whose ``Enum`` column holds, in every row of ``selectable``, a member name that is
    not a declared value. One aggregate query per such column; none for any other column."""
    declared = {f.name: tuple(f.values or ()) for f in engine.policy.facts if f.type == "enum"}
    for fact, column in columns.items():
        cls = _named_enum(column) if fact in declared else None
        if cls is None:
            continue
        names = [m.name for m in cls if m.name not in declared[fact]]
        if not names:
            continue
        raw = sa.type_coerce(column, sa.types.NullType())
        named = sa.func.sum(sa.case((raw.in_(names), 1), else_=0))
        total, hits, seen = connection.execute(_rows_of(selectable, sa.func.count(), named, sa.func.max(raw))).one()
        if not total or hits != total:
            continue
        example = cls[seen]
        warnings.warn(
            f"policyengine.sql: every row of the column for {fact} holds an enum member name ({example.name!r}), "
            f"not a declared value ({example.value!r}): SQLAlchemy's Enum({cls.__name__}) stores member names, so "
            f"every row fails closed. Declare the column Enum({cls.__name__}, values_callable=lambda e: "
            "[m.value for m in e]) to store the values (docs/host-apps.md)", EnumNamesWarning, stacklevel=3)
