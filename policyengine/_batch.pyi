"""Type stub of the optional C batch loop (policyengine/_batch.c)."""

from typing import Any

def lookup_all(pairs: list[Any], flat: tuple[Any, ...], paths: tuple[tuple[Any, ...], ...],
               indexes: tuple[dict[Any, int], ...], bools: tuple[bool, ...]) -> tuple[list[Any], list[int]]: ...
