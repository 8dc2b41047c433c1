"""Stage 2, validate: check a loaded document against the JSON Schema of its ``kind``.

Every schema error is collected (not just the first) and rewritten into a message a policy author can act on,
located at the offending key or value through the document's position tables.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..errors import Diagnostic, PolicyError, did_you_mean
from .hints import bool_word_hint, flow_comma_hint, list_hint, name_form
from .quickcheck import Check, compile_schema
from .yamlsource import Document, read_document

__all__ = ["API_VERSIONS", "SCHEMAS", "schema_for", "validate_document"]

API_VERSIONS = ("policyengine/v1",)
"""The policy language versions this release understands."""

def _discover() -> dict[str, str]:
    """Every schema in ``schemas/`` by the document kind it defines (its ``properties.kind.const``)."""
    found = {}
    for entry in sorted(resources.files("policyengine").joinpath("schemas").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".schema.json"):
            kind = json.loads(entry.read_text("utf-8")).get("properties", {}).get("kind", {}).get("const")
            if kind:
                found[kind] = entry.name
    return dict(sorted(found.items()))


SCHEMAS = _discover()
"""Document kind -> its JSON Schema file in ``schemas/`` (adding a kind is adding a schema file)."""

_TYPE_NAMES = {"dict": "a mapping", "list": "a list", "str": "a string", "bool": "true/false", "int": "a number",
               "float": "a number", "NoneType": "nothing (null)"}
_SCHEMA_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "boolean": "true/false",
                 "integer": "a whole number", "number": "a number", "null": "null"}


@cache
def schema_for(kind: str) -> dict[str, Any]:
    """The parsed JSON Schema for documents of ``kind``."""
    text = resources.files("policyengine").joinpath("schemas").joinpath(SCHEMAS[kind]).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _registry() -> Registry:
    """Every schema by its ``$id``, so they can refer to each other (the override schema reuses the policy's)."""
    resources = [(schema_for(k)["$id"], Resource.from_contents(schema_for(k), default_specification=DRAFT202012))
                 for k in SCHEMAS]
    return Registry().with_resources(resources)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _whole_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` as the code downstream trusts it: the whole string matches, and no patterned string (an id, a
    name, an operation) holds a control character. jsonschema applies patterns with ``re.search``, where ``$`` also
    matches before a final newline: the schemas anchor with ``(?!\\n)$``, and this refuses control characters
    whatever a pattern says, so ``"delete_order\\n"`` can never pass for ``delete_order``."""
    if isinstance(instance, str) and (re.search(pattern, instance) is None or _CONTROL.search(instance)):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = schema_for(kind)
    # The shipped schemas are checked against the metaschema by the tests (tests/test_cli_usability.py), not here:
    # that check cost a fifth of a second of every process's start.
    base = jsonschema.validators.validator_for(schema)
    cls = jsonschema.validators.extend(base, {"pattern": _whole_pattern})  # type: ignore[no-untyped-call]  # untyped in types-jsonschema
    validator: jsonschema.protocols.Validator = cls(schema, registry=_registry())
    return validator


@cache
def _surely_valid(kind: str) -> Check:
    """The compiled check that shows a document of ``kind`` valid without the generic validator (see
    :mod:`.quickcheck`: when it cannot, the generic validator runs and words every problem)."""
    return compile_schema(schema_for(kind)["$id"], {schema_for(k)["$id"]: schema_for(k) for k in SCHEMAS})


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value).__name__, type(value).__name__)


def validate_document(doc: Document) -> list[Diagnostic]:
    """Diagnostics for everything wrong with ``doc``'s shape; empty when it matches its kind's schema."""
    header = _check_header(doc)
    if header:
        return header
    kind = doc.data["kind"]
    if _surely_valid(kind)(doc.data):  # no schema problem, shown without the generic validator's cost
        problems: set[Diagnostic] = set()
    else:
        problems = {d for err in _validator(kind).iter_errors(doc.data) for d in _diagnose(doc, err)}
    if not problems and kind in ("ActionPolicy", "StoreOverride"):
        problems.update(_check_defaults(doc))
    return sorted(problems, key=lambda d: d.sort_key)


_DEFAULT_WORDS = {"bool": "true or false", "enum": "one of its declared values", "string": "a string",
                  "number": "a finite number", "set": "a list of strings"}


def _check_defaults(doc: Document) -> Iterator[Diagnostic]:
    """Each fact's ``default:`` against the fact's own type (the schema only knows it is a scalar or a list): a
    bool fact's is true/false, an enum's one of its ``values``, a number's a finite number (never true/false)."""
    for name, fact in (doc.data.get("facts") or {}).items():
        if "default" not in fact:
            continue
        kind, value = fact["type"], fact["default"]
        path = ("facts", name, "default")
        if kind == "enum" and isinstance(value, str):
            if value not in fact["values"]:
                yield doc.diagnostic(path, f"default {value!r} of {name} is not one of its declared values: "
                                           f"{', '.join(fact['values'])}", hint=did_you_mean(value, fact["values"]))
            continue
        fits = {"bool": isinstance(value, bool),
                "string": isinstance(value, str),
                "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                "set": isinstance(value, list)}.get(kind, False)
        if not fits:
            shown = "true" if value is True else "false" if value is False else repr(value)
            yield doc.diagnostic(path, f"default of {name} must be {_DEFAULT_WORDS[kind]} (it is a {kind} fact), "
                                       f"got {_describe(value)} {shown}")


def _check_header(doc: Document) -> list[Diagnostic]:
    """apiVersion and kind are checked first and alone: without them no schema applies."""
    data = doc.data
    out = []
    api = data.get("apiVersion")
    if api is None:
        out.append(doc.diagnostic((), "missing required key 'apiVersion'", hint=f"add: apiVersion: {API_VERSIONS[-1]}"))
    elif api not in API_VERSIONS:
        out.append(doc.diagnostic(("apiVersion",), f"unknown apiVersion {api!r}; supported: {', '.join(API_VERSIONS)}"))
    kind = data.get("kind")
    if kind is None:
        out.append(doc.diagnostic((), "missing required key 'kind'", hint=f"one of: {', '.join(SCHEMAS)}"))
    elif not isinstance(kind, str):  # a list or mapping cannot even be looked up among the kinds
        out.append(doc.diagnostic(("kind",), f"kind must be a string, got {_describe(kind)}",
                                  hint=f"one of: {', '.join(SCHEMAS)}"))
    elif kind not in SCHEMAS:
        out.append(doc.diagnostic(("kind",), f"unknown kind {kind!r}; supported: {', '.join(SCHEMAS)}",
                                  hint=did_you_mean(str(kind), SCHEMAS)))
    return out




def _diagnose(doc: Document, err: Any) -> Iterator[Diagnostic]:  # Any: the stubs type every field as Unset-able
    path = tuple(err.absolute_path)
    keyword = err.validator
    schema = err.schema if isinstance(err.schema, dict) else {}
    if keyword in ("anyOf", "oneOf"):
        yield from _diagnose_alternatives(doc, err, path)
    elif keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in sorted(set(err.instance) - set(allowed)):
            hint = did_you_mean(key, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
            mark = doc.key_marks.get((*path, key))
            hint = (flow_comma_hint(doc.text, mark.index) if mark is not None else None) or hint
            yield doc.diagnostic((*path, key), f"unknown key {key!r}", hint=hint, key=True)
    elif keyword == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        for key in missing:
            # at the mapping's own key; a mapping in a list has none, so at the mapping itself
            yield doc.diagnostic(path, f"missing required key {key!r}", key=bool(path) and isinstance(path[-1], str))
    elif keyword == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        wanted = " or ".join(_SCHEMA_TYPES.get(str(t), str(t)) for t in expected)
        hint = None
        if isinstance(err.instance, bool) and "string" in expected:  # `label: no`: YAML 1.1 read a word as a bool
            hint = bool_word_hint(path[-1] if path else None, doc.source(path))
        elif isinstance(err.instance, dict) and expected == ["array"]:  # `deny:` written without `- `
            hint = list_hint(path[-1] if path else None, next(iter(err.instance), None))
        yield doc.diagnostic(path, f"expected {wanted}, got {_describe(err.instance)}", hint=hint)
    elif keyword == "enum":
        choices = ", ".join(str(v) for v in err.validator_value)
        yield doc.diagnostic(path, f"{err.instance!r} is not one of: {choices}",
                             hint=did_you_mean(str(err.instance), map(str, err.validator_value)))
    elif keyword == "const":
        yield doc.diagnostic(path, f"must be {err.validator_value!r}, got {err.instance!r}")
    elif keyword == "pattern" and "propertyNames" in err.relative_schema_path:
        yield doc.diagnostic((*path, err.instance), _name_message(path, err.instance, err.validator_value), key=True)
    elif keyword == "pattern":
        form = name_form(_shown(err.validator_value), str(err.instance))
        if form is None:
            yield doc.diagnostic(path, f"{err.instance!r} does not match the required form {_shown(err.validator_value)}")
        else:
            fixed = f"write {path[-1]}: {form[1]}" if form[1] and isinstance(path[-1], str) else None
            yield doc.diagnostic(path, f"{err.instance!r} does not match the required form: {form[0]}", hint=fixed)
    elif keyword in ("minProperties", "minItems", "minLength"):
        yield doc.diagnostic(path, "must not be empty")
    elif keyword == "uniqueItems":
        yield doc.diagnostic(path, "values must be unique")
    elif keyword == "minimum":
        yield doc.diagnostic(path, f"must be at least {err.validator_value}, got {err.instance!r}")
    elif keyword == "not" and isinstance(err.validator_value, dict) and "required" in err.validator_value:
        for key in err.validator_value["required"]:
            yield doc.diagnostic((*path, key), f"key {key!r} is not allowed here", key=True,
                                 hint="`values` belongs to facts of type enum only" if key == "values" else None)
    else:
        yield doc.diagnostic(path, err.message)


def _name_message(path: tuple[Any, ...], name: Any, pattern: str) -> str:
    where = path[-1] if path else "top level"
    kinds = {"facts": "fact name (dotted, lowercase: order.status)", "actions": "action id (lowercase, digits, _)",
             "conditions": "condition name (lowercase, digits, _)", "set": "fact name (dotted, lowercase)"}
    return f"{name!r} is not a valid {kinds.get(str(where), 'name')}; it must match {_shown(pattern)}"


def _shown(pattern: str) -> str:
    """A pattern as authors read it: ``(?!\\n)`` only keeps Python's ``$`` from accepting a final newline."""
    return pattern.replace("(?!\\n)", "")


def _diagnose_alternatives(doc: Document, err: Any, path: tuple[Any, ...]) -> Iterator[Diagnostic]:
    # An anyOf over "a condition or a mapping with `when`": report against the branch the value was meant for
    # (a string that is empty, a mapping with a wrong key), not "not valid under any of the given schemas".
    branches = err.validator_value
    if all(isinstance(b, dict) and "required" in b and len(b) == 1 for b in branches):
        keys = " or ".join(repr(b["required"][0]) for b in branches)
        yield doc.diagnostic(path, f"needs at least one of {keys}")
        return
    meant = [e for e in err.context if e.validator != "type"]
    if meant:
        yield from _diagnose(doc, best_match(meant))
        return
    if any("expression" in json.dumps(b) for b in branches):
        yield doc.diagnostic(path, "expected a condition (text or true/false) or a mapping with 'when', "
                                   f"got {_describe(err.instance)}")
        return
    kinds = sorted({_SCHEMA_TYPES.get(str(b.get("type")), "a value") for b in branches if isinstance(b, dict)})
    yield doc.diagnostic(path, f"expected {' or '.join(kinds) or 'another form'}, got {_describe(err.instance)}")


def valid_document(path: Path, diagnostics: list[Diagnostic]) -> Document | None:
    """Stages 1 and 2 for one file: the document when it reads and matches its kind's schema; otherwise None, with
    every problem added to ``diagnostics``."""
    try:
        doc = read_document(path)
    except PolicyError as err:
        diagnostics += err.diagnostics
        return None
    problems = validate_document(doc)
    diagnostics += problems
    return None if problems else doc
