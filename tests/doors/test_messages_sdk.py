"""The Messages door through the official `anthropic` SDK and the real gateway, on an
OpenAI-compatible upstream (the fake): text, system, images, tools, streams, usage, auth,
errors and count_tokens, each request's log row checked."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.doors.conftest import ADMIN_KEY, KEY_A, MODEL, cost
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
CALL = {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris", "days": [1, 2]}'}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(server: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=KEY_A, max_retries=0)


def upstream(fake: FakeOpenAI) -> dict[str, Any]:
    return fake.requests[-1]


def raw_stream(server: GatewayServer, body: dict[str, Any], path: str = "/v1/messages",
               **headers: str) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    """A Messages stream's headers and events, each `event:` line checked against its data."""
    with httpx.stream("POST", server.url + path, json=body, timeout=10,
                      headers={"x-api-key": KEY_A, **headers}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    events = []
    for frame in raw.split(b"\n\n"):
        if not frame:
            continue
        name, data = frame.split(b"\n")
        event = orjson.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        events.append(event)
    return r.headers, events


def test_text_with_system_blocks(client: anthropic.Anthropic, server: GatewayServer,
                                 fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Bonjour.", prompt_tokens=30, completion_tokens=4))
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=50, stop_sequences=["END"], metadata={"user_id": "u-1"},
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French."}],
        messages=[{"role": "user", "content": "Hello"}],
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (30, 4)
    sent = upstream(fake)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief.\n\nAnswer in French."},
        {"role": "user", "content": "Hello"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (50, 0.2, 0.9)
    assert sent["stop"] == ["END"] and sent["user"] == "u-1"
    assert "top_k" not in sent and "metadata" not in sent and sent["model"] == "fake-model"
    assert raw.headers["x-gateway-model"] == MODEL and raw.headers["x-gateway-attempts"] == "1"
    assert float(raw.headers["x-gateway-cost-usd"]) == cost(30, 4)
    row = logged(server, raw.headers["x-request-id"])
    assert (row["endpoint"], row["requested_model"], row["model"], row["status"]) == (
        "messages", "auto", MODEL, "success")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (30, 4, cost(30, 4))
    assert row["api_key"] == "team-a" and row["stream"] == 0 and row["task"]


def test_profiles_route(client: anthropic.Anthropic, server: GatewayServer) -> None:
    raw = client.messages.with_raw_response.create(model="auto:cheap", max_tokens=20,
                                                   messages=HI)
    assert raw.parse().model == MODEL
    row = logged(server, raw.headers["x-request-id"])
    assert (row["profile"], row["model"]) == ("cheap", MODEL)
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="auto:nope", max_tokens=20, messages=HI)
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_images_base64_and_url(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    client.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]}])
    assert upstream(fake)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]


def test_tool_loop(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[CALL]))
    first = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert first.stop_reason == "tool_use"
    (use,) = first.content
    assert use.type == "tool_use" and use.id == "call_w1" and use.name == "get_weather"
    assert use.input == {"city": "Paris", "days": [1, 2]}
    sent = upstream(fake)
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER["input_schema"],
        "description": "Weather for a city"}}]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False

    fake.enqueue(Reply(content="Sunny."))
    second = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
                                    messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id, "content": [
                {"type": "text", "text": "18C, sunny"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}}]},
            {"type": "text", "text": "Summarise."}]},
    ])
    assert second.content[0].text == "Sunny."  # type: ignore[union-attr]
    messages = upstream(fake)["messages"]
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_w1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city":"Paris","days":[1,2]}'}}]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "18C, sunny"}
    assert messages[3]["role"] == "user"
    assert [p["type"] for p in messages[3]["content"]] == ["text", "image_url", "text"]


def test_stream_text_event_sequence(server: GatewayServer, fake: FakeOpenAI) -> None:
    """The exact event order Anthropic documents, each `event:` line naming its data's type."""
    fake.enqueue(Reply(content="one two three", prompt_tokens=40, completion_tokens=3,
                       cached_tokens=10))
    body = {"model": MODEL, "max_tokens": 20, "stream": True,
            "messages": [{"role": "user", "content": "count"}]}
    headers, events = raw_stream(server, body)
    assert [e["type"] for e in events] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop"]
    assert events[0]["message"]["usage"]["input_tokens"] > 0  # the estimate
    assert events[0]["message"]["model"] == MODEL
    assert "".join(e["delta"]["text"] for e in events[3:6]) == "one two three"
    assert events[7]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[7]["usage"] == {"input_tokens": 30, "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 10, "output_tokens": 3}
    assert headers["x-gateway-model"] == MODEL
    row = logged(server, headers["x-request-id"])
    assert (row["endpoint"], row["stream"], row["status"]) == ("messages", 1, "success")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 3)
    assert row["cost_usd"] == cost(40, 3, cached=10) and row["ttft_ms"] is not None


def test_stream_through_the_sdk_accumulator(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello there", prompt_tokens=25, completion_tokens=2))
    with client.messages.stream(model=MODEL, max_tokens=20, messages=HI) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Hello there" == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.model == MODEL
    # message_delta's counts replace message_start's estimate
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 2)


def test_streamed_tool_calls(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    second = {"id": "call_w2", "name": "get_weather", "arguments": '{"city": "Lyon"}'}
    fake.enqueue(Reply(tool_calls=[CALL, second]))
    with client.messages.stream(model=MODEL, max_tokens=50, tools=[WEATHER],  # type: ignore[list-item]
                                messages=[{"role": "user", "content": "both"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.id, b.input) for b in final.content] == [  # type: ignore[union-attr]
        ("tool_use", "call_w1", {"city": "Paris", "days": [1, 2]}),
        ("tool_use", "call_w2", {"city": "Lyon"})]


def test_claude_code_tool_turns(server: GatewayServer, client: anthropic.Anthropic,
                                fake: FakeOpenAI) -> None:
    """A Claude Code loop, streamed (to `?beta=true`, as it posts): the tool_use block opens
    with an empty input that input_json_delta fragments fill, message_start carries usage and
    the final message_delta the upstream's counts; the tool_result turn goes back, with its
    beta header, as a tool message."""
    bash = {"name": "Bash", "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}
    fake.enqueue(Reply(tool_calls=[{"id": "call_b1", "name": "Bash",
                                    "arguments": '{"command": "ls -la /tmp"}'}],
                       prompt_tokens=120, completion_tokens=15))
    beta = {"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
    body = {"model": "auto", "max_tokens": 4096, "stream": True, "tools": [bash],
            "system": [{"type": "text", "text": "You are Claude Code.",
                        "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "list /tmp"}]}
    headers, events = raw_stream(server, body, path="/v1/messages?beta=true", **beta)
    start = events[0]["message"]
    assert start["usage"]["input_tokens"] > 0 and start["content"] == []
    (block,) = [e for e in events if e["type"] == "content_block_start"]
    assert block["content_block"] == {"type": "tool_use", "id": "call_b1", "name": "Bash",
                                      "input": {}}
    fragments = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert {f["type"] for f in fragments} == {"input_json_delta"} and len(fragments) > 1
    assert orjson.loads("".join(f["partial_json"] for f in fragments)) == {
        "command": "ls -la /tmp"}
    delta = events[-2]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (120, 15)
    assert logged(server, headers["x-request-id"])["task"] == "tool_use"

    fake.enqueue(Reply(content="Two files.", prompt_tokens=150, completion_tokens=3))
    with client.messages.stream(
            model="auto", max_tokens=4096, tools=[bash], extra_headers=beta,  # type: ignore[list-item]
            messages=[{"role": "user", "content": "list /tmp"},
                      {"role": "assistant", "content": [{"type": "tool_use", "id": "call_b1",
                                                         "name": "Bash",
                                                         "input": {"command": "ls -la /tmp"}}]},
                      {"role": "user", "content": [
                          {"type": "tool_result", "tool_use_id": "call_b1",
                           "content": "a.txt\nb.txt", "cache_control": {"type": "ephemeral"}}]}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Two files." and final.usage.input_tokens == 150  # type: ignore[union-attr]
    assert upstream(fake)["messages"][-1] == {"role": "tool", "tool_call_id": "call_b1",
                                              "content": "a.txt\nb.txt"}


def test_text_then_tool_use(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    """What a model says before its tool call is a text block of its own, before the
    tool_use block, streamed or not."""
    for _ in range(2):
        fake.enqueue(Reply(preamble="Let me check.", tool_calls=[CALL]))
    message = client.messages.create(model=MODEL, max_tokens=50, tools=[WEATHER],  # type: ignore[list-item]
                                     messages=[{"role": "user", "content": "Paris?"}])
    with client.messages.stream(model=MODEL, max_tokens=50, tools=[WEATHER],  # type: ignore[list-item]
                                messages=[{"role": "user", "content": "Paris?"}]) as stream:
        starts = [e.index for e in stream if e.type == "content_block_start"]
        streamed = stream.get_final_message()
    assert starts == [0, 1]
    for final in (message, streamed):
        text, use = final.content
        assert text.type == "text" and text.text == "Let me check."
        assert use.type == "tool_use" and use.input == {"city": "Paris", "days": [1, 2]}
        assert final.stop_reason == "tool_use"


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"),
                                              ("content_filter", "refusal")])
def test_stop_reasons(client: anthropic.Anthropic, fake: FakeOpenAI, finish: str,
                      stop: str) -> None:
    fake.enqueue(Reply(content="cut", finish_reason=finish))
    message = client.messages.create(model=MODEL, max_tokens=5,
                                     messages=[{"role": "user", "content": "go"}])
    assert message.stop_reason == stop


def test_bad_request_names_the_field(client: anthropic.Anthropic, server: GatewayServer,
                                     fake: FakeOpenAI) -> None:
    hits = fake.hits
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "text", "text": 3}]}])  # type: ignore[list-item]
    assert info.value.status_code == 400
    assert info.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages.0.content.0.text: must be a string"}}
    assert fake.hits == hits  # nothing went upstream
    row = logged(server, info.value.response.headers["x-request-id"])
    assert (row["endpoint"], row["status"], row["http_status"]) == ("messages", "error", 400)


def test_keys(server: GatewayServer) -> None:
    """`x-api-key` (the SDK's and Claude Code's way) or a bearer token; without a known key,
    a 401 in Anthropic's shape, logged."""
    assert anthropic.Anthropic(base_url=server.url, auth_token=ADMIN_KEY, max_retries=0
                               ).messages.create(model=MODEL, max_tokens=5, messages=HI).content
    client = anthropic.Anthropic(base_url=server.url, api_key="wrong-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model=MODEL, max_tokens=5, messages=HI)
    assert info.value.body == {"type": "error", "error": {
        "type": "authentication_error", "message": "Incorrect API key provided."}}
    row = logged(server, info.value.response.headers["x-request-id"])
    assert (row["endpoint"], row["http_status"], row["api_key"]) == ("messages", 401, None)
    # no key at all (the SDK always sends one)
    r = httpx.post(server.url + "/v1/messages", timeout=10,
                   json={"model": MODEL, "max_tokens": 5, "messages": HI})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_upstream_failure_is_a_final_anthropic_error(server: GatewayServer,
                                                     fake: FakeOpenAI) -> None:
    """Retried once (reliability.retries), then a 502 the SDK does not retry on its own."""
    fake.enqueue(Reply(status=503), Reply(status=503))
    hits = fake.hits
    client = anthropic.Anthropic(base_url=server.url, api_key=KEY_A, max_retries=3)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=MODEL, max_tokens=5, messages=[
            {"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "fake failure 503" in body["error"]["message"]
    assert fake.hits == hits + 2  # the gateway's two attempts, no more: the SDK did not retry
    row = logged(server, info.value.response.headers["x-request-id"])
    assert (row["status"], row["http_status"], row["attempts"]) == ("error", 502, 2)


def test_failure_mid_stream_is_an_error_event(server: GatewayServer, client: anthropic.Anthropic,
                                              fake: FakeOpenAI) -> None:
    """Cut after the first words, and every try to continue it fails: the SDK sees Anthropic's
    error event, and the row says what happened."""
    fake.enqueue(Reply(content="a b c d e f", cut_after=3), Reply(status=503),
                 Reply(status=503), Reply(status=503))
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=20,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            request_id = stream.response.headers["x-request-id"]
            stream.get_final_message()
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    row = logged(server, request_id)
    assert (row["status"], row["stream"]) == ("error", 1)
    assert "mid-stream" in row["error"]


def test_cut_stream_is_resumed(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    """A text stream cut halfway goes on from where it stopped, in the same message."""
    fake.enqueue(Reply(content="one two three four", cut_after=3), Reply(content=" three four"))
    with client.messages.stream(model=MODEL, max_tokens=20, messages=HI) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "one two three four"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


def test_count_tokens(client: anthropic.Anthropic, server: GatewayServer,
                      fake: FakeOpenAI) -> None:
    hits = fake.hits
    raw = client.messages.with_raw_response.count_tokens(model=MODEL, messages=[
        {"role": "user", "content": "hi"}])
    small = raw.parse()
    big = client.messages.count_tokens(
        model=MODEL, system="You are terse.", tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Tell me about Paris. " * 50}])
    assert 0 < small.input_tokens < big.input_tokens
    assert fake.hits == hits  # an estimate: no upstream call
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(model=MODEL, messages=[])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        anthropic.Anthropic(base_url=client.base_url, api_key="nope", max_retries=0
                            ).messages.count_tokens(model=MODEL, messages=HI)
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    # each count, the refused ones too, is a row of its own: nothing billed, no model called
    row = logged(server, raw.headers["x-request-id"])
    assert (row["endpoint"], row["requested_model"], row["model"], row["status"],
            row["http_status"], row["cost_usd"], row["api_key"]) == (
        "count_tokens", MODEL, None, "success", 200, 0.0, "team-a")
    for exc, status in ((info.value, 400), (auth.value, 401)):
        failed = logged(server, exc.response.headers["x-request-id"])
        assert (failed["endpoint"], failed["status"], failed["http_status"]) == (
            "count_tokens", "error", status)


def test_models_in_anthropics_shape(client: anthropic.Anthropic, server: GatewayServer) -> None:
    """The anthropic SDK's `models` resource (it sends `anthropic-version`) gets ModelInfo
    pages; the OpenAI SDK, on the same path, keeps OpenAI's list."""
    page = client.models.list(limit=2)
    assert [m.type for m in page.data] == ["model", "model"] and page.has_more
    assert page.first_id == page.data[0].id and page.last_id == page.data[1].id
    every = [m.id for m in client.models.list(limit=3)]  # the SDK pages with after_id
    assert MODEL in every and "auto" in every and len(every) == len(set(every))
    before = client.models.list(before_id=every[3], limit=2)
    assert [m.id for m in before.data] == every[1:3]
    info = client.models.retrieve(MODEL)
    assert (info.id, info.display_name, info.type) == (MODEL, MODEL, "model")
    assert info.created_at.year == 2023
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("no-such-model")
    with pytest.raises(anthropic.BadRequestError):
        client.models.list(limit=0)
    openai_shape = server.client(KEY_A).models.list()
    assert {m.id for m in openai_shape.data} == set(every)
    assert all(m.object == "model" for m in openai_shape.data)
