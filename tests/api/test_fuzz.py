"""Property-based fuzzing: whatever a client sends, the answer is a 2xx or an OpenAI-shaped 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.doors.chat_parse import parse_chat
from gateway.errors import InvalidRequest
from tests import strategies
from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer, config_dict

json_values = strategies.json_values()
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=50)}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": st.text(max_size=30)})}),
    st.dictionaries(st.sampled_from(["type", "text", "image_url"]), json_values, max_size=3),
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer", "robot"]),
         "content": st.one_of(st.text(max_size=200), st.lists(parts, max_size=3), json_values)},
        optional={"tool_call_id": st.text(max_size=5), "name": json_values,
                  "tool_calls": json_values},
    ),
    max_size=4,
)
_OPTIONAL = ("stream", "stream_options", "temperature", "top_p", "n", "max_tokens", "tools",
             "tool_choice", "response_format", "stop", "seed", "logprobs", "user")
routing = st.fixed_dictionaries({}, optional={
    k: json_values | st.floats(-1, 10)
    for k in ("max_cost_usd", "min_quality", "max_latency_ms", "task", "profile", "prefer_local")
}) | json_values
bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-fake", "auto", "auto:cheap", "auto:best", "auto:local",
                               "auto:nope", "missing", ""]) | json_values,
     "messages": messages | json_values},
    optional={**{k: json_values for k in _OPTIONAL}, "routing": routing},
)


@given(st.binary(max_size=200) | json_values.map(orjson.dumps) | bodies.map(orjson.dumps))
@settings(max_examples=400, deadline=None)
def test_parser_accepts_or_names_the_problem(raw: bytes):
    try:
        request = parse_chat(raw)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.message
        return
    assert isinstance(request.body["messages"], list)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with FakeOpenAI() as fake:
        tree = config_dict(tmp / "gateway.db",
                           {"fake": {"kind": "openai", "base_url": fake.url, "api_key": "k"}},
                           openai_models())
        with GatewayServer(tree) as gw:
            yield gw


@given(body=bodies)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_endpoints_never_answer_5xx_to_bad_input(server: GatewayServer, body: dict):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for path in ("/v1/chat/completions", "/v1/route"):
            r = http.post(path, content=orjson.dumps(body),
                          headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, body, r.text)
            if r.status_code >= 400:
                error = r.json()["error"]
                assert error["message"] and error["type"]
