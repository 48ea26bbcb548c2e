"""parse_options: every bad routing option is a 400 naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import DEFAULT_PROFILES
from gateway.errors import InvalidRequest
from gateway.routing import RoutingOptions, parse_options

BAD: list[tuple[Any, str]] = [
    ("cheap", "routing"),
    ({"max_cost_usd": "1"}, "routing.max_cost_usd"),
    ({"max_cost_usd": -0.5}, "routing.max_cost_usd"),
    ({"max_cost_usd": True}, "routing.max_cost_usd"),
    ({"min_quality": 1.5}, "routing.min_quality"),
    ({"max_latency_ms": -1}, "routing.max_latency_ms"),
    ({"task": "poetry"}, "routing.task"),
    ({"task": 3}, "routing.task"),
    ({"profile": "turbo"}, "routing.profile"),
    ({"profile": 1}, "routing.profile"),
    ({"prefer_local": "yes"}, "routing.prefer_local"),
    ({"max_cost": 1}, "routing.max_cost"),
]


@pytest.mark.parametrize(("raw", "param"), BAD)
def test_bad_options_name_the_field(raw: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_options(raw, DEFAULT_PROFILES)
    assert info.value.param == param
    assert info.value.status == 400
    assert param in info.value.message


GOOD: list[tuple[Any, RoutingOptions]] = [
    (None, RoutingOptions()),
    ({}, RoutingOptions()),
    (
        {"max_cost_usd": 0.01, "min_quality": 0.8, "max_latency_ms": 3000},
        RoutingOptions(max_cost_usd=0.01, min_quality=0.8, max_latency_ms=3000),
    ),
    ({"task": "summarization"}, RoutingOptions(task="summarization")),
    ({"task": "summary"}, RoutingOptions(task="summarization")),
    ({"task": "translation"}, RoutingOptions(task="rewrite")),
    ({"task": "rag"}, RoutingOptions(task="closed_qa")),
    ({"task": "brainstorm"}, RoutingOptions(task="brainstorming")),
    ({"profile": "auto:cheap"}, RoutingOptions(profile="cheap")),
    (
        {"profile": "local", "prefer_local": True},
        RoutingOptions(profile="local", prefer_local=True),
    ),
]


@pytest.mark.parametrize(("raw", "parsed"), GOOD)
def test_good_options(raw: Any, parsed: RoutingOptions) -> None:
    assert parse_options(raw, DEFAULT_PROFILES) == parsed
