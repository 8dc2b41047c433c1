"""The decision service through a real HTTP client (httpx) against a real uvicorn server on loopback: every endpoint,
auth, limits, error shapes and the decision log (see also test_service_schema.py, test_service_cli.py and
test_live_reload.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import POLICIES
from service_support import ADMIN, AUTH, SHIPPED_ACME, TOKEN, Records, policy_copy, running

import policyengine
from policyengine.analysis.explain import explain
from policyengine.service.app import ROUTES, create_app

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def engine() -> policyengine.Engine:
    return policyengine.load(POLICIES)


@pytest.fixture(scope="module")
def records() -> Iterator[Records]:
    handler = Records(logging.getLogger(f"test.decisions.{uuid.uuid4().hex}"))
    yield handler
    handler.close()


@pytest.fixture(scope="module")
def url(records: Records) -> Iterator[str]:
    log = policyengine.DecisionLog(records.logger, mask=["user.*"], hash=["store.id"])
    with policyengine.LivePolicies(POLICIES, watch=False, decision_log=log) as live:
        with running(create_app(live, token=TOKEN, max_body=MAX_BODY)) as base:
            yield base


@pytest.fixture()
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        yield http


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error of ``response``, checked to have the status, code and field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code, body
    assert body["field"] == field, body
    assert body["message"]
    return body


def menu_of(decisions: policyengine.Decisions) -> list[tuple[str, str, str, list[str]]]:
    return [(d.action, d.label, d.state, list(d.reasons)) for d in decisions.values()]


def served(menu: dict[str, Any]) -> list[tuple[str, str, str, list[str]]]:
    return [(a["id"], a["label"], a["state"], [r["text"] for r in a["reasons"]]) for a in menu["actions"]]


# -- decisions --------------------------------------------------------------------------------------------------------
def test_evaluate_answers_the_engines_menu_in_order_with_reason_ids(client: httpx.Client,
                                                                     engine: policyengine.Engine) -> None:
    response = client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN})
    assert response.status_code == 200
    menu = response.json()
    expected = engine.evaluate(SHIPPED_ACME, ADMIN)
    assert (menu["policy"], menu["store_override"], menu["revision"]) == ("order-actions@1", "acme@1", engine.revision)
    assert served(menu) == menu_of(expected)
    delete = next(a for a in menu["actions"] if a["id"] == "delete")
    assert [r["id"] for r in delete["reasons"]] == ["delete.deny.sent-to-warehouse", "delete.deny.amazon-order"]
    assert delete["reasons"][0]["params"] == {"action": "delete", "guard": "sent-to-warehouse"}
    assert [r["id"] for r in delete["reasons"]] == list(expected["delete"].reason_ids)
    assert delete["confirm"] == expected["delete"].confirm and delete["destructive"] is True
    hidden = next(a for a in menu["actions"] if a["id"] == "revalidate")
    assert hidden["state"] == "hidden" and [r["id"] for r in hidden["reasons"]] == ["revalidate.visible"]
    archive = next(a for a in menu["actions"] if a["id"] == "archive")
    assert archive["effects"] == [e.to_dict() for e in expected["archive"].effects] and archive["effects"]
    assert set(menu["actions"][0]) == {"id", "label", "state", "reasons", "confirm", "destructive", "effects", "errors"}


def test_evaluate_as_a_store_and_failing_closed(client: httpx.Client, engine: policyengine.Engine) -> None:
    as_globex = {**SHIPPED_ACME, "store": {**SHIPPED_ACME["store"], "id": "globex"}}
    menu = client.post("/v1/evaluate", json={"order": as_globex, "user": ADMIN, "store": "globex"}).json()
    assert menu["store_override"] == "globex@2"
    assert served(menu) == menu_of(engine.evaluate(as_globex, ADMIN, store="globex"))
    # an acme order asked for as globex is not globex's to decide: every action hidden (issue 20)
    menu = client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN, "store": "globex"}).json()
    assert menu["store_override"] is None and served(menu) == menu_of(engine.evaluate(SHIPPED_ACME, ADMIN, store="globex"))
    assert {r["id"] for a in menu["actions"] for r in a["reasons"]} == {"store-mismatch"}
    order = {**SHIPPED_ACME, "has_shipment": "yes"}
    menu = client.post("/v1/evaluate", json={"order": order, "user": ADMIN}).json()
    assert {"fact": "order.has_shipment", "message": menu["errors"][0]["message"]} in menu["errors"]
    reset = next(a for a in menu["actions"] if a["id"] == "reset")
    message = menu["errors"][0]["message"]
    assert reset["state"] != "enabled" and {"id": "fact-problem", "text": f"could not be decided: order.has_shipment: {message}",
                                         "params": {"fact": "order.has_shipment", "message": message}} in reset["reasons"]


def test_strict_bad_fact_is_422_naming_the_field(client: httpx.Client) -> None:
    body = error(client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": {"role": "boss"}, "strict": True}),
                 422, "cannot_decide", "$.user.role")
    assert body["problems"][0]["fact"] == "user.role"
    pairs = [{"order": SHIPPED_ACME, "user": ADMIN}, {"order": {**SHIPPED_ACME, "store": {"id": 7}}, "user": ADMIN}]
    error(client.post("/v1/evaluate/batch", json={"pairs": pairs, "strict": True}), 422, "cannot_decide",
          "$.pairs[1].order.store.id")


def test_batch_is_one_menu_per_pair_in_input_order(client: httpx.Client, engine: policyengine.Engine) -> None:
    statuses = ["New", "Shipped", "Error", "Archived", "Open"]
    pairs = [({**SHIPPED_ACME, "status": s, "store": {"id": store, "manual_fulfillment": True}}, {"role": role})
             for s in statuses for store in ("acme", "globex", "other") for role in ("admin", "viewer")]
    response = client.post("/v1/evaluate/batch", json={"pairs": [{"order": o, "user": u} for o, u in pairs]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [served(m) for m in results] == [menu_of(engine.evaluate(o, u)) for o, u in pairs]
    assert [m["store_override"] for m in results] == [engine.evaluate(o, u).store_override for o, u in pairs]
    assert client.post("/v1/evaluate/batch", json={"pairs": []}).json() == {"results": []}


def test_bulk(client: httpx.Client, engine: policyengine.Engine) -> None:
    orders = [json.loads(line) for line in (Path(POLICIES).parent / "examples/bulk-orders.jsonl").read_text().splitlines()
              if line.strip()]
    response = client.post("/v1/bulk", json={"action": "reset", "orders": orders, "user": {"role": "member"}})
    assert response.status_code == 200
    assert response.json() == {**engine.bulk("reset", orders, {"role": "member"}).to_dict(), "revision": engine.revision}
    # with decisions: each order's decision for the action, as bulk(..., decisions=True).to_dict() gives it
    response = client.post("/v1/bulk", json={"action": "reprocess", "orders": orders, "user": {"role": "member"},
                                             "decisions": True})
    expected = engine.bulk("reprocess", orders, {"role": "member"}, decisions=True)
    assert response.json() == {**json.loads(json.dumps(expected.to_dict())), "revision": engine.revision}
    assert len(response.json()["decisions"]) == len(orders) and "decisions" not in client.post(
        "/v1/bulk", json={"action": "reset", "orders": orders, "user": ADMIN}).json()
    body = error(client.post("/v1/bulk", json={"action": "rest", "orders": orders, "user": ADMIN}), 422,
                 "unknown_action", "$.action")
    assert "did you mean 'reset'?" in body["message"]


def test_plan(client: httpx.Client, engine: policyengine.Engine) -> None:
    """The query plan of an action for a user, as Plan.to_dict() says, for every store and for one."""
    for body in ({"action": "reset", "user": {"role": "member"}},
                 {"action": "force_delete", "user": {"role": "viewer"}, "state": "hidden", "store": "acme"}):
        response = client.post("/v1/plan", json=body)
        assert response.status_code == 200
        expected = engine.plan(body["action"], body["user"], store=body.get("store"), state=body.get("state", "enabled"))
        assert response.json() == {**json.loads(json.dumps(expected.to_dict())), "revision": engine.revision}
    assert client.post("/v1/plan", json={"action": "force_delete", "user": ADMIN}).json()["kind"] != "never"
    body = error(client.post("/v1/plan", json={"action": "rest", "user": ADMIN}), 422, "unknown_action", "$.action")
    assert "did you mean 'reset'?" in body["message"]
    error(client.post("/v1/plan", json={"action": "reset", "user": ADMIN, "state": "gone"}), 422, "invalid_request",
          "$.state")


def test_explain(client: httpx.Client, engine: policyengine.Engine) -> None:
    body = {"order": SHIPPED_ACME, "user": ADMIN, "actions": ["delete"]}
    response = client.post("/v1/explain", json=body)
    assert response.status_code == 200
    expected = explain(engine, SHIPPED_ACME, ADMIN, actions=["delete"]).to_dict()
    assert response.json() == {**json.loads(json.dumps(expected)), "revision": engine.revision}
    error(client.post("/v1/explain", json={**body, "actions": ["delete", "nuke"]}), 422, "unknown_action",
          "$.actions[1]")


# -- what is loaded, health, metrics, the document -------------------------------------------------------------------
def test_policies_health_and_readiness(client: httpx.Client, engine: policyengine.Engine) -> None:
    data = client.get("/v1/policies").json()
    assert (data["ready"], data["policy"], data["revision"], data["versions"], data["latest"]) == (
        True, "order-actions", engine.revision, [1], 1)
    assert [a["id"] for a in data["actions"]] == list(engine.actions)
    assert data["stores"] == [{"store": "acme", "override": "acme@1", "runs_on": "order-actions@1"},
                              {"store": "globex", "override": "globex@2", "runs_on": "order-actions@1"}]
    status = data["status"]
    assert status["serving"]["ok"] and status["serving"]["revision"] == engine.revision and status["failed"] is None
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "revision": engine.revision, "failing": False}


def test_metrics(client: httpx.Client, engine: policyengine.Engine) -> None:
    client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN})
    client.post("/v1/evaluate", json={"order": 1, "user": ADMIN})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text

    def value(pattern: str) -> float:
        match = re.search("^" + pattern + r" ([0-9.e+]+)$", text, re.M)
        assert match, pattern
        return float(match.group(1))

    assert value(r'policyengine_http_requests_total\{method="POST",route="/v1/evaluate",status="200"\}') >= 1
    assert value(r'policyengine_http_requests_total\{method="POST",route="/v1/evaluate",status="422"\}') >= 1
    assert value(r'policyengine_http_request_duration_seconds_count\{route="/v1/evaluate"\}') >= 2
    assert value(r'policyengine_decisions_total\{action="delete",state="disabled"\}') >= 1
    assert value(r'policyengine_reloads_total\{result="ok"\}') == 1
    assert value(r'policyengine_reloads_total\{result="failed"\}') == 0
    assert value(r"policyengine_ready") == 1
    assert value(rf'policyengine_policy_info\{{policy="order-actions",revision="{engine.revision}",version="1"\}}') == 1


def test_openapi_document_lists_every_route(url: str) -> None:
    response = httpx.get(f"{url}/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    routes = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert routes == {(r.path, r.method) for r in ROUTES}
    evaluate = document["paths"]["/v1/evaluate"]["post"]
    assert {"200", "400", "401", "413", "422", "503"} <= set(evaluate["responses"])
    assert evaluate["security"] == [{"bearer": []}]
    assert document["paths"]["/healthz"]["get"]["security"] == []


# -- auth --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"},
                                     {"Authorization": f"Bearer {TOKEN[:-1]}"}])
def test_a_token_is_required(url: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=url, headers=headers) as anonymous:
        for method, path in [("POST", "/v1/evaluate"), ("POST", "/v1/evaluate/batch"), ("POST", "/v1/bulk"),
                             ("POST", "/v1/explain"), ("GET", "/v1/policies"), ("GET", "/metrics")]:
            response = anonymous.request(method, path, json={"order": SHIPPED_ACME, "user": ADMIN})
            error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith("Bearer")
        for path in ("/healthz", "/readyz", "/openapi.json"):  # probes and the public contract
            assert anonymous.get(path).status_code == 200


# -- bad requests -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "code", "field"), [
    (b"", 400, "invalid_json", None),
    (b"{", 400, "invalid_json", None),
    (b'{"order": {}, "user": {}} trailing', 400, "invalid_json", None),
    (b'{"order": {"total": NaN}, "user": {}}', 400, "invalid_json", None),
    (b'{"order": {"total": 1e999}, "user": {}}', 400, "invalid_json", None),
    (b'{"order": {"id": ' + b"9" * 5000 + b'}, "user": {}}', 400, "invalid_json", None),
    (b"\xff\xfe{}", 400, "invalid_json", None),
    (b"[" * 50_000, 400, "invalid_json", None),
    (b"[]", 422, "invalid_request", "$"),
    (b"{}", 422, "invalid_request", "$.order"),
    (b'{"order": {}}', 422, "invalid_request", "$.user"),
    (b'{"order": [], "user": {}}', 422, "invalid_request", "$.order"),
    (b'{"order": {}, "user": {}, "strict": "yes"}', 422, "invalid_request", "$.strict"),
    (b'{"order": {}, "user": {}, "store": 5}', 422, "invalid_request", "$.store"),
    (b'{"order": {}, "user": {}, "stor": "acme"}', 422, "invalid_request", "$.stor"),
])
def test_bad_bodies_get_a_json_error_naming_the_field(client: httpx.Client, body: bytes, status: int, code: str,
                                                       field: str | None) -> None:
    error(client.post("/v1/evaluate", content=body), status, code, field)


def test_error_messages_say_what_is_wrong(client: httpx.Client) -> None:
    body = error(client.post("/v1/evaluate", json={"order": {}, "stor": "acme"}), 422, "invalid_request", "$.user")
    assert body["message"] == "$.user: missing required field 'user'"
    assert {"field": "$.stor", "message": "unknown field 'stor'; did you mean 'store'?"} in body["details"]
    body = error(client.post("/v1/evaluate/batch", json={"pairs": [{"order": {}, "user": []}]}), 422,
                 "invalid_request", "$.pairs[0].user")
    assert body["message"] == "$.pairs[0].user: must be object, got an array"


def test_body_size_limit(client: httpx.Client) -> None:
    big = {"order": {"note": "x" * MAX_BODY}, "user": ADMIN}
    error(client.post("/v1/evaluate", json=big), 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"order": {"note": "'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"x" * 1024
        yield b'"}, "user": {}}'

    error(client.post("/v1/evaluate", content=chunks()), 413, "too_large")
    assert client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}).status_code == 200


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    error(client.get("/v1/nope"), 404, "not_found")
    error(client.get("/v1/evaluate"), 405, "method_not_allowed")
    error(client.delete("/v1/policies"), 405, "method_not_allowed")
    head = client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


def test_request_ids(client: httpx.Client) -> None:
    response = client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN},
                           headers={"X-Request-Id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    response = client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN},
                           headers={"X-Request-Id": "bad id\twith spaces"})
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])


# -- decision logs -------------------------------------------------------------------------------------------------------
def test_one_complete_masked_record_per_decision_request(client: httpx.Client, records: Records,
                                                         engine: policyengine.Engine) -> None:
    records.records.clear()
    ids = [f"log-{i}" for i in range(5)]
    for request_id in ids:
        client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}, headers={"X-Request-Id": request_id})
    as_globex = {**SHIPPED_ACME, "store": {**SHIPPED_ACME["store"], "id": "globex"}}
    client.post("/v1/evaluate/batch", json={"pairs": [{"order": as_globex, "user": ADMIN}] * 3, "store": "globex"},
                headers={"X-Request-Id": "batch-1"})
    client.post("/v1/evaluate", json={"order": {}}, headers={"X-Request-Id": "refused"})  # not a decision: no record
    client.get("/v1/policies")
    assert [r["request_id"] for r in records.records] == [*ids, "batch-1"]
    record = records.records[0]
    assert set(record) == {"time", "request_id", "kind", "policy", "revision", "store", "latency_ms", "decisions"}
    assert (record["kind"], record["policy"], record["revision"], record["store"]) == (
        "evaluate", "order-actions", engine.revision, None)
    assert record["latency_ms"] >= 0 and re.match(r"\d{4}-\d\d-\d\dT", record["time"])
    [decision] = record["decisions"]
    assert (decision["policy"], decision["store_override"], decision["errors"]) == ("order-actions@1", "acme@1", [])
    store_hash = "sha256:" + hashlib.sha256(b'"acme"').hexdigest()
    assert decision["facts"] == {"order.status": "Shipped", "order.has_shipment": True, "order.sent_to_warehouse": True,
                                 "order.channel": "amazon", "store.id": store_hash, "store.manual_fulfillment": False,
                                 "user.role": "[masked]"}
    expected = engine.evaluate(SHIPPED_ACME, ADMIN)
    assert [(a["id"], a["state"]) for a in decision["actions"]] == [(d.action, d.state) for d in expected.values()]
    assert next(a for a in decision["actions"] if a["id"] == "delete")["reasons"] == ["delete.deny.sent-to-warehouse",
                                                                                          "delete.deny.amazon-order"]
    batch = records.records[-1]
    assert (batch["kind"], batch["store"], len(batch["decisions"])) == ("batch", "globex", 3)
    assert {d["store_override"] for d in batch["decisions"]} == {"globex@2"}
    assert "admin" not in json.dumps(records.records)  # masked everywhere


def test_bulk_and_explain_are_logged(client: httpx.Client, records: Records) -> None:
    records.records.clear()
    client.post("/v1/bulk", json={"action": "reset", "orders": [SHIPPED_ACME, {"status": "New"}], "user": ADMIN})
    client.post("/v1/explain", json={"order": SHIPPED_ACME, "user": ADMIN})
    bulk, explained = records.records
    assert (bulk["kind"], bulk["action"], len(bulk["decisions"])) == ("bulk", "reset", 2)
    assert all([a["id"] for a in d["actions"]] == ["reset"] for d in bulk["decisions"])
    assert bulk["decisions"][1]["actions"][0]["reasons"] == ["store-undecided"]
    assert explained["kind"] == "explain" and len(explained["decisions"][0]["actions"]) == 8


def test_not_ready_until_a_set_loads(tmp_path: Path) -> None:
    broken = policy_copy(tmp_path)
    good = (broken / "order-actions.yaml").read_text()
    (broken / "order-actions.yaml").write_text(good.replace("label: Reset", "label: [Reset"))
    with policyengine.LivePolicies(broken, watch=False, wait=False) as live:
        with running(create_app(live)) as base, httpx.Client(base_url=base) as client:
            while live.status.last is None:
                live.wait_ready(0.05)
            assert client.get("/readyz").status_code == 503
            assert client.get("/readyz").json() == {"ready": False, "revision": None, "failing": True}
            response = client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN})
            error(response, 503, "not_ready")
            assert response.headers["retry-after"]
            data = client.get("/v1/policies").json()
            assert data["ready"] is False and data["policy"] is None
            [diagnostic] = data["status"]["failed"]["diagnostics"]
            assert diagnostic["file"].endswith("order-actions.yaml") and diagnostic["line"] > 1
            assert client.get("/healthz").status_code == 200  # alive, just not ready
            (broken / "order-actions.yaml").write_text(good)
            assert live.wait_ready(30)
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/evaluate", json={"order": SHIPPED_ACME, "user": ADMIN}).status_code == 200


def test_an_unknown_store_is_warned_about_once(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 25: a store id that matches no override gets the base policy; the service says so in its log, once per
    id (the answer itself is the base's, as for a store without an override)."""
    caplog.set_level(logging.WARNING, logger="policyengine.service")
    order = {**SHIPPED_ACME, "store": {**SHIPPED_ACME["store"], "id": "acmee"}}
    for _ in range(2):
        answer = client.post("/v1/evaluate", json={"order": order, "user": ADMIN})
        assert answer.status_code == 200 and answer.json()["store_override"] is None
    for known in (SHIPPED_ACME, {k: v for k, v in SHIPPED_ACME.items() if k != "store"}):
        assert client.post("/v1/evaluate", json={"order": known, "user": ADMIN}).status_code == 200
    warned = [r.getMessage() for r in caplog.records if r.name == "policyengine.service"]
    assert warned == ["store 'acmee' has no store override: the base policy decides its orders (did you mean 'acme'?)"]
