"""``policyengine serve`` answers its routes in the HTTP protocol itself (issue 24): the same answers, headers, request
ids, decision log records, metrics and errors as through the ASGI app, which still takes every request the protocol
does not (a query string, ``Expect: 100-continue``, a body over the limit).

One server runs as a subprocess on loopback (port 0, one worker, a token, a decision log file). Requests are raw bytes
on sockets, so that keep-alive, pipelining and ``Connection: close`` are what the test sends. Nothing is timed; each
read has a bound only a hang reaches.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import POLICIES
from service_support import ADMIN, SHIPPED_ACME, TOKEN, serving

import policyengine
from policyengine.service.view import EngineView

MAX_BODY = 8192
GLOBEX = {"status": "Error", "has_shipment": False, "sent_to_warehouse": False, "channel": "web",
          "store": {"id": "globex", "manual_fulfillment": True}}
MEMBER = {"role": "member"}


class Server:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("protocol")
    (tmp / "token").write_text(TOKEN + "\n")
    log = tmp / "decisions.jsonl"
    with serving("--workers", "1", "--token-file", str(tmp / "token"), "--decision-log", str(log),
                 "--max-body", str(MAX_BODY)) as (port, _):
        yield Server(port, log)


def request(path: str, body: Any = None, *, method: str = "POST", headers: dict[str, str] | None = None,
            version: str = "1.1", token: bool = True) -> bytes:
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/{version}", "Host: test"]
    lines += [f"Authorization: Bearer {TOKEN}"] if token else []
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"Content-Length: {len(data)}"] if method == "POST" else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def read_response(sock: socket.socket, buffer: bytearray) -> Response:
    """One response from ``sock`` (``buffer`` holds bytes read past the previous one)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed mid-response: {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"header {name} twice"
        headers[name.lower()] = value.strip()
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-body"
        rest += chunk
    buffer[:] = rest[length:]
    return Response(int(status_line.split()[1]), headers, rest[:length])


def exchange(server: Server, *requests: bytes) -> list[Response]:
    """Send ``requests`` one after the other on one keep-alive connection; their responses."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        buffer = bytearray()
        out = []
        for raw in requests:
            sock.sendall(raw)
            out.append(read_response(sock, buffer))
        return out


def menu(engine: policyengine.Engine, order: Any, user: Any) -> Any:
    return EngineView(engine).menu(engine.evaluate(order, user))


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(POLICIES)


# -- the same answers both ways --------------------------------------------------------------------------------------
def test_evaluate_answers_the_engines_menu_the_same_as_through_the_app(server: Server,
                                                                       engine: policyengine.Engine) -> None:
    body = {"order": SHIPPED_ACME, "user": ADMIN}
    # a query string sends the request to the ASGI app: the protocol answers only the route's exact path
    here, app = exchange(server, request("/v1/evaluate", body), request("/v1/evaluate?via=app", body))
    assert here.status == app.status == 200
    assert here.body == app.body and here.json() == menu(engine, SHIPPED_ACME, ADMIN)
    assert here.headers.keys() == app.headers.keys() == {"date", "content-type", "content-length", "x-request-id"}
    assert here.headers["content-type"] == "application/json"


def test_a_batch_is_each_pairs_menu_in_order(server: Server, engine: policyengine.Engine) -> None:
    pairs = [(SHIPPED_ACME, ADMIN), (GLOBEX, MEMBER), (SHIPPED_ACME, MEMBER), (SHIPPED_ACME, ADMIN)]
    body = {"pairs": [{"order": o, "user": u} for o, u in pairs]}
    here, app, one = exchange(server, request("/v1/evaluate/batch", body),
                              request("/v1/evaluate/batch?via=app", body),
                              request("/v1/evaluate/batch", {"pairs": [body["pairs"][1]]}))
    assert here.status == app.status == one.status == 200 and here.body == app.body
    assert here.json() == {"results": [menu(engine, o, u) for o, u in pairs]}
    assert one.json() == {"results": [menu(engine, GLOBEX, MEMBER)]}
    [empty] = exchange(server, request("/v1/evaluate/batch", {"pairs": []}))
    assert empty.status == 200 and empty.json() == {"results": []}


def test_other_routes_are_answered_too(server: Server) -> None:
    health, ready, openapi = exchange(server, request("/healthz", method="GET"), request("/readyz", method="GET"),
                                      request("/openapi.json", method="GET", token=False))
    assert (health.status, health.json()) == (200, {"status": "ok"})
    assert ready.status == 200 and ready.json()["ready"] is True
    assert openapi.status == 200 and "/v1/evaluate" in openapi.json()["paths"]


# -- request ids and decision logs -----------------------------------------------------------------------------------
def test_request_ids_are_unique_echoed_and_in_the_decision_log(server: Server) -> None:
    body = {"order": SHIPPED_ACME, "user": ADMIN}
    answers = exchange(server, *[request("/v1/evaluate", body) for _ in range(20)],
                       request("/v1/evaluate", body, headers={"X-Request-Id": "caller-7"}),
                       request("/v1/evaluate", body, headers={"X-Request-Id": "not valid!"}),
                       request("/v1/evaluate?via=app", body))
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(a.status == 200 for a in answers)
    assert len(set(ids)) == len(ids)
    assert ids[20] == "caller-7"
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids[:20] + ids[21:])
    logged = {r["request_id"]: r for r in server.records()}
    for request_id in ids:
        assert logged[request_id]["kind"] == "evaluate"
        assert logged[request_id]["decisions"][0]["store_override"] == "acme@1"


def test_a_batch_is_one_record_with_every_pair(server: Server) -> None:
    body = {"pairs": [{"order": SHIPPED_ACME, "user": ADMIN}, {"order": GLOBEX, "user": MEMBER}]}
    [answer] = exchange(server, request("/v1/evaluate/batch", body))
    [record] = [r for r in server.records() if r["request_id"] == answer.headers["x-request-id"]]
    assert record["kind"] == "batch"
    assert [d["store_override"] for d in record["decisions"]] == ["acme@1", "globex@2"]


# -- metrics ---------------------------------------------------------------------------------------------------------
def _metric(text: str, pattern: str) -> float:
    match = re.search("^" + pattern + r" ([0-9.e+]+)$", text, re.M)
    assert match, pattern
    return float(match.group(1))


def test_metrics_count_what_the_protocol_answers(server: Server) -> None:
    [before] = exchange(server, request("/metrics", method="GET"))
    ok = r'policyengine_http_requests_total\{method="POST",route="/v1/evaluate",status="200"\}'
    bad = r'policyengine_http_requests_total\{method="POST",route="/v1/evaluate",status="422"\}'
    count = r'policyengine_http_request_duration_seconds_count\{route="/v1/evaluate"\}'
    decisions = r'policyengine_decisions_total\{action="delete",state="disabled"\}'
    old = {p: _metric(before.body.decode(), p) if re.search("^" + p, before.body.decode(), re.M) else 0.0
           for p in (ok, bad, count, decisions)}
    exchange(server, *[request("/v1/evaluate", {"order": SHIPPED_ACME, "user": ADMIN}) for _ in range(5)],
             request("/v1/evaluate", {"order": 1, "user": ADMIN}))
    [after] = exchange(server, request("/metrics", method="GET"))
    assert after.status == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.body.decode()
    assert _metric(text, ok) == old[ok] + 5
    assert _metric(text, bad) == old[bad] + 1
    assert _metric(text, count) == old[count] + 6
    assert _metric(text, decisions) == old[decisions] + 5  # ACME, shipped from Amazon: delete is disabled
    assert _metric(text, r"policyengine_ready") == 1


# -- errors ----------------------------------------------------------------------------------------------------------
def test_errors_name_the_field_as_through_the_app(server: Server) -> None:
    cases = [({"order": {}, "user": {}, "stor": "acme"}, "$.stor", "unknown field 'stor'; did you mean 'store'?"),
             ({"order": {}}, "$.user", "missing required field 'user'"),
             ({"pairs": [{"order": {}, "user": []}]}, "$.pairs[0].user", "must be object, got an array")]
    for body, field, message in cases:
        path = "/v1/evaluate/batch" if "pairs" in body else "/v1/evaluate"
        here, app = exchange(server, request(path, body), request(path + "?via=app", body))
        assert here.status == app.status == 422 and here.body == app.body
        assert here.json()["field"] == field and here.json()["message"] == f"{field}: {message}"
    [bad_json] = exchange(server, request("/v1/evaluate", b"{not json"))
    assert bad_json.status == 400 and bad_json.json()["error"] == "invalid_json"


def test_a_missing_token_is_401_with_its_header(server: Server) -> None:
    [answer] = exchange(server, request("/v1/evaluate", {"order": {}, "user": {}}, token=False))
    assert answer.status == 401 and answer.json()["error"] == "unauthorized"
    assert answer.headers["www-authenticate"] == 'Bearer realm="policyengine"'
    assert re.fullmatch("[0-9a-f]{32}", answer.headers["x-request-id"])


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    body = {"order": {"note": "x" * MAX_BODY}, "user": ADMIN}
    [answer] = exchange(server, request("/v1/evaluate", body))
    assert answer.status == 413 and answer.json()["error"] == "too_large"


# -- connections -----------------------------------------------------------------------------------------------------
def test_pipelined_requests_are_answered_in_order(server: Server, engine: policyengine.Engine) -> None:
    first = request("/v1/evaluate", {"order": SHIPPED_ACME, "user": ADMIN})
    second = request("/v1/evaluate?via=app", {"order": GLOBEX, "user": MEMBER})
    third = request("/v1/evaluate", {"order": GLOBEX, "user": ADMIN})
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(first + second + third)
        buffer = bytearray()
        answers = [read_response(sock, buffer) for _ in range(3)]
    assert [a.json() for a in answers] == [menu(engine, SHIPPED_ACME, ADMIN), menu(engine, GLOBEX, MEMBER),
                                           menu(engine, GLOBEX, ADMIN)]


@pytest.mark.parametrize(("version", "headers"), [("1.1", {"Connection": "close"}), ("1.0", {})])
def test_a_connection_that_ends_is_closed_after_the_answer(server: Server, version: str,
                                                           headers: dict[str, str]) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(request("/v1/evaluate", {"order": SHIPPED_ACME, "user": ADMIN}, headers=headers,
                             version=version))
        buffer = bytearray()
        answer = read_response(sock, buffer)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert sock.recv(1) == b"" and not buffer  # closed by the server, nothing more sent


def test_many_pipelined_requests_unread_until_all_are_sent(server: Server, engine: policyengine.Engine) -> None:
    # a client that sends everything before reading anything: answered in order, whichever way each request went
    pairs = [(SHIPPED_ACME, ADMIN), (GLOBEX, MEMBER), (GLOBEX, ADMIN)] * 100
    batch = {"pairs": [{"order": o, "user": u} for o, u in pairs[:30]]}
    raw = [request("/v1/evaluate", {"order": o, "user": u}) for o, u in pairs] + [request("/v1/evaluate/batch", batch)]
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"".join(raw))
        buffer = bytearray()
        answers = [read_response(sock, buffer) for _ in raw]
    assert [a.json() for a in answers[:-1]] == [menu(engine, o, u) for o, u in pairs]
    assert answers[-1].json() == {"results": [menu(engine, o, u) for o, u in pairs[:30]]}
    assert len({a.headers["x-request-id"] for a in answers}) == len(raw)
