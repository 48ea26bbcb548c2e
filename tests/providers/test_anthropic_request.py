"""OpenAI body -> Anthropic Messages body: table-driven, pure."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ModelConfig
from gateway.errors import InvalidRequest
from providers.anthropic_request import DEFAULT_MAX_TOKENS, to_anthropic

MODEL = ModelConfig(id="claude", provider="anthropic", upstream="claude-sonnet-4-5")
BIG = ModelConfig(id="big", provider="anthropic", upstream="claude-big", max_output_tokens=64000)
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def translate(**body: Any) -> dict[str, Any]:
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return to_anthropic({"model": "claude", **body}, MODEL)


def test_minimal_body() -> None:
    assert translate() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_stream_flag() -> None:
    out = to_anthropic({"messages": [{"role": "user", "content": "Hi"}]}, MODEL, stream=True)
    assert out["stream"] is True


@pytest.mark.parametrize(
    ("body", "model", "expected"),
    [
        ({}, MODEL, DEFAULT_MAX_TOKENS),
        ({}, BIG, 64000),
        ({"max_tokens": 50}, MODEL, 50),
        ({"max_completion_tokens": 70}, MODEL, 70),
        ({"max_completion_tokens": 70, "max_tokens": 50}, MODEL, 70),
    ],
)
def test_max_tokens(body: dict[str, Any], model: ModelConfig, expected: int) -> None:
    msgs = [{"role": "user", "content": "Hi"}]
    assert to_anthropic({"messages": msgs, **body}, model)["max_tokens"] == expected


@pytest.mark.parametrize(
    ("messages", "system"),
    [
        ([{"role": "system", "content": "Be brief."}], "Be brief."),
        ([{"role": "developer", "content": "Be brief."}], "Be brief."),
        (
            [{"role": "system", "content": "One."}, {"role": "system", "content": "Two."}],
            "One.\n\nTwo.",
        ),
        (
            [
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
                }
            ],
            "A\n\nB",
        ),
        (
            [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],
            [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}],
        ),
    ],
)
def test_system(messages: list[dict[str, Any]], system: Any) -> None:
    out = translate(messages=[*messages, {"role": "user", "content": "Hi"}])
    assert out["system"] == system
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_multi_turn_keeps_order_and_roles() -> None:
    out = translate(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]


@pytest.mark.parametrize(
    ("part", "block"),
    [
        (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ),
        (
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/jpeg;base64,{PNG}", "detail": "low"},
            },
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
            },
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        ),
        (
            {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG}"}},
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PNG},
            },
        ),
    ],
)
def test_user_content_parts(part: dict[str, Any], block: dict[str, Any]) -> None:
    out = translate(
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, block]}
    ]


def test_tool_round_trip() -> None:
    out = translate(
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "21C"}],
            },
            {"role": "user", "content": "Thanks. Which is warmer?"},
        ],
        tools=[WEATHER],
        tool_choice="auto",
    )
    assert out["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        # consecutive tool results share one user turn, the follow-up text joins it
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "Thanks. Which is warmer?"},
            ],
        },
    ]
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": WEATHER["function"]["parameters"],
        }
    ]
    assert out["tool_choice"] == {"type": "auto"}


def test_assistant_text_and_tool_call_and_empty_arguments() -> None:
    out = translate(
        messages=[
            {"role": "user", "content": "Time?"},
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "now", "arguments": ""}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "12:00"},
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "t1", "name": "now", "input": {}},
        ],
    }


def test_empty_assistant_turn_is_dropped() -> None:
    out = translate(
        messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "b"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert translate(tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_parallel_tool_calls_false() -> None:
    out = translate(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    out = translate(tools=[{"type": "function", "function": {"name": "ping"}}])
    assert out["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


def test_tool_choice_without_tools_is_left_out() -> None:
    assert "tool_choice" not in translate(tool_choice="auto")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"temperature": 0.2, "top_p": 0.9}, {"temperature": 0.2, "top_p": 0.9}),
        ({"temperature": 1.7}, {"temperature": 1.0}),  # OpenAI's 0..2 clamped to Anthropic's 0..1
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["A", "B"]}, {"stop_sequences": ["A", "B"]}),
        ({"stop": ["\n", "END"]}, {"stop_sequences": ["END"]}),  # whitespace-only: Anthropic 400s
        ({"stop": ["\n"]}, {}),
        ({"user": "u-42"}, {"metadata": {"user_id": "u-42"}}),
        ({"seed": 7, "logprobs": True, "presence_penalty": 0.5}, {}),  # no Anthropic equivalent
    ],
)
def test_sampling_and_metadata(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = translate(**body)
    extra = {k: v for k, v in out.items() if k not in ("model", "max_tokens", "messages")}
    assert extra == expected


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ({"type": "json_object"}, "JSON object"),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "p",
                    "schema": {"type": "object", "properties": {"age": {"type": "integer"}}},
                },
            },
            '"age"',
        ),
    ],
)
def test_response_format_becomes_a_system_instruction(fmt: dict[str, Any], needle: str) -> None:
    out = translate(
        messages=[
            {"role": "system", "content": "You extract."},
            {"role": "user", "content": "Bob is 4"},
        ],
        response_format=fmt,
    )
    assert out["system"].startswith("You extract.\n\n")
    assert needle in out["system"]


def test_response_format_text_changes_nothing() -> None:
    assert "system" not in translate(response_format={"type": "text"})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "t",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{oops"},
                            }
                        ],
                    },
                ]
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_refused_with_the_parameter_named(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate(**body)
    assert info.value.param == param
    assert info.value.status == 400


def test_n_one_is_fine() -> None:
    assert "n" not in translate(n=1)
