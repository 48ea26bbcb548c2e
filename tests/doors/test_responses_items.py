"""`GET /v1/responses/{id}/input_items` through the official `openai` SDK's
`responses.input_items` resource and the real gateway: the conversation an answer came from,
each item checked against OpenAI's spec, paged, and kept to the key that created it."""

from __future__ import annotations

import openai
import pytest

from tests.doors.conftest import KEY_A, KEY_B, MODEL
from tests.doors.test_responses_sdk import CALL, WEATHER, sdk
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.spec import validate


def test_input_items_list_the_conversation(server: GatewayServer, fake: FakeOpenAI) -> None:
    a, b = sdk(server, KEY_A), sdk(server, KEY_B)
    fake.enqueue(Reply(tool_calls=[CALL]))
    first = a.responses.create(model=MODEL, tools=[WEATHER], input=[
        {"role": "developer", "content": "Use the tools."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}])
    fake.enqueue(Reply(content="Sunny, 18C."))
    second = a.responses.create(model=MODEL, tools=[WEATHER], previous_response_id=first.id,
                                input=[{"type": "function_call_output", "call_id": "call_w1",
                                        "output": "18C, sunny"}])
    fake.enqueue(Reply(content="You are welcome."))
    third = a.responses.create(model=MODEL, input="Thanks!", previous_response_id=second.id)

    with server.http() as http:
        raw = http.get(f"/v1/responses/{third.id}/input_items",
                       headers={"authorization": f"Bearer {KEY_A}"})
    body = raw.json()
    validate("ResponseItemList", body)
    components = {"message": "InputMessageResource", "function_call": "FunctionToolCallResource",
                  "function_call_output": "FunctionToolCallOutputResource"}
    for item in body["data"]:
        kind = "OutputMessage" if item.get("role") == "assistant" else components[item["type"]]
        validate(kind, item)
    # newest first by default, the whole conversation the answer was generated from
    assert [(i["type"], i.get("role")) for i in body["data"]] == [
        ("message", "user"), ("message", "assistant"), ("function_call_output", None),
        ("function_call", None), ("message", "user"), ("message", "developer")]
    assert body["data"][0]["content"] == [{"type": "input_text", "text": "Thanks!"}]
    # the earlier turns' outputs keep the ids they were returned with
    assert body["data"][1]["id"] == second.output[0].id
    assert body["data"][3]["id"] == first.output[0].id
    assert body["data"][3]["call_id"] == "call_w1"
    assert (body["first_id"], body["last_id"], body["has_more"]) == (
        body["data"][0]["id"], body["data"][-1]["id"], False)

    # the SDK pages through them with `after`; the ids are the same on every read
    page = a.responses.input_items.list(third.id, order="asc", limit=4)
    assert [i.type for i in page.data] == ["message", "message", "function_call",
                                          "function_call_output"]
    assert page.has_more and page.data[0].role == "developer"  # type: ignore[union-attr]
    every = [i.id for i in a.responses.input_items.list(third.id, order="asc", limit=2)]
    assert every == [i["id"] for i in reversed(body["data"])]
    assert len(set(every)) == 6

    # another key reads an unknown id; a bad query is a 400 naming the field
    with pytest.raises(openai.NotFoundError):
        b.responses.input_items.list(third.id)
    for query, param in (({"limit": 0}, "limit"), ({"order": "up"}, "order"),
                         ({"after": "msg_nope"}, "after")):
        with pytest.raises(openai.BadRequestError) as info:
            a.responses.input_items.list(third.id, **query)  # type: ignore[arg-type]
        assert info.value.body["param"] == param  # type: ignore[index]
