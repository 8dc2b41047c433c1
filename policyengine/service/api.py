"""The service's HTTP contract: JSON Schemas of every request and response, and the OpenAPI 3.1 document built from
the same routes table the app serves (so the document cannot describe an endpoint the app does not have).

Requests are validated against these schemas (``additionalProperties: false`` everywhere: a misspelt field is an
error naming it, not an ignored key); responses are what :mod:`.view` and the engine's ``to_dict`` produce, and the
test suite checks them against these schemas (schemathesis).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_ITEMS", "SCHEMAS", "openapi"]

MAX_ITEMS = 10_000
"""The most pairs (batch) or orders (bulk) one request may carry."""

_ANY_OBJECT = {"type": "object"}
_STORE = {"type": ["string", "null"], "description": "Decide as this store (default: the order's store.id)."}
_STRICT = {"type": "boolean", "default": False,
           "description": "Refuse (422 cannot_decide) instead of failing closed when a fact is bad."}
_NULLABLE_STRING = {"type": ["string", "null"]}
_PROBLEM = {"type": "object", "required": ["fact", "message"], "additionalProperties": False,
            "properties": {"fact": {"type": "string"}, "message": {"type": "string"}}}
_EFFECT = {"type": "object", "required": ["set", "operation"], "additionalProperties": False,
           "properties": {"set": {"type": "object"}, "operation": _NULLABLE_STRING}}
_DIAGNOSTIC = {"type": "object", "required": ["file", "line", "column", "path", "message", "hint"],
               "properties": {"file": {"type": "string"}, "line": {"type": "integer"}, "column": {"type": "integer"},
                              "path": {"type": "string"}, "message": {"type": "string"}, "hint": _NULLABLE_STRING}}
_LOAD = {"type": ["object", "null"], "required": ["at", "ok", "revision", "digest", "seconds", "diagnostics"],
         "properties": {"at": {"type": "string", "format": "date-time"}, "ok": {"type": "boolean"},
                        "revision": _NULLABLE_STRING, "digest": {"type": "string"}, "seconds": {"type": "number"},
                        "diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}}}}


def _request(properties: dict[str, Any], required: Iterable[str]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "additionalProperties": False, "properties": properties}


SCHEMAS: dict[str, dict[str, Any]] = {
    "EvaluateRequest": _request({"order": _ANY_OBJECT, "user": _ANY_OBJECT, "store": _STORE, "strict": _STRICT},
                                ["order", "user"]),
    "BatchRequest": _request({
        "pairs": {"type": "array", "maxItems": MAX_ITEMS,
                  "items": _request({"order": _ANY_OBJECT, "user": _ANY_OBJECT}, ["order", "user"])},
        "store": _STORE, "strict": _STRICT}, ["pairs"]),
    "BulkRequest": _request({"action": {"type": "string"},
                             "orders": {"type": "array", "maxItems": MAX_ITEMS, "items": _ANY_OBJECT},
                             "user": _ANY_OBJECT, "store": _STORE,
                             "decisions": {"type": "boolean", "default": False,
                                           "description": "Also answer each order's decision for the action"}},
                            ["action", "orders", "user"]),
    "PlanRequest": _request({"action": {"type": "string"}, "user": _ANY_OBJECT, "store": _STORE,
                             "state": {"enum": ["enabled", "disabled", "hidden", "visible"], "default": "enabled"}},
                            ["action", "user"]),
    "Plan": {"type": "object", "additionalProperties": False,
             "required": ["action", "state", "store", "kind", "facts", "policies", "condition", "revision"],
             "description": "Which orders the action is in the state for the user, as a condition over the order's "
                            "and the store's facts (docs/plans.md)",
             "properties": {"action": {"type": "string"}, "state": {"type": "string"}, "store": _NULLABLE_STRING,
                            "kind": {"enum": ["always", "never", "conditional"]},
                            "facts": {"type": "array", "items": {"type": "object"}},
                            "policies": {"type": "array", "items": {"type": "object"}},
                            "condition": {"type": "object", "required": ["op"]},
                            "revision": {"type": "string"}}},
    "ExplainRequest": _request({"order": _ANY_OBJECT, "user": _ANY_OBJECT, "store": _STORE,
                                "actions": {"type": ["array", "null"], "items": {"type": "string"},
                                            "description": "Explain only these actions (default: all)."}},
                               ["order", "user"]),
    "Reason": {"type": "object", "required": ["id", "text", "params"], "additionalProperties": False,
               "description": "One reason, with its stable id for translation (docs/front-ends.md)",
               "properties": {"id": {"type": "string",
                                     "description": "<action>.visible, <action>.allow, <action>.deny.<guard>, "
                                                    "fact-problem, store-undecided, not-offered or reason:<digest>"},
                              "text": {"type": "string"},
                              "params": {"type": "object", "description": "What a translation fills in: action, "
                                                                          "guard, fact, message, store"}}},
    "Problem": _PROBLEM,
    "Effect": _EFFECT,
    "Action": {"type": "object", "additionalProperties": False,
               "required": ["id", "label", "state", "reasons", "confirm", "destructive", "effects", "errors"],
               "properties": {"id": {"type": "string"}, "label": {"type": "string"},
                              "state": {"enum": ["enabled", "disabled", "hidden"]},
                              "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                              "confirm": _NULLABLE_STRING, "destructive": {"type": "boolean"},
                              "effects": {"type": "array", "items": {"$ref": "#/components/schemas/Effect"}},
                              "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}}},
    "Menu": {"type": "object", "additionalProperties": False,
             "required": ["policy", "store_override", "revision", "actions", "errors"],
             "properties": {"policy": {"type": "string"}, "store_override": _NULLABLE_STRING,
                            "revision": {"type": "string"},
                            "actions": {"type": "array", "items": {"$ref": "#/components/schemas/Action"}},
                            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}}},
    "BatchResponse": {"type": "object", "required": ["results"], "additionalProperties": False,
                      "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Menu"}}}},
    "BulkResponse": {"type": "object", "additionalProperties": False,
                     "required": ["action", "label", "total", "applicable", "skipped", "summary", "revision"],
                     "properties": {
                         "action": {"type": "string"}, "label": {"type": "string"}, "total": {"type": "integer"},
                         "applicable": {"type": "object", "required": ["count", "indexes", "order_ids"],
                                        "properties": {"count": {"type": "integer"},
                                                       "indexes": {"type": "array", "items": {"type": "integer"}},
                                                       "order_ids": {"type": "array", "items": _NULLABLE_STRING}}},
                         "skipped": {"type": "array", "items": {
                             "type": "object", "required": ["reason", "count", "indexes", "order_ids"],
                             "properties": {"reason": {"type": "string"}, "count": {"type": "integer"},
                                            "indexes": {"type": "array", "items": {"type": "integer"}},
                                            "order_ids": {"type": "array", "items": _NULLABLE_STRING}}}},
                         "summary": {"type": "string"}, "revision": {"type": "string"},
                         "decisions": {"type": "array", "description": "With decisions: true, each order's "
                                                                       "decision (Decision.to_dict), in input order",
                                       "items": {"type": "object", "required": ["index", "order_id", "decision"],
                                                 "properties": {"index": {"type": "integer"},
                                                                "order_id": _NULLABLE_STRING,
                                                                "decision": {"type": "object"}}}}}},
    "ExplainResponse": {"type": "object", "required": ["policy", "store", "store_override", "revision", "facts",
                                                       "actions", "problems"],
                        "properties": {"policy": {"type": "string"}, "store": _NULLABLE_STRING,
                                       "store_override": _NULLABLE_STRING, "revision": {"type": "string"},
                                       "facts": {"type": "array", "items": {
                                           "type": "object", "required": ["fact", "value", "problem", "defaulted"],
                                           "properties": {"fact": {"type": "string"}, "problem": _NULLABLE_STRING,
                                                          "defaulted": {"type": "boolean"}}}},
                                       "actions": {"type": "array", "items": {
                                           "type": "object", "required": ["action", "label", "state", "reasons",
                                                                          "visible", "allow", "guards", "effects",
                                                                          "facts", "note", "decision"],
                                           "properties": {"action": {"type": "string"},
                                                          "state": {"enum": ["enabled", "disabled", "hidden"]},
                                                          "reasons": {"type": "array", "items": {"type": "string"}},
                                                          "guards": {"type": "array"}, "effects": {"type": "array"},
                                                          "facts": {"type": "array", "items": {"type": "string"}},
                                                          "decision": {"type": "object"}}}},
                                       "problems": {"type": "array", "items": {"type": "string"}}}},
    "Diagnostic": _DIAGNOSTIC,
    "LoadRecord": _LOAD,
    "Status": {"type": "object", "required": ["path", "ready", "revision", "watching", "reloads", "failures",
                                              "serving", "failed", "last"],
               "properties": {"path": {"type": "string"}, "ready": {"type": "boolean"}, "revision": _NULLABLE_STRING,
                              "watching": {"type": "boolean"}, "reloads": {"type": "integer"},
                              "failures": {"type": "integer"}, "serving": {"$ref": "#/components/schemas/LoadRecord"},
                              "failed": {"$ref": "#/components/schemas/LoadRecord"},
                              "last": {"$ref": "#/components/schemas/LoadRecord"}}},
    "Policies": {"type": "object", "additionalProperties": False,
                 "required": ["ready", "policy", "revision", "versions", "latest", "actions", "stores", "status"],
                 "properties": {
                     "ready": {"type": "boolean"}, "policy": _NULLABLE_STRING, "revision": _NULLABLE_STRING,
                     "versions": {"type": "array", "items": {"type": "integer"}},
                     "latest": {"type": ["integer", "null"]},
                     "actions": {"type": "array", "items": {
                         "type": "object", "required": ["id", "label"], "additionalProperties": False,
                         "properties": {"id": {"type": "string"}, "label": {"type": "string"}}}},
                     "stores": {"type": "array", "items": {
                         "type": "object", "required": ["store", "override", "runs_on"], "additionalProperties": False,
                         "properties": {"store": {"type": "string"}, "override": {"type": "string"},
                                        "runs_on": {"type": "string"}}}},
                     "status": {"$ref": "#/components/schemas/Status"}}},
    "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "required": ["ready", "revision", "failing"],
              "properties": {"ready": {"type": "boolean"}, "revision": _NULLABLE_STRING,
                             "failing": {"type": "boolean", "description": "Whether the newest policy files (or "
                                                                           "bundle) were refused; the last good set "
                                                                           "serves"}}},
    "Error": {"type": "object", "required": ["error", "message", "field"],
              "properties": {
                  "error": {"type": "string", "description": "A stable code: invalid_json, invalid_request, "
                                                             "too_large, unauthorized, not_found, method_not_allowed, "
                                                             "not_ready, cannot_decide, unknown_action, internal"},
                  "message": {"type": "string"},
                  "field": {"type": ["string", "null"], "description": "JSON path of the offending field"},
                  "details": {"type": "array", "items": {
                      "type": "object", "required": ["field", "message"],
                      "properties": {"field": _NULLABLE_STRING, "message": {"type": "string"}}}},
                  "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}}},
}

_ERROR_TEXT = {400: "The body is not JSON (or not UTF-8, or nested too deeply, or has a non-finite number).",
               401: "A bearer token is required (policyengine serve --token-file) and was missing or wrong.",
               413: "The body is larger than the service accepts.",
               422: "The JSON does not match the request schema, or (strict) a fact is bad, or an action is unknown.",
               503: "No policy set has loaded yet."}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def openapi(routes: Iterable[Any], *, title: str, version: str, auth: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (the app's :class:`~.app.Endpoint` table)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        responses: dict[str, Any] = {}
        for status, (description, schema) in route.responses.items():
            if schema is None:
                continue
            content = ({schema[len("text:"):]: {"schema": {"type": "string"}}} if schema.startswith("text:")
                       else _json(schema))
            responses[str(status)] = {"description": description, "content": content}
        errors = [400, 413, 422] if route.request else []
        errors += [401] if auth and route.auth else []
        errors += [503] if route.needs_policies else []
        for status in errors:
            responses[str(status)] = {"description": _ERROR_TEXT[status], "content": _json("Error")}
        operation: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "responses": responses}
        if route.request:
            operation["requestBody"] = {"required": True, "content": _json(route.request)}
        if auth and route.auth:
            operation["security"] = [{"bearer": []}]
        elif auth:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Decides which actions an order's Actions menu shows (policyengine serve)."},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
