"""uvicorn's httptools protocol with read deadlines and JSON errors (issue 23).

uvicorn times out idle keep-alive connections only: a client that sends half its headers, or headers and then no
body, held its connection (and a graceful shutdown) for ever. Here a request's headers must be complete within
``header_timeout`` seconds of its first byte (or of the connection, before any byte), and its body within
``body_timeout`` seconds of its headers; otherwise the connection is answered ``408 {"error": "timeout", ...}``
and closed. The timers are armed only when a read is left incomplete by the bytes received so far, so a request
arriving whole costs nothing extra. A request the HTTP parser refuses is answered in JSON too, as every other
error of the service.

The service's own routes are answered here too (issue 24): a request whose method and exact target are a route of
the app (``_Direct.protocol_routes``), with a ``Content-Length`` within the body limit, is read by the parser
callbacks and answered in ``on_message_complete`` through :meth:`~.app.Service.complete`, the same steps the ASGI
endpoint takes, with no ASGI scope, cycle, task or messages; the response is written as uvicorn writes it (its
default headers first, ``connection: close`` when the connection ends). Anything else (a query string, a chunked or
oversized body, ``Expect: 100-continue``, an upgrade, a request queued behind one still answering, a client that
does not read its answers) goes to the app as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from .view import dumps

if TYPE_CHECKING:
    from .app import Endpoint, Service

    Routes = Mapping[tuple[bytes, bytes], tuple[Service, Endpoint]]

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_HEADER_TIMEOUT", "protocol_class"]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a request has to send its headers (``policyengine serve --header-timeout``)."""
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a request has to send its body once the headers are in (``--body-timeout``)."""


def _error(status: int, reason: bytes, code: str, message: str) -> bytes:
    body = dumps({"error": code, "message": message, "field": None})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body))) + body


def _routes(app: Any) -> Routes:
    """The routes the protocol answers itself: the service app's, under whatever middleware uvicorn wrapped it in."""
    for _ in range(8):
        routes = getattr(app, "protocol_routes", None)
        if routes is not None:
            return routes  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
    return {}


class _TimedProtocol(HttpToolsProtocol):
    header_timeout = DEFAULT_HEADER_TIMEOUT
    body_timeout = DEFAULT_BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # what the bytes received so far leave incomplete (None between requests: uvicorn's keep-alive timer then)
        self._reading: str | None = "headers"
        # requests answered here: not with uvicorn's options that act per ASGI request (an access log, a concurrency
        # limit, a root path)
        plain = not self.access_log and self.limit_concurrency is None and not self.root_path
        self._routes: Routes = _routes(self.app) if plain else {}
        self._answering: tuple[Service, Endpoint] | None = None  # the request being read to be answered here
        self._header_map: dict[bytes, bytes] = {}
        self._chunks: list[bytes] = []
        self._started = 0.0
        self._keep_alive = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)  # a connection that never sends a byte is not kept either

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._answering = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading is not None and self._deadline is None and not self.transport.is_closing():
            self._arm(self.header_timeout if self._reading == "headers" else self.body_timeout)

    def on_message_begin(self) -> None:
        # the ASGI scope is built only for a request that goes to the app (_to_app)
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._answering = None
        self._reading = "headers"

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading = "body"
        answering = self._routes.get((self.parser.get_method(), self.url)) if self._routes else None
        if answering is not None and self._here(answering[0], answering[1]):
            self._answering = answering
            self._chunks = []
            self._started = time.perf_counter()
            self._keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            return
        self._to_app()

    def _here(self, service: Service, route: Endpoint) -> bool:
        """Whether this request is answered here (see the module's documentation)."""
        # a client not reading its answers (writes paused) goes through the app, whose writes wait for it and
        # whose queue of pipelined requests stops reading: what the server buffers stays bounded
        if self.expect_100_continue or self.parser.should_upgrade() or self.pipeline or self.flow.write_paused or \
                (self.cycle is not None and not self.cycle.response_complete):
            return False
        headers = self._header_map = dict(self.headers)
        length = headers.get(b"content-length")
        if b"transfer-encoding" in headers:
            return False
        if route.request is None:
            return length is None or length == b"0"
        return length is not None and length.isdigit() and int(length) <= service.max_body

    def _to_app(self) -> None:
        """Hand the request to the ASGI app, as uvicorn does: build its scope, then uvicorn's own steps."""
        headers, url, expect = self.headers, self.url, self.expect_100_continue
        super().on_message_begin()
        self.headers.extend(headers)
        self.url, self.expect_100_continue = url, expect
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._answering is not None:
            self._chunks.append(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = None
        if self._answering is not None:
            self._answer(*self._answering)
        else:
            super().on_message_complete()

    def _answer(self, service: Service, route: Endpoint) -> None:
        self._answering = None
        chunks = self._chunks
        data = (chunks[0] if len(chunks) == 1 else b"".join(chunks)) if route.request is not None else None
        self._chunks = []
        reply, request_id, extra = service.complete(route, self._header_map, data, self._started)
        head = [STATUS_LINE[reply.status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"content-type: ", reply.media_type.encode(), b"\r\ncontent-length: %d\r\nx-request-id: "
                 % len(reply.body), request_id.encode(), b"\r\n")
        for name, value in extra:
            head += (name, b": ", value, b"\r\n")
        if not self._keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        if len(reply.body) < 4096:  # one write; a large body is not copied to be joined
            self.transport.write(b"".join(head) + reply.body)
        else:
            self.transport.writelines((b"".join(head), reply.body))
        if not self._keep_alive:
            self.transport.close()
        self.on_response_complete()  # uvicorn's: counts it, resumes reading, arms the keep-alive timer
        service.metrics.observe(route.path, route.method, reply.status, time.perf_counter() - self._started)

    def shutdown(self) -> None:
        if self._answering is not None:  # a request being read here: answered, then the connection closes
            self._keep_alive = False
        else:
            super().shutdown()

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._reading is None:
            return
        cycle: RequestResponseCycle | None = self.cycle
        if self._reading == "headers" and (cycle is None or cycle.response_complete) and self.timeout_keep_alive_task:
            return  # idle between requests: uvicorn's keep-alive timer closes it
        if self._answering is not None:  # a body being read to be answered here: no ASGI cycle is involved
            self._answering, cycle = None, None
        if cycle is None or not cycle.response_started:
            what = "headers" if self._reading == "headers" else "body"
            self.transport.write(_error(408, b"Request Timeout", "timeout",
                                        f"the request's {what} did not arrive in time"))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() now says the client left: its answer goes nowhere
            cycle.message_event.set()
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_error(400, b"Bad Request", "invalid_http", f"not a valid HTTP request: {msg}"))
        self.transport.close()


def protocol_class(header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                   body_timeout: float = DEFAULT_BODY_TIMEOUT) -> type[HttpToolsProtocol]:
    """The protocol class to pass as ``uvicorn.Config(http=...)``, with these deadlines (seconds)."""
    return type("PolicyEngineHttpProtocol", (_TimedProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})
