"""Type stub of the optional C batch loop (policyengine/_batch.c)."""

from typing import Any

def lookup_all(pairs: list[Any], table: dict[Any, Any], paths: tuple[tuple[Any, ...], ...],
               bools: tuple[bool, ...]) -> tuple[list[Any], list[int]]: ...
