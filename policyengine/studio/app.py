"""The studio's web app (Starlette): the page and its assets, and a JSON API the page calls.

Safety, in the order a request meets it: the ``Host`` header must name this machine as the studio was told to
listen (a DNS-rebinding page reaches us under its own host name and is refused); every API call is a ``POST`` whose
``Origin`` is this very address (another site's page cannot post to us, CSRF), with a JSON body under
:data:`MAX_BODY` bytes, and the token when the studio has one (a non-loopback address needs it). Every answer
carries a Content-Security-Policy that lets the page run only its own script, and the page shows policy text with
``textContent`` only, so a label holding ``<script>`` is shown, never run.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import PolicyError
from .session import Session
from .workspace import PathRefused, TooLarge, Workspace

__all__ = ["create_app", "Impact", "MAX_BODY", "ASSETS"]

MAX_BODY = 4 << 20
"""The largest API request body (bytes): every edited file of a set, each at most 1 MiB."""

ASSETS = {"/": ("index.html", "text/html; charset=utf-8"), "/studio.js": ("studio.js", "text/javascript; charset=utf-8"),
          "/studio.css": ("studio.css", "text/css; charset=utf-8"), "/yaml.js": ("yaml.js", "text/javascript; charset=utf-8")}
"""Path -> (file under ``policyengine/studio/static``, media type): everything the page loads, all in the package."""

_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@attrs.frozen(slots=True)
class Impact:
    """The Impact panel's source: a function of ``(old engine, new engine)`` returning ``impact(...).to_dict()``."""

    run: Callable[[Any, Any], Mapping[str, Any]]
    describe: str
    """Where the orders come from, as the panel names it (the database URL without its password)."""
    example: Callable[[str, Sequence[str]], Mapping[str, Any]]
    """``(order id, the declared fact names)`` -> ``{"facts": {fact: value}, "store": id or None}``, for "Try it"."""


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status, headers=_SECURITY_HEADERS)


def _text(value: Any, name: str, limit: int = 1 << 20) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise Refused(422, "invalid_request", f"{name}: must be a string of at most {limit} characters")
    return value


def _edits(body: Mapping[str, Any]) -> dict[str, str]:
    edits = body.get("edits", {})
    if not isinstance(edits, dict):
        raise Refused(422, "invalid_request", "edits: must be an object of path -> text")
    # each text's size is the workspace's to check (in bytes, 413): here only that it is text
    return {_text(k, "edits key", 1024): _text(v, f"edits[{k[:100]!r}]", MAX_BODY) for k, v in edits.items()}


def _facts(body: Mapping[str, Any]) -> dict[str, Any]:
    facts = body.get("facts", {})
    if not isinstance(facts, dict) or len(facts) > 500:
        raise Refused(422, "invalid_request", "facts: must be an object of at most 500 facts")
    return facts


def _store(body: Mapping[str, Any]) -> str | None:
    store = body.get("store")
    return None if store in (None, "") else _text(store, "store", 200)


class Studio:
    """One app's state: the session, the token, the host names it answers to, the impact source."""

    def __init__(self, session: Session, *, token: str | None, hosts: frozenset[str], impact: Impact | None) -> None:
        self.session, self.token, self.hosts, self.impact = session, token, hosts, impact

    # -- handlers (run in a worker thread: loading a set is CPU work of milliseconds) --------------------------------
    def files(self, body: Mapping[str, Any]) -> Any:
        ws = self.session.workspace
        return {"root": ws.root.name, "files": [f.to_dict() for f in ws.files()],
                "impact": self.impact.describe if self.impact is not None else None}

    def file(self, body: Mapping[str, Any]) -> Any:
        path = _text(body.get("path"), "path", 1024)
        return {"path": path, "text": self.session.workspace.read(path)}

    def check(self, body: Mapping[str, Any]) -> Any:
        """The edited set's diagnostics and "Try it" form; with ``try`` (facts and store), its menu too: one round
        trip per pause in typing."""
        edits = _edits(body)
        out = self.session.check(edits)
        wanted = body.get("try")
        if isinstance(wanted, dict) and out["form"] is not None:
            out["menu"] = self.session.try_it(edits, _facts(wanted), _store(wanted))
        return out

    def companions(self, body: Mapping[str, Any]) -> Any:
        return {"diagnostics": self.session.companions(_edits(body))}

    def try_it(self, body: Mapping[str, Any]) -> Any:
        return self.session.try_it(_edits(body), _facts(body), _store(body))

    def explain(self, body: Mapping[str, Any]) -> Any:
        return self.session.explain(_edits(body), _facts(body), _store(body), _text(body.get("action"), "action", 200))

    def tests(self, body: Mapping[str, Any]) -> Any:
        return self.session.tests(_edits(body))

    def accept(self, body: Mapping[str, Any]) -> Any:
        return self.session.tests(_edits(body), accept=True)

    def matrix(self, body: Mapping[str, Any]) -> Any:
        return self.session.matrix(_edits(body), _text(body.get("action"), "action", 200), _store(body))

    def diff(self, body: Mapping[str, Any]) -> Any:
        return self.session.diff(_edits(body), _text(body.get("against", "saved"), "against", 100), _store(body))

    def impact_of(self, body: Mapping[str, Any]) -> Any:
        if self.impact is None:
            raise Refused(404, "no_database", "start the studio with --db URL to see a change's impact on real orders")
        loaded = self.session.load(_edits(body))
        if loaded.engine is None:
            return {"error": "the edited set does not load: fix its problems to see its impact"}
        try:
            return dict(self.impact.run(self.session.saved(), loaded.engine))
        except ImportError as err:  # policyengine.sql.impact is not in this installation
            raise Refused(501, "no_impact", f"cannot compute the impact: {err}") from None

    def example(self, body: Mapping[str, Any]) -> Any:
        if self.impact is None:
            raise Refused(404, "no_database", "start the studio with --db URL to open orders from it")
        engine = self.session.last_good or self.session.saved()
        try:
            return dict(self.impact.example(_text(body.get("id"), "id", 200), list(engine.declared_facts())))
        except LookupError as err:
            raise Refused(404, "no_such_order", str(err.args[0] if err.args else err)) from None

    def save(self, body: Mapping[str, Any]) -> Any:
        edits = _edits(body)
        path = _text(body.get("path"), "path", 1024)
        if path not in edits:
            raise Refused(422, "invalid_request", f"path: {path!r} is not among the edits")
        loaded = self.session.load(edits)
        if loaded.engine is None and body.get("confirm_broken") is not True:
            problems = [d for d in loaded.diagnostics]
            first = problems[0] if problems else None
            said = f"{first['file']}:{first['line']}:{first['column']}: {first['message']}" if first else ""
            raise Refused(409, "does_not_load", f"the edited set does not load ({len(problems)} problem"
                          f"{'s' if len(problems) != 1 else ''}; first: {said}); save anyway only if you mean to",
                          problems=len(problems))
        self.session.workspace.save(path, edits[path])
        return {"saved": path, "loads": loaded.engine is not None}

    # -- checks --------------------------------------------------------------------------------------------------------
    def check_host(self, headers: Mapping[str, str]) -> None:
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.removeprefix("[").removesuffix("]")
        if name.lower() not in self.hosts:
            raise Refused(421, "wrong_host", "this studio does not answer to that host name")

    def check_api(self, request: Request) -> None:
        origin = request.headers.get("origin")
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is None or origin != expected:
            raise Refused(403, "wrong_origin", "requests from another origin are refused")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Refused(403, "wrong_origin", "requests from another site are refused")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Refused(415, "not_json", "send application/json")
        if self.token is not None:
            given = request.headers.get("x-studio-token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                raise Refused(401, "unauthorized", "this studio needs its token (open the address it printed)")

    async def body(self, request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise Refused(413, "too_large", f"the body is over the limit of {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise Refused(413, "too_large", f"the body is over the limit of {MAX_BODY} bytes")
            chunks.append(chunk)
        try:
            data = json.loads(b"".join(chunks).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Refused(400, "invalid_json", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(422, "invalid_request", "the body must be a JSON object")
        return data

    def api(self, handler: Callable[[Mapping[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            try:
                self.check_api(request)
                body = await self.body(request)
                return _json(await run_in_threadpool(handler, body))
            except Refused as err:
                return _json({"error": err.code, "message": err.message, **err.extra}, err.status)
            except TooLarge as err:
                return _json({"error": "too_large", "message": str(err)}, 413)
            except PathRefused as err:
                return _json({"error": "path_refused", "message": str(err)}, 403)
            except PolicyError as err:
                return _json({"error": "does_not_load", "message": "the saved set does not load",
                              "diagnostics": [self.session.diagnostic(d) for d in err.diagnostics]}, 409)
            except (KeyError, ValueError) as err:
                return _json({"error": "invalid_request", "message": str(err)}, 422)
            except ClientDisconnect:
                return _json({"error": "invalid_request", "message": "the client left"}, 400)

        return answer


def _asset(name: str, media: str) -> Callable[[Request], Awaitable[Response]]:
    data = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()

    async def answer(request: Request) -> Response:
        return Response(data, 200, headers=_SECURITY_HEADERS, media_type=media)

    return answer


class _HostCheck:
    """Refuses, before routing, a request whose Host header is not one this studio answers to."""

    def __init__(self, app: ASGIApp, studio: Studio) -> None:
        self.app, self.studio = app, studio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                self.studio.check_host(headers)
            except Refused as err:
                await _json({"error": err.code, "message": err.message}, err.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(root: str, *, token: str | None = None, hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"}),
               impact: Impact | None = None) -> ASGIApp:
    """The studio editing the policy directory ``root``. ``hosts``: the host names it answers to (the address it
    listens on); ``token``: required of every API call when set; ``impact``: the Impact panel's source."""
    studio = Studio(Session(Workspace(root)), token=token, hosts=frozenset(h.lower() for h in hosts), impact=impact)
    handlers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
        "files": studio.files, "file": studio.file, "check": studio.check, "companions": studio.companions, "try": studio.try_it,
        "explain": studio.explain, "tests": studio.tests, "accept": studio.accept, "matrix": studio.matrix,
        "diff": studio.diff, "impact": studio.impact_of, "example": studio.example, "save": studio.save}
    routes = [Route(f"/api/{name}", studio.api(h), methods=["POST"]) for name, h in handlers.items()]
    routes += [Route(path, _asset(name, media), methods=["GET"]) for path, (name, media) in ASSETS.items()]
    app = Starlette(routes=routes)
    app.state.studio = studio
    return _HostCheck(app, studio)
