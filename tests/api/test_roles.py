"""Keys and roles, driven by the one route table (`gateway.api.ENDPOINTS`): every endpoint with
every kind of caller (no key, a client key, an admin key, a plain-string key), the table against
what the app really mounts, a client's own traffic only, and the log keeping names, not keys."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from gateway.api import ENDPOINTS, WS, Endpoint
from gateway.api.auth import ADMIN, CLIENT
from tests.gateway_server import GatewayServer, config_dict

SIM = {"sim": {"kind": "simulated", "simulate": {"latency_ms": 0, "tokens_per_s": 1_000_000}}}
MODELS = [{"id": "sim-a", "provider": "sim", "input_usd_per_mtok": 1, "output_usd_per_mtok": 4}]
KEYS = {"api_keys": [{"name": "ops", "key": "sk-ops-secret", "role": "admin"},
                     {"name": "team", "key": "sk-team-secret", "role": "client"},
                     {"name": "other", "key": "sk-other-secret", "role": "client"},
                     "sk-plain-secret"]}  # a plain string: an admin key named key3
CALLERS = {"no key": None, "client": "sk-team-secret", "admin": "sk-ops-secret",
           "plain string": "sk-plain-secret"}
CHAT = {"model": "sim-a", "messages": [{"role": "user", "content": "hi"}]}
# One request per endpoint of the table: (the path with its parameters filled, the JSON body).
# A row added to the table without one here fails `test_every_endpoint_has_a_request`.
SAMPLES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "/v1/chat/completions": ("/v1/chat/completions", CHAT),
    "/chat/completions": ("/chat/completions", CHAT),
    "/v1/messages": ("/v1/messages", {**CHAT, "max_tokens": 16}),
    "/v1/messages/count_tokens": ("/v1/messages/count_tokens", CHAT),
    "/v1/responses": ("/v1/responses", {"model": "sim-a", "input": "hi"}),
    "/v1/embeddings": ("/v1/embeddings", {"model": "sim-a", "input": "hi"}),
    "/v1/models": ("/v1/models", None),
    "/v1/models/{model:path}": ("/v1/models/sim-a", None),
    "/v1/route": ("/v1/route", CHAT),
    "/v1/route/batch": ("/v1/route/batch", {"requests": [CHAT]}),
    "/v1/feedback": ("/v1/feedback", {"request_id": "req_unknown", "outcome": "success"}),
    "/v1/responses/{response_id}": ("/v1/responses/resp_unknown", None),
    "/v1/responses/{response_id}/input_items": ("/v1/responses/resp_unknown/input_items", None),
    "/health": ("/health", None),
    "/metrics": ("/metrics", None),
    "/admin/usage": ("/admin/usage", None),
    "/admin/requests": ("/admin/requests", None),
    "/admin/budget": ("/admin/budget", None),
    "/admin/experiments": ("/admin/experiments", None),
    "/admin/series": ("/admin/series", None),
    "/admin/latency": ("/admin/latency", None),
    "/admin/routing": ("/admin/routing", None),
    "/admin/circuits": ("/admin/circuits", None),
    "/admin/circuits/{name:path}/reset": ("/admin/circuits/sim/reset", None),
    "/ws/routing": ("/ws/routing", None),
    "/dashboard": ("/dashboard", None),
}


def expected(role: str | None, caller: str) -> int | None:
    """The status a caller gets from an endpoint needing `role` (None: let through)."""
    if role is None:
        return None
    if caller == "no key":
        return 401
    if role == ADMIN and caller == "client":
        return 403
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tree = config_dict(tmp_path_factory.mktemp("roles") / "gateway.db", SIM, MODELS, auth=KEYS)
    with GatewayServer(tree) as gateway:
        yield gateway


def call(server: GatewayServer, e: Endpoint, key: str | None) -> tuple[int, dict[str, Any]]:
    """(status, error body or {}) of one request to the endpoint."""
    path, body = SAMPLES[e.path]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if e.method == WS:
        try:
            with connect(f"ws://127.0.0.1:{server.port}{path}", additional_headers=headers,
                         open_timeout=10):
                return 101, {}
        except InvalidStatus as exc:
            return exc.response.status_code, orjson.loads(exc.response.body)
    with server.http() as http:
        r = http.request(e.method, path, json=body, headers=headers)
    is_json = r.headers.get("content-type", "").startswith("application/json")
    return r.status_code, (r.json() if is_json and r.status_code >= 400 else {})


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_each_endpoint_takes_the_keys_its_role_allows(server: GatewayServer, endpoint: Endpoint,
                                                       caller: str) -> None:
    status, body = call(server, endpoint, CALLERS[caller])
    want = expected(endpoint.role, caller)
    if want is None:
        assert status not in (401, 403), (status, body)
        assert status < 500, (status, body)
    else:
        assert status == want, (status, body)
        error = body.get("error", {})
        assert error.get("code") in (("permission_denied",) if want == 403 else
                                     ("invalid_api_key", None)), body
        if want == 403:
            assert "needs an admin key" in error["message"]


def test_every_endpoint_has_a_request() -> None:
    assert {e.path for e in ENDPOINTS} == set(SAMPLES)


def test_the_app_mounts_exactly_the_table(server: GatewayServer) -> None:
    """No endpoint exists outside the table (where it could skip the role check)."""
    from starlette.routing import Mount, Route, WebSocketRoute

    mounted, mounts = set(), []
    for route in server.app.routes:
        if isinstance(route, WebSocketRoute):
            mounted.add((WS, route.path))
        elif isinstance(route, Route):
            mounted |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            mounts.append(route.path)
    assert mounted == {(e.method, e.path) for e in ENDPOINTS}
    assert mounts == ["/dashboard/static"]  # the page's assets: files, no data
    assert {e.role for e in ENDPOINTS if e.path.startswith("/admin/")} == {ADMIN}
    assert {e.role for e in ENDPOINTS if e.path.startswith("/v1/")} == {CLIENT}


def test_a_client_key_rates_only_its_own_requests(server: GatewayServer) -> None:
    raw = server.client("sk-team-secret").chat.completions.with_raw_response.create(**CHAT)
    rid = raw.headers["x-request-id"]

    def feedback(key: str, request_id: str) -> httpx.Response:
        with server.http() as http:
            return http.post("/v1/feedback", json={"request_id": request_id, "score": 0.1},
                             headers={"Authorization": f"Bearer {key}"})

    theirs, unknown = feedback("sk-other-secret", rid), feedback("sk-other-secret", "req_nope")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"] == {**unknown.json()["error"],
                                      "message": f"No request with id {rid!r}."}
    for key in ("sk-team-secret", "sk-ops-secret", "sk-plain-secret"):  # its own; the admins
        assert feedback(key, rid).status_code == 200


def test_the_log_keeps_key_names_never_keys(tmp_path: Path) -> None:
    tree = config_dict(tmp_path / "gateway.db", SIM, MODELS, auth=KEYS)
    with GatewayServer(tree) as gateway:
        for key in ("sk-team-secret", "sk-plain-secret"):
            gateway.client(key).chat.completions.create(**CHAT)
        with gateway.http() as http:
            assert http.get("/admin/requests", headers={
                "Authorization": "Bearer sk-plain-secret"}).status_code == 200
            http.post("/v1/chat/completions", json=CHAT,
                      headers={"Authorization": "Bearer sk-wrong-secret"})
    with sqlite3.connect(tmp_path / "gateway.db") as con:
        names = sorted(str(k) for (k,) in con.execute("SELECT api_key FROM requests"))
    assert names == ["None", "key3", "team"]
    for path in tmp_path.glob("gateway.db*"):
        data = path.read_bytes()
        assert b"-secret" not in data, path
