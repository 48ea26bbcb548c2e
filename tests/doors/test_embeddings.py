"""The embeddings door and the adapters' `embed`, through the official `openai` SDK over HTTP:
the OpenAI-compatible adapter and the litellm adapter, both on the fake OpenAI server."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from gateway.doors.embeddings import parse_embeddings
from gateway.errors import InvalidRequest
from tests.doors.harness import MODEL, DoorServer
from tests.fakes.openai_server import FakeOpenAI, vector
from tests.fakes.server import Reply
from tests.spec import validate

PROVIDERS = {
    "openai": lambda url: {"kind": "openai", "base_url": url, "api_key": "sk-up"},
    "litellm": lambda url: {"kind": "litellm", "litellm_provider": "openai", "base_url": url,
                            "api_key": "sk-up"},
}


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def door(request: pytest.FixtureRequest, fake: FakeOpenAI) -> Iterator[DoorServer]:
    with DoorServer(PROVIDERS[request.param](fake.url)) as server:
        yield server


@pytest.fixture
def client(door: DoorServer, fake: FakeOpenAI) -> openai.OpenAI:
    fake.queue.clear()
    return openai.OpenAI(base_url=door.url + "/v1", api_key="k", max_retries=0)


def test_float_vectors_and_usage(client: openai.OpenAI, door: DoorServer,
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
    assert door.usages[-1].prompt_tokens == 9


def test_sdk_default_base64_is_decoded(client: openai.OpenAI) -> None:
    """The SDK asks for base64 when the caller names no format, and decodes it itself."""
    result = client.embeddings.create(model=MODEL, input="hello")
    assert result.data[0].embedding == vector("hello", 8)


def test_token_inputs(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    result = client.embeddings.create(model=MODEL, input=[[1, 2, 3], [4, 5]],
                                      encoding_format="float")
    assert [d.embedding for d in result.data] == [vector([1, 2, 3], 8), vector([4, 5], 8)]
    assert fake.requests[-1]["input"] == [[1, 2, 3], [4, 5]]


def test_auto_is_a_400_naming_model(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    hits = fake.hits
    for name in ("auto", "auto:cheap"):
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model=name, input="x")
        assert info.value.body["param"] == "model"  # type: ignore[index]
    assert fake.hits == hits


def test_upstream_failure(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=500))
    with pytest.raises(openai.APIStatusError) as info:
        client.embeddings.create(model=MODEL, input="x")
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"


def test_openai_compat_passes_the_vectors_bytes_through(fake: FakeOpenAI) -> None:
    """The upstream's own number formatting reaches the client (vectors are not re-encoded)."""
    raw = (b'{"object":"list","data":[{"object":"embedding","index":0,'
           b'"embedding":[0.10000000149011612,-2.5e-05]}],"model":"up-model",'
           b'"usage":{"prompt_tokens":2,"total_tokens":2}}')
    fake.enqueue(Reply(raw=raw))
    with DoorServer(PROVIDERS["openai"](fake.url)) as door:
        client = openai.OpenAI(base_url=door.url + "/v1", api_key="k", max_retries=0)
        got = client.embeddings.with_raw_response.create(model=MODEL, input="x",
                                                         encoding_format="float")
    assert got.content == raw.replace(b'"up-model"', f'"{MODEL}"'.encode())


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
