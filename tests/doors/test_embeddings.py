"""The embeddings door and the adapters' `embed`, through the official `openai` SDK and the real
gateway: the OpenAI-compatible adapter and the litellm adapter, both on the fake OpenAI server;
each request logged and priced on its input tokens."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from gateway.doors.embeddings import parse_embeddings
from gateway.errors import InvalidRequest
from tests.doors.conftest import KEY_A, MODEL, cost, openai_model, start
from tests.fakes.openai_server import FakeOpenAI, vector
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged
from tests.spec import validate

PROVIDERS = {
    "openai": lambda url: {"kind": "openai", "base_url": url, "api_key": "sk-up"},
    "litellm": lambda url: {"kind": "litellm", "litellm_provider": "openai", "base_url": url,
                            "api_key": "sk-up"},
}
PRICE = {"input_usd_per_mtok": 0.13, "output_usd_per_mtok": 0}


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def server(request: pytest.FixtureRequest, fake: FakeOpenAI,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    gw = start(tmp_path_factory.mktemp(request.param), {"up": PROVIDERS[request.param](fake.url)},
               [{"id": MODEL, "provider": "up", "upstream": "fake-model", **PRICE,
                 "capabilities": ["embeddings"]},
                openai_model("chat-only")])
    yield gw
    gw.__exit__(None, None, None)


@pytest.fixture
def client(server: GatewayServer) -> openai.OpenAI:
    return server.client(KEY_A)


def test_float_vectors_usage_and_cost(client: openai.OpenAI, server: GatewayServer,
                                      fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(prompt_tokens=9))
    raw = client.embeddings.with_raw_response.create(
        model=MODEL, input=["first text", "second text"], encoding_format="float",
        dimensions=4, user="u-1")
    body = orjson.loads(raw.content)
    validate("CreateEmbeddingResponse", body, strict=True)
    result = raw.parse()
    assert result.model == MODEL
    assert [d.embedding for d in result.data] == [vector("first text", 4),
                                                  vector("second text", 4)]
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (9, 9)
    sent = fake.requests[-1]
    assert sent["model"] == "fake-model" and sent["input"] == ["first text", "second text"]
    assert sent["dimensions"] == 4 and sent["user"] == "u-1"
    assert float(raw.headers["x-gateway-cost-usd"]) == cost(9, 0, price=PRICE)
    row = logged(server, raw.headers["x-request-id"])
    assert (row["endpoint"], row["model"], row["status"], row["api_key"]) == (
        "embeddings", MODEL, "success", "team-a")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (9, 0)
    assert row["cost_usd"] == cost(9, 0, price=PRICE) > 0


def test_sdk_default_base64_is_decoded(client: openai.OpenAI) -> None:
    """The SDK asks for base64 when the caller names no format, and decodes it itself."""
    result = client.embeddings.create(model=MODEL, input="hello")
    assert result.data[0].embedding == vector("hello", 8)


def test_token_inputs(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    result = client.embeddings.create(model=MODEL, input=[[1, 2, 3], [4, 5]],
                                      encoding_format="float")
    assert [d.embedding for d in result.data] == [vector([1, 2, 3], 8), vector([4, 5], 8)]
    assert fake.requests[-1]["input"] == [[1, 2, 3], [4, 5]]


def test_auto_is_a_400_naming_model(client: openai.OpenAI, server: GatewayServer,
                                    fake: FakeOpenAI) -> None:
    hits = fake.hits
    for name in ("auto", "auto:cheap"):
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model=name, input="x")
        assert info.value.body["param"] == "model"  # type: ignore[index]
        assert name in info.value.body["message"]  # type: ignore[index]
        row = logged(server, info.value.response.headers["x-request-id"])
        assert (row["endpoint"], row["http_status"]) == ("embeddings", 400)
    assert fake.hits == hits


def test_chat_auto_never_picks_the_embeddings_model(client: openai.OpenAI,
                                                    server: GatewayServer) -> None:
    # the embeddings model is by far the cheapest: auto:cheap would take it if it could
    for name in ("auto", "auto:cheap"):
        raw = client.chat.completions.with_raw_response.create(
            model=name, messages=[{"role": "user", "content": "hi"}])
        assert raw.headers["x-gateway-model"] == "chat-only"
    decision = httpx.post(server.url + "/v1/route", headers={"authorization": f"Bearer {KEY_A}"},
                          json={"model": "auto:cheap",
                                "messages": [{"role": "user", "content": "hi"}]}).json()
    assert MODEL not in [c["model"] for c in decision["candidates"]]


def test_a_model_without_the_capability_is_a_400(client: openai.OpenAI, server: GatewayServer,
                                                 fake: FakeOpenAI) -> None:
    hits = fake.hits
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="chat-only", input="x")
    body: Any = info.value.body
    assert body["param"] == "model" and "embeddings capability" in body["message"]
    assert fake.hits == hits
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="no-such-model", input="x")
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_upstream_failure(server: GatewayServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=500), Reply(status=500))
    with pytest.raises(openai.APIStatusError) as info:
        server.client(KEY_A, max_retries=2).embeddings.create(model=MODEL, input="x")
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    row = logged(server, info.value.response.headers["x-request-id"])
    assert (row["status"], row["attempts"]) == ("error", 2)  # no more: the SDK did not retry


def test_the_vectors_bytes_pass_through(server: GatewayServer, client: openai.OpenAI,
                                        fake: FakeOpenAI) -> None:
    """The upstream's own number formatting reaches the client (vectors are not re-encoded)
    on the OpenAI-compatible adapter; litellm parses and re-encodes them, equal in value."""
    raw = (b'{"object":"list","data":[{"object":"embedding","index":0,'
           b'"embedding":[0.10000000149011612,-2.5e-05]}],"model":"up-model",'
           b'"usage":{"prompt_tokens":2,"total_tokens":2}}')
    fake.enqueue(Reply(raw=raw))
    got = client.embeddings.with_raw_response.create(model=MODEL, input="x",
                                                     encoding_format="float")
    expected = raw.replace(b'"up-model"', f'"{MODEL}"'.encode())
    if server.config.providers["up"].kind == "openai":
        assert got.content == expected
    assert orjson.loads(got.content)["data"] == orjson.loads(expected)["data"]


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": ""}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": ["a", ""]}, "input"),
    ({"model": "m", "input": [[1], "a"]}, "input"),
    ({"model": "m", "input": [-1]}, "input"),
    ({"model": "m", "input": ["a"] * 2049}, "input"),
    ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "m", "input": "x", "user": 5}, "user"),
])
def test_parse_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_embeddings(orjson.dumps(body), {})
    assert info.value.param == param


def test_parse_counts_inputs_and_keeps_the_body() -> None:
    req = parse_embeddings(orjson.dumps({"model": "m", "input": ["a", "b"], "routing": {}}), {})
    assert (req.inputs, req.endpoint, req.stream) == (2, "embeddings", False)
    assert req.body == {"model": "m", "input": ["a", "b"]}
    assert parse_embeddings(b'{"model": "m", "input": [1, 2]}', {}).inputs == 1


def test_base64_is_float32_little_endian() -> None:
    """What the fake sends for base64 is what OpenAI sends: packed float32, little-endian."""
    values = vector("v", 4)
    packed = base64.b64encode(struct.pack("<4f", *values)).decode()
    assert struct.unpack("<4f", base64.b64decode(packed)) == tuple(values)
