"""A compiled "surely valid" check for the document schemas: stage 2's fast path.

:func:`surely_valid` compiles a kind's JSON Schema once into plain Python closures that answer one question: does
this document certainly match? True is a proof (the document has no schema problem, exactly as jsonschema would
find none); False only means "not shown": the generic validator then runs and words every problem, so diagnostics
never depend on this module. Each keyword's closure accepts only what it fully understands with jsonschema's
draft 2020-12 meaning and the patterns as :mod:`.validate` applies them (the whole string, no control character);
an unknown keyword, a number that jsonschema's type rules treat specially (a float for ``integer``), an item list
it would compare by its own equality, a ``oneOf`` (which needs the other branches refuted): all of that says
"not shown". With thousands of store overrides, the generic validator was a quarter of a load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "compile_schema"]

Check = Callable[[Any], bool]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "examples", "$comment", "$defs",
                          "deprecated", "readOnly", "writeOnly"})
"""Keywords that never make a document invalid."""

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "null": lambda v: v is None,
    "integer": lambda v: type(v) is int,  # jsonschema also takes 1.0: not shown here, the generic check decides
    "number": lambda v: type(v) in (int, float),
}


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


class _Compiler:
    """Compiles schema nodes to checks; ``$ref`` by the target's identity, so a recursive schema compiles once."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self.schemas = schemas
        self.refs: dict[tuple[str, str], Check] = {}

    def ref(self, base: str, ref: str) -> Check:
        doc, _, pointer = ref.partition("#")
        doc = doc or base
        key = (doc, pointer)
        found = self.refs.get(key)
        if found is not None:
            return found
        node: Any = self.schemas.get(doc)
        for part in [p for p in pointer.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            self.refs[key] = _never
            return _never
        slot: list[Check] = []
        self.refs[key] = lambda v: slot[0](v)  # a recursive reference finds this while it compiles
        slot.append(self.node(doc, node))
        self.refs[key] = slot[0]
        return slot[0]

    def node(self, base: str, schema: Any) -> Check:
        if schema is True:
            return _always
        if not isinstance(schema, dict):
            return _never
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            make = getattr(self, "k_" + keyword.lstrip("$"), None)
            if make is None:
                return _never  # a keyword this module does not know: never shown valid
            checks.append(make(base, value, schema))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    # -- keywords: each returns a check of its own meaning alone -------------------------------------------------
    def k_ref(self, base: str, value: Any, schema: Any) -> Check:
        return self.ref(base, value) if isinstance(value, str) else _never

    def k_type(self, base: str, value: Any, schema: Any) -> Check:
        names = value if isinstance(value, list) else [value]
        tests = [_TYPES.get(n) for n in names]
        if any(t is None for t in tests):
            return _never
        return lambda v: any(t(v) for t in tests)  # type: ignore[misc]

    def k_const(self, base: str, value: Any, schema: Any) -> Check:
        if type(value) not in (str, int, bool):
            return _never
        return lambda v: type(v) is type(value) and v == value

    def k_enum(self, base: str, value: Any, schema: Any) -> Check:
        if not isinstance(value, list) or any(type(e) not in (str, int, bool) for e in value):
            return _never
        allowed = frozenset((type(e), e) for e in value)
        return lambda v: type(v) in (str, int, bool) and (type(v), v) in allowed

    def k_pattern(self, base: str, value: Any, schema: Any) -> Check:
        search = re.compile(value).search
        return lambda v: type(v) is not str or (search(v) is not None and _CONTROL.search(v) is None)

    def k_minLength(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802 - the keyword's name
        return lambda v: type(v) is not str or len(v) >= value

    def k_maxLength(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        return lambda v: type(v) is not str or len(v) <= value

    def k_minimum(self, base: str, value: Any, schema: Any) -> Check:
        if type(value) not in (int, float):
            return _never
        return lambda v: type(v) not in (int, float) or v >= value

    def k_minProperties(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        return lambda v: type(v) is not dict or len(v) >= value

    def k_minItems(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        return lambda v: type(v) is not list or len(v) >= value

    def k_uniqueItems(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        if value is not True:
            return _always if value is False else _never

        def unique(v: Any) -> bool:
            if type(v) is not list:
                return True
            kinds = {type(e) for e in v}
            # strings alone, or ints alone: Python's equality is jsonschema's (not so for 1 and true, 1 and 1.0)
            return len(kinds) <= 1 and kinds <= {str, int} and len(set(v)) == len(v)

        return unique

    def k_required(self, base: str, value: Any, schema: Any) -> Check:
        names = tuple(value)
        return lambda v: type(v) is not dict or all(n in v for n in names)

    def k_properties(self, base: str, value: Any, schema: Any) -> Check:
        checks = {name: self.node(base, sub) for name, sub in value.items()}

        def properties(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for name, item in v.items():
                check = checks.get(name)
                if check is not None and not check(item):
                    return False
            return True

        return properties

    def k_additionalProperties(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        if "patternProperties" in schema:
            return _never
        known = frozenset(schema.get("properties", ()))
        if value is False:
            return lambda v: type(v) is not dict or known.issuperset(v)
        check = self.node(base, value)
        return lambda v: type(v) is not dict or all(check(item) for name, item in v.items() if name not in known)

    def k_propertyNames(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        check = self.node(base, value)
        return lambda v: type(v) is not dict or all(check(name) for name in v)

    def k_items(self, base: str, value: Any, schema: Any) -> Check:
        check = self.node(base, value)
        return lambda v: type(v) is not list or all(check(item) for item in v)

    def k_anyOf(self, base: str, value: Any, schema: Any) -> Check:  # noqa: N802
        checks = [self.node(base, sub) for sub in value]
        return lambda v: any(c(v) for c in checks)

    def k_not(self, base: str, value: Any, schema: Any) -> Check:
        # shown only for `not: {required: [...]}`: a mapping missing one of the keys (anything else: not shown)
        if not (isinstance(value, dict) and set(value) == {"required"}):
            return _never
        names = tuple(value["required"])
        return lambda v: type(v) is dict and not all(n in v for n in names)

    def k_if(self, base: str, value: Any, schema: Any) -> Check:
        # shown only for `if: {properties: {k: {const: "..."}}}` (a fact's type): whether it holds is then exact
        props = value.get("properties") if isinstance(value, dict) and set(value) == {"properties"} else None
        if not (isinstance(props, dict) and len(props) == 1):
            return _never
        (name, sub), = props.items()
        if not (isinstance(sub, dict) and set(sub) == {"const"} and type(sub["const"]) is str):
            return _never
        const = sub["const"]
        then, other = self.node(base, schema.get("then", True)), self.node(base, schema.get("else", True))

        def conditional(v: Any) -> bool:
            holds = type(v) is not dict or name not in v or (type(v[name]) is str and v[name] == const)
            return then(v) if holds else other(v)

        return conditional


def compile_schema(root: str, schemas: Mapping[str, Mapping[str, Any]]) -> Check:
    """The check of the schema whose ``$id`` is ``root``, with ``schemas`` (by ``$id``) for references."""
    return _Compiler(schemas).ref(root, "#")
