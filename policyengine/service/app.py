"""The HTTP decision service of ``policyengine serve``: a Starlette app over :class:`~.live.LivePolicies`.

Every endpoint is one :class:`Endpoint` of :data:`ROUTES`: its method and path, the schema of its body (validated
before the handler runs), its responses (which the OpenAPI document lists), and a handler, a plain function of one
:class:`Call` that returns :class:`Reply`. The app, the OpenAPI document, auth and metrics are all built from that
table, so adding an endpoint is adding an entry (see ``docs/serving.md``). Each request takes one policy snapshot and
uses only it (no request sees two sets). Handlers run on the event loop: deciding is CPU work of microseconds, and a
hop to a thread would cost more than it.

Errors are JSON ``{"error": code, "message", "field", ...}`` with 400 (not JSON), 401 (token), 404/405, 413 (body too
large), 422 (schema, bad facts with ``strict``, unknown action) or 503 (no set loaded yet). Any other exception is a
bug: it is logged and answered 500 ``internal``, and the test suite (schemathesis) looks for exactly that.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import operator
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs
import fastjsonschema
import jsonschema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

try:
    import orjson
except ImportError:  # pragma: no cover - the serve extra has it; the standard parser works alone
    orjson = None  # type: ignore[assignment]

from .. import __version__
from ..analysis.explain import explain
from ..errors import FactError, did_you_mean, json_path
from ..runtime.decision import Decisions
from ..runtime.plan import PlanError
from .api import SCHEMAS, openapi
from .checks import FAST_CHECKS
from .live import LivePolicies, Snapshot
from .metrics import ServiceMetrics
from .view import EngineView, dumps

__all__ = ["ROUTES", "ApiError", "Call", "Endpoint", "Reply", "create_app", "DEFAULT_MAX_BODY"]

DEFAULT_MAX_BODY = 1 << 20
"""The largest request body accepted by default (bytes); ``policyengine serve --max-body``."""

_log = logging.getLogger("policyengine.service")
_UNKNOWN_STORES = 1_000
"""Store ids an unknown-store warning is remembered for (once each), so a flood of ids cannot grow the set."""


def _store_id(view: EngineView, order: Any, user: Any) -> Any:
    """The order's store id, as ``evaluate`` reads it (None when it cannot be read)."""
    try:
        return view.store_getter(order, user) if view.store_getter is not None else None
    except Exception:  # noqa: BLE001 - the adapter's failure: evaluate fails closed on it; nothing to warn about
        return None


_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_JSON = "application/json"
_JSON_BYTES = _JSON.encode()
_ORDER_USER = operator.itemgetter("order", "user")


class ApiError(Exception):
    """An error answer: HTTP status, stable code, message, and the JSON path of the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra

    def body(self) -> bytes:
        return dumps({"error": self.code, "message": self.message, "field": self.field, **self.extra})


class Reply(NamedTuple):
    """An answer. Reply and Call are named tuples, immutable as frozen attrs classes are, and built four times
    faster (a microsecond each of a request's cost, issue 24)."""

    status: int
    body: bytes
    media_type: str = _JSON


class Call(NamedTuple):
    """One request, as a handler sees it: the validated body, the snapshot deciding it, its id."""

    body: Any
    snapshot: Snapshot | None
    request_id: str
    started: float
    service: Service
    prepared: Any = None
    """What the body's hand-written check read, for the handler to use (:data:`~.checks.FAST_CHECKS`), or None."""

    @property
    def snap(self) -> Snapshot:
        assert self.snapshot is not None  # endpoints with needs_policies=True only run with one
        return self.snapshot


@attrs.frozen(slots=True)
class Endpoint:
    """One route of the service (see the module's documentation)."""

    method: str
    path: str
    name: str
    summary: str
    handler: Callable[[Call], Reply]
    responses: Mapping[int, tuple[str, str | None]]
    """status -> (description, schema name in :data:`~.api.SCHEMAS`, or ``text:<media type>``)."""
    request: str | None = None
    """The schema name of the JSON body (None: no body)."""
    auth: bool = True
    """Whether the bearer token is required (when the service has one)."""
    needs_policies: bool = True
    """Whether it answers 503 until a policy set has loaded."""


# -- handlers --------------------------------------------------------------------------------------------------------
def _cannot_decide(call: Call, err: FactError, prefix: str = "$") -> ApiError:
    fields = call.snap.view.fact_fields
    first = fields.get(err.problems[0].fact) if err.problems else None
    field = prefix + first[1:] if first is not None else None
    return ApiError(422, "cannot_decide", f"cannot decide: {err}", field,
                    problems=[{"fact": p.fact, "message": p.message} for p in err.problems])


def evaluate(call: Call) -> Reply:
    body, snap = call.body, call.snap
    store = body.get("store")
    try:
        result = snap.engine.evaluate(body["order"], body["user"], strict=body.get("strict", False), store=store)
    except FactError as err:
        raise _cannot_decide(call, err) from None
    call.service.decided("evaluate", call, [(body["order"], body["user"])], [result], store)
    return Reply(200, snap.view.menu_json(result))


def evaluate_batch(call: Call) -> Reply:
    body, snap = call.body, call.snap
    pairs = call.prepared if type(call.prepared) is list else list(map(_ORDER_USER, body["pairs"]))
    store, strict = body.get("store"), body.get("strict", False)
    try:
        results = snap.engine.evaluate_many(pairs, strict=strict, store=store)
    except FactError as err:
        # name the first pair at fault (found again one by one: this is the error path only)
        index = next((i for i, (o, u) in enumerate(pairs) if snap.engine.evaluate(o, u, store=store).errors), None)
        raise _cannot_decide(call, err, f"$.pairs[{index}]" if index is not None else "$.pairs") from None
    call.service.decided("batch", call, pairs, results, store)
    menus = snap.view.menus_json(results)  # a new list: the remembered bytes are only read
    if not menus:
        return Reply(200, b'{"results":[]}')
    # the answer's bytes copied once: the brackets go on the first and last menus, not around the joined whole
    menus[0] = b'{"results":[' + menus[0]
    menus[-1] += b"]}"
    return Reply(200, b",".join(menus))


def bulk(call: Call) -> Reply:
    body, snap = call.body, call.snap
    store = body.get("store")
    try:
        result = snap.engine.bulk(body["action"], body["orders"], body["user"], store=store,
                                  decisions=body.get("decisions") is True)
    except KeyError as err:
        raise ApiError(422, "unknown_action", str(err.args[0]), "$.action") from None
    log = call.service.live.decision_log
    if log is not None:
        log.log_bulk(snap.view, result, body["orders"], body["user"], store=store, request_id=call.request_id,
                     started=call.started)
    return Reply(200, dumps({**result.to_dict(), "revision": snap.engine.revision}))


def plan(call: Call) -> Reply:
    body, snap = call.body, call.snap
    try:
        result = snap.engine.plan(body["action"], body["user"], store=body.get("store"),
                                  state=body.get("state", "enabled"))
    except KeyError as err:
        raise ApiError(422, "unknown_action", str(err.args[0]), "$.action") from None
    except PlanError as err:  # a condition no database can decide exactly as evaluate does
        raise ApiError(422, "cannot_plan", f"cannot plan: {err}", "$.action") from None
    return Reply(200, dumps({**result.to_dict(), "revision": snap.engine.revision}))


def explain_decisions(call: Call) -> Reply:
    body, snap = call.body, call.snap
    order, user, store, actions = body["order"], body["user"], body.get("store"), body.get("actions")
    try:
        explanation = explain(snap.engine, order, user, store=store, actions=actions)
    except KeyError as err:
        known = ", ".join(a.id for a in snap.engine.store_policy(store).actions)
        index = actions.index(err.args[0]) if actions and err.args[0] in actions else None
        field = f"$.actions[{index}]" if index is not None else "$.actions"
        raise ApiError(422, "unknown_action", f"unknown action {err.args[0]!r} (actions: {known})", field) from None
    call.service.decided("explain", call, [(order, user)], [snap.engine.evaluate(order, user, store=store)], store)
    return Reply(200, dumps({**explanation.to_dict(), "revision": snap.engine.revision}))


def policies(call: Call) -> Reply:
    live = call.service.live
    snapshot = live.snapshot() if live.ready else None
    data: dict[str, Any] = {"ready": snapshot is not None, "policy": None, "revision": None, "versions": [],
                            "latest": None, "actions": [], "stores": []}
    if snapshot is not None:
        engine = snapshot.engine
        data.update(policy=engine.name, revision=engine.revision, versions=list(engine.versions), latest=engine.version,
                    actions=[{"id": a.id, "label": a.spec.label} for a in engine.policy.actions],
                    stores=[{"store": s, "override": sp.override.label, "runs_on": sp.policy.spec.label}
                            for s in engine.stores if (sp := engine.store_override(s)) is not None])
    data["status"] = live.status.to_dict()
    return Reply(200, dumps(data))


def healthz(call: Call) -> Reply:
    return Reply(200, b'{"status":"ok"}')


def readyz(call: Call) -> Reply:
    status = call.service.live.status
    return Reply(200 if status.ready else 503, dumps({"ready": status.ready, "revision": status.revision,
                                                      "failing": status.failed is not None}))


def metrics(call: Call) -> Reply:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Reply(200, call.service.metrics.exposition(), CONTENT_TYPE_LATEST)


def openapi_document(call: Call) -> Reply:
    return Reply(200, call.service.openapi)


ROUTES: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/evaluate", "evaluate", "Decide every action of the menu for one order and user", evaluate,
             {200: ("The menu: provenance and every action in menu order", "Menu")}, request="EvaluateRequest"),
    Endpoint("POST", "/v1/evaluate/batch", "evaluateBatch", "Decide the menus of many (order, user) pairs",
             evaluate_batch, {200: ("One menu per pair, in input order", "BatchResponse")}, request="BatchRequest"),
    Endpoint("POST", "/v1/bulk", "bulk", "One action over many orders: which it applies to, the others by reason",
             bulk, {200: ("The bulk menu entry", "BulkResponse")}, request="BulkRequest"),
    Endpoint("POST", "/v1/plan", "plan", "Which orders an action applies to for a user, as a query plan", plan,
             {200: ("The plan", "Plan")}, request="PlanRequest"),
    Endpoint("POST", "/v1/explain", "explain", "Why each action is enabled, disabled or hidden", explain_decisions,
             {200: ("Every condition with its value, facts and source line", "ExplainResponse")},
             request="ExplainRequest"),
    Endpoint("GET", "/v1/policies", "policies", "The policy set serving, and the last reload and its problems",
             policies, {200: ("What is loaded and how the last reloads went", "Policies")}, needs_policies=False),
    Endpoint("GET", "/healthz", "healthz", "Liveness: the process answers", healthz, {200: ("Alive", "Health")},
             auth=False, needs_policies=False),
    Endpoint("GET", "/readyz", "readyz", "Readiness: a policy set has loaded", readyz,
             {200: ("Ready", "Ready"), 503: ("No policy set has loaded yet", "Ready")}, auth=False,
             needs_policies=False),
    Endpoint("GET", "/metrics", "metrics", "Prometheus metrics", metrics,
             {200: ("Prometheus text exposition", "text:text/plain")}, needs_policies=False),
    Endpoint("GET", "/openapi.json", "openapi", "This document", openapi_document,
             {200: ("The OpenAPI 3.1 document", "OpenApiDocument")}, auth=False, needs_policies=False),
)


# -- request handling -------------------------------------------------------------------------------------------------
def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is too large")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)
# orjson (the serve extra) parses a body in a fifth of the time, but it reads an integer beyond 64 bits as a float
# and nests 1,024 deep where the standard parser stops near 1,000: a body with a run of 19 digits or with that many
# brackets goes to the standard parser, as does anything orjson refuses (so errors keep their wording). One pass
# of bytes.translate (digits to 0, { to [) makes both questions a plain substring search and a count.
_FOLD = bytes(48 if 48 <= i <= 57 else 91 if i == 123 else i for i in range(256))
_LONG_NUMBER = b"0" * 19
_FEW_BRACKETS = 900


def _parse(body: bytes) -> Any:
    if not body:
        raise ApiError(400, "invalid_json", "the body is empty; send a JSON object")
    if orjson is not None:
        folded = body.translate(_FOLD)
        if _LONG_NUMBER not in folded and folded.count(b"[") < _FEW_BRACKETS:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except json.JSONDecodeError as err:
        raise ApiError(400, "invalid_json", f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the JSON is nested too deeply") from None
    except ValueError as err:  # a non-finite number, an integer with too many digits
        raise ApiError(400, "invalid_json", f"invalid JSON: {err}") from None


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _problem(err: jsonschema.ValidationError) -> tuple[str, str]:
    """(field, message) for one schema error, in the words of this API."""
    path = tuple(err.absolute_path)
    # an error from validation has its instance, schema and validator_value set (the isinstance checks say so to
    # the type checker; one that somehow lacks them gets jsonschema's own message below)
    instance, schema, value = err.instance, err.schema, err.validator_value
    if err.validator == "required" and isinstance(value, list) and isinstance(instance, dict):
        missing = next(n for n in value if n not in instance)
        return json_path((*path, missing)), f"missing required field {missing!r}"
    if err.validator == "additionalProperties" and isinstance(schema, Mapping) and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        extra = next(k for k in instance if k not in known)
        hint = did_you_mean(extra, known)
        return json_path((*path, extra)), f"unknown field {extra!r}" + (f"; {hint}" if hint else "")
    if err.validator == "type" and isinstance(value, (str, list)):
        wanted: list[str] = [value] if isinstance(value, str) else value
        got = _JSON_TYPES.get(type(err.instance), type(err.instance).__name__)
        return json_path(path), f"must be {' or '.join(wanted)}, got {got}"
    return json_path(path), err.message


class Service:
    """The state of one app: the live policies, metrics, the token, the validators and the OpenAPI bytes."""

    def __init__(self, live: LivePolicies, *, token: str | None, max_body: int, routes: Sequence[Endpoint]) -> None:
        self.live = live
        self.token = f"Bearer {token}".encode() if token else None
        self.max_body = max_body
        # New request ids: 32 hex digits, a random half per service (per worker) and a counter: unique as uuid4's,
        # at a tenth of its cost (issue 24: uuid4 was 3.7 µs of a request)
        self.id_prefix = os.urandom(8).hex()
        self.ids = itertools.count()
        self.warned_stores: set[str] = set()
        self.metrics = ServiceMetrics(live)
        # compiled checks for the common, valid case; jsonschema words the errors of the others
        names = {r.request for r in routes if r.request is not None}
        self.checks = {name: fastjsonschema.compile(SCHEMAS[name]) for name in names}
        self.validators = {name: jsonschema.Draft202012Validator(SCHEMAS[name]) for name in names}
        self.fast = {name: FAST_CHECKS[name] for name in names if name in FAST_CHECKS}
        self.openapi = dumps(openapi(routes, title="policyengine", version=__version__, auth=token is not None))

    def decided(self, kind: str, call: Call, pairs: Sequence[tuple[Any, Any]], results: Sequence[Decisions],
                store: str | None) -> None:
        """A decision request is done: count its decisions, and log it when there is a decision log."""
        self.metrics.count_decisions(results)
        if kind == "evaluate" and results and results[0].store_override is None and call.snap.engine.stores:
            self._unknown_store(call.snap, pairs[0], store)
        log = self.live.decision_log
        if log is not None:
            log.log(kind, call.snap.view, pairs, results, store=store, request_id=call.request_id, started=call.started)

    def _unknown_store(self, snap: Snapshot, pair: tuple[Any, Any], store: str | None) -> None:
        """The base decided an order of a set with store overrides: when its store id names none of them (a typo, a
        wrong case), warn once per id (at most ``_UNKNOWN_STORES`` ids remembered): hosts cannot tell "no override"
        from "unknown store" in the answer itself (docs/stores.md)."""
        name = store if store is not None else _store_id(snap.view, *pair)
        if not isinstance(name, str) or name in self.warned_stores or len(self.warned_stores) >= _UNKNOWN_STORES:
            return
        engine = snap.engine
        self.warned_stores.add(name)
        hint = did_you_mean(name, engine.stores)
        _log.warning("store %r has no store override: the base policy decides its orders%s", name,
                     f" ({hint})" if hint else "")

    def _check_length(self, headers: Mapping[bytes, bytes]) -> None:
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise ApiError(413, "too_large", f"the body is {length.decode()} bytes; the limit is {self.max_body}")

    async def _body(self, message: Mapping[str, Any], receive: Receive) -> bytes:
        """The body whose first ASGI message is ``message``, when that is not the whole of it."""
        chunks: list[bytes] = []
        size = 0
        while True:  # the ASGI messages themselves: counted as they come, refused as soon as they are too many
            if chunks or size:
                message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise ApiError(413, "too_large", f"the body is over the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _validate(self, schema: str, body: Any) -> Any:
        """Refuse a body its schema does not accept (naming the field); what its hand-written check read, if any."""
        fast = self.fast.get(schema)
        if fast is not None:
            prepared = fast(body)
            if prepared is not None:
                return prepared
        try:
            self.checks[schema](body)
            return None
        except fastjsonschema.JsonSchemaException:
            pass
        errors = sorted(self.validators[schema].iter_errors(body), key=lambda e: (len(e.absolute_path), e.path))
        if errors:
            details = [_problem(e) for e in errors[:20]]
            raise ApiError(422, "invalid_request", f"{details[0][0]}: {details[0][1]}", details[0][0],
                           details=[{"field": f, "message": m} for f, m in details])

    def _authorized(self, headers: Mapping[bytes, bytes]) -> bool:
        return self.token is not None and hmac.compare_digest(headers.get(b"authorization", b""), self.token)

    def request_id(self, headers: Mapping[bytes, bytes]) -> str:
        """The caller's ``X-Request-Id`` when it is a valid one, else a new one."""
        given = headers.get(b"x-request-id")
        if given is not None and _REQUEST_ID.fullmatch(given):
            return given.decode()
        return f"{self.id_prefix}{next(self.ids):016x}"

    def gate(self, route: Endpoint, headers: Mapping[bytes, bytes], extra: list[tuple[bytes, bytes]]) -> None:
        """What is refused before the body is read: the token, then a declared length over the limit."""
        if route.auth and self.token is not None and not self._authorized(headers):
            extra.append((b"www-authenticate", b'Bearer realm="policyengine"'))
            raise ApiError(401, "unauthorized", "a valid bearer token is required (Authorization: Bearer ...)")
        if route.request is not None:
            self._check_length(headers)

    def handle(self, route: Endpoint, data: bytes | None, request_id: str, started: float,
               extra: list[tuple[bytes, bytes]]) -> Reply:
        """The rest of a request once its body is in: parse and check it, take a snapshot, run the handler."""
        body = prepared = None
        if route.request is not None:
            body = _parse(data or b"")
            prepared = self._validate(route.request, body)
        snapshot = None
        if route.needs_policies:
            if not self.live.ready:
                extra.append((b"retry-after", b"1"))
                raise ApiError(503, "not_ready", "no policy set has loaded yet; see GET /v1/policies")
            snapshot = self.live.snapshot()
        return route.handler(Call(body, snapshot, request_id, started, self, prepared))

    def failed(self, route: Endpoint, err: Exception, request_id: str) -> Reply:
        """The answer to a request that raised ``err``."""
        if isinstance(err, ApiError):
            return Reply(err.status, err.body())
        if isinstance(err, ClientDisconnect):  # nobody is left to read the answer; counted as a bad request
            return Reply(400, ApiError(400, "invalid_request", "the client left before sending the body").body())
        # a bug of ours: say so, and never leak a traceback to the caller
        _log.error("internal error answering %s %s (request %s)", route.method, route.path, request_id, exc_info=err)
        return Reply(500, ApiError(500, "internal", "internal error; the service log has the details").body())

    def complete(self, route: Endpoint, headers: Mapping[bytes, bytes], data: bytes | None,
                 started: float) -> tuple[Reply, str, list[tuple[bytes, bytes]]]:
        """A whole request at once (its body already read): (the reply, the request id, extra headers). The
        protocol (:mod:`.protocol`) answers this way without an ASGI task; the ASGI endpoint does the same steps
        around its reads."""
        request_id = self.request_id(headers)
        extra: list[tuple[bytes, bytes]] = []
        try:
            self.gate(route, headers, extra)
            reply = self.handle(route, data, request_id, started, extra)
        except Exception as err:  # noqa: BLE001 - every failure is answered (failed() logs the unexpected)
            reply = self.failed(route, err, request_id)
        return reply, request_id, extra

    def endpoint(self, route: Endpoint) -> ASGIApp:
        """The ASGI app answering ``route`` (a plain ASGI callable: Starlette routes to it without wrapping it in a
        Request/Response pair, which is a good share of a request's cost here)."""

        method, path, schema, observe = route.method, route.path, route.request, self.metrics.observe

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            started = time.perf_counter()
            headers = dict(scope["headers"])
            request_id = self.request_id(headers)
            extra: list[tuple[bytes, bytes]] = []
            try:
                self.gate(route, headers, extra)
                data = None
                if schema is not None:
                    message = await receive()  # the usual case: the whole body in one message
                    data = message.get("body", b"")
                    if message["type"] != "http.request" or message.get("more_body", False) or \
                            len(data) > self.max_body:
                        data = await self._body(message, receive)
                reply = self.handle(route, data, request_id, started, extra)
            except Exception as err:  # noqa: BLE001 - every failure is answered (failed() logs the unexpected)
                reply = self.failed(route, err, request_id)
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": [(b"content-type", _JSON_BYTES if reply.media_type is _JSON
                                     else reply.media_type.encode()),
                                    (b"content-length", b"%d" % len(reply.body)),
                                    (b"x-request-id", request_id.encode()), *extra]})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else reply.body})
            observe(path, method, reply.status, time.perf_counter() - started)

        return _Plain(answer)


class _Plain:
    """An ASGI callable that is not a function, so that Starlette's Route calls it as it is."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        return self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    message = {404: f"no such endpoint: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(status, str(exc))
    headers = dict(getattr(exc, "headers", None) or {})
    return Response(ApiError(status, code, message).body(), status, headers, media_type=_JSON)


class _Direct(Starlette):
    """Starlette, with the routes' own (method, path) pairs answered by one dict lookup: Starlette's router matches
    every route's regex and wraps the call in its middleware, which cost a request about 18 µs (issue 24). Anything
    else (404, 405, a trailing slash, a root path, lifespan) goes through Starlette as before."""

    def __init__(self, direct: Mapping[tuple[str, str], ASGIApp],
                 protocol_routes: Mapping[tuple[bytes, bytes], tuple[Service, Endpoint]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct = direct
        self.protocol_routes = protocol_routes
        """(method, exact request target) -> what :mod:`.protocol` answers itself, without an ASGI task."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            app = self.direct.get((scope["method"], scope["path"]))
            if app is not None:
                return await app(scope, receive, send)
        return await super().__call__(scope, receive, send)


def create_app(live: LivePolicies, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY,
               routes: Sequence[Endpoint] = ROUTES) -> Starlette:
    """The ASGI app serving ``live``. ``token``: the bearer token every endpoint but the health checks and the
    OpenAPI document requires (None: no auth). ``max_body``: the largest request body, in bytes."""
    service = Service(live, token=token, max_body=max_body, routes=routes)
    endpoints = [(r, service.endpoint(r)) for r in routes]
    direct: dict[tuple[str, str], ASGIApp] = {}
    for route, endpoint in endpoints:
        direct[(route.method, route.path)] = endpoint
        if route.method == "GET":  # as Starlette's Route does
            direct[("HEAD", route.path)] = endpoint
    protocol_routes = {(r.method.encode(), r.path.encode()): (service, r) for r in routes}
    app = _Direct(direct, protocol_routes, routes=[Route(r.path, e, methods=[r.method], name=r.name) for r, e in endpoints],
                  exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app
