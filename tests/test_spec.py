"""tests/spec.py: OpenAI's schema really accepts good bodies and really rejects bad ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.spec import errors, validate

BODY: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
}


def test_good_bodies_pass() -> None:
    validate("CreateChatCompletionResponse", BODY, strict=True)
    validate("CreateChatCompletionStreamResponse", CHUNK, strict=True)
    usage_chunk = {**CHUNK, "choices": [], "usage": BODY["usage"]}
    validate("CreateChatCompletionStreamResponse", usage_chunk, strict=True)


def broken(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = out
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("component", "instance", "strict"),
    [
        ("CreateChatCompletionResponse", broken(BODY, "object", "chat.completion.chunk"), False),
        ("CreateChatCompletionResponse", broken(BODY, "created", 1.5), False),  # unixtime
        ("CreateChatCompletionResponse", broken(BODY, "choices.0.finish_reason", "end"), False),
        ("CreateChatCompletionResponse", broken(BODY, "choices.0.logprobs", KeyError), False),
        (
            "CreateChatCompletionResponse",
            broken(BODY, "choices.0.message.refusal", KeyError),
            False,
        ),
        ("CreateChatCompletionResponse", broken(BODY, "usage.total_tokens", KeyError), False),
        ("CreateChatCompletionResponse", broken(BODY, "choices.0.message.extra", 1), True),
        (
            "CreateChatCompletionStreamResponse",
            broken(CHUNK, "choices.0.finish_reason", KeyError),
            False,
        ),
        (
            "CreateChatCompletionStreamResponse",
            broken(CHUNK, "choices.0.delta.tool_calls", [{"id": "x"}]),
            False,
        ),  # no index
        ("CreateChatCompletionStreamResponse", broken(CHUNK, "choices.0.delta.provider", {}), True),
    ],
)
def test_bad_bodies_fail(component: str, instance: Any, strict: bool) -> None:
    assert errors(component, instance, strict)
    with pytest.raises(AssertionError, match=f"not a valid {component}"):
        validate(component, instance, strict)


def test_lenient_mode_allows_unknown_fields() -> None:
    assert errors("CreateChatCompletionResponse", broken(BODY, "x_extra", 1)) == []


def test_unknown_component() -> None:
    with pytest.raises(KeyError):
        validate("NoSuchThing", {})
