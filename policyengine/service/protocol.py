"""uvicorn's httptools protocol with read deadlines and JSON errors (issue 23).

uvicorn times out idle keep-alive connections only: a client that sends half its headers, or headers and then no
body, held its connection (and a graceful shutdown) for ever. Here a request's headers must be complete within
``header_timeout`` seconds of its first byte (or of the connection, before any byte), and its body within
``body_timeout`` seconds of its headers; otherwise the connection is answered ``408 {"error": "timeout", ...}``
and closed. The timers are armed only when a read is left incomplete by the bytes received so far, so a request
arriving whole costs nothing extra. A request the HTTP parser refuses is answered in JSON too, as every other
error of the service.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .view import dumps

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_HEADER_TIMEOUT", "protocol_class"]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a request has to send its headers (``policyengine serve --header-timeout``)."""
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a request has to send its body once the headers are in (``--body-timeout``)."""


def _error(status: int, reason: bytes, code: str, message: str) -> bytes:
    body = dumps({"error": code, "message": message, "field": None})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body))) + body


class _TimedProtocol(HttpToolsProtocol):
    header_timeout = DEFAULT_HEADER_TIMEOUT
    body_timeout = DEFAULT_BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # what the bytes received so far leave incomplete (None between requests: uvicorn's keep-alive timer then)
        self._reading: str | None = "headers"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)  # a connection that never sends a byte is not kept either

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading is not None and self._deadline is None and not self.transport.is_closing():
            self._arm(self.header_timeout if self._reading == "headers" else self.body_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "headers"

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = None
        super().on_message_complete()

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
        cycle = self.cycle
        if self._reading == "headers" and (cycle is None or cycle.response_complete) and self.timeout_keep_alive_task:
            return  # idle between requests: uvicorn's keep-alive timer closes it
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
