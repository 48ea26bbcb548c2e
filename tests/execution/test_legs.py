"""Choosing parallel legs from the router's ranking; their worst-case cost; the options."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ParallelConfig
from gateway.errors import InvalidRequest
from gateway.execution.legs import (
    choose_legs,
    parallel_options,
)
from gateway.routing import Decision, NoRouteAvailable, Router
from tests.routing.configs import ALL_CAPS, make_config, model, user

# One price for all, so the ranking under `auto:best` is the quality order, whatever the
# router's cost trade-offs: o-best > o-good > a-good > g-ok > o-cheap (three on provider o).
FLEET = [
    model("o-best", "openai", (1, 4), 0.97, capabilities=ALL_CAPS, latency_ms=500),
    model("o-good", "openai", (1, 4), 0.93, capabilities=ALL_CAPS, latency_ms=500),
    model("a-good", "anthropic", (1, 4), 0.90, capabilities=["streaming"], latency_ms=500,
          aliases=["claude"]),
    model("g-ok", "lmstudio", (1, 4), 0.80, capabilities=ALL_CAPS, latency_ms=500),
    model("o-cheap", "openai", (1, 4), 0.70, capabilities=["tools", "streaming"],
          latency_ms=500),
]
ROUTER = Router(make_config(FLEET))
IMAGE = {"messages": [{"role": "user", "content": [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}


def decide(body: dict[str, Any] | None = None, unusable: dict[str, str] | None = None
           ) -> Decision:
    return ROUTER.decide(body or user("Explain how a hash map works."), profile="best",
                         unusable=unusable)


def opts(**kw: Any) -> ParallelConfig:
    return parallel_options(kw, ParallelConfig())


def ids(plan: Any) -> list[str]:
    return [c.id for c in plan.legs]


def test_the_ranking_is_what_the_cases_below_assume() -> None:
    live = [c.id for c in decide().candidates if c.excluded is None]
    assert live == ["o-best", "o-good", "a-good", "g-ok", "o-cheap"]


@pytest.mark.parametrize(
    ("count", "judge", "legs"),
    [
        (2, None, ["o-best", "a-good"]),  # o-good ranks 2nd but shares o-best's provider
        (3, None, ["o-best", "a-good", "g-ok"]),  # one leg per provider
        (4, None, ["o-best", "o-good", "a-good", "g-ok"]),  # then the best of the rest
        (8, None, ["o-best", "o-good", "a-good", "g-ok", "o-cheap"]),  # all there is
        (3, "o-best", ["o-good", "a-good", "g-ok"]),  # the judge is never a leg
        (2, "claude", ["o-best", "g-ok"]),  # judge named by alias
    ],
)
def test_a_count_picks_different_providers_first(count: int, judge: str | None,
                                                  legs: list[str]) -> None:
    strategy = "judge" if judge else "vote"
    plan = choose_legs(decide().candidates, opts(models=count, strategy=strategy, judge=judge),
                       ROUTER.catalog)
    assert ids(plan) == legs
    assert plan.header == ",".join(legs)
    assert plan.judge == {None: None, "o-best": "o-best", "claude": "a-good"}[judge]


def test_the_router_exclusions_apply_to_legs() -> None:
    plan = choose_legs(decide(IMAGE).candidates, opts(models=3), ROUTER.catalog)
    assert ids(plan) == ["o-best", "o-good", "g-ok"]  # a-good and o-cheap lack vision
    named = choose_legs(decide(IMAGE).candidates, opts(models=["claude", "g-ok", "o-best"]),
                        ROUTER.catalog)
    assert ids(named) == ["g-ok", "o-best"]  # in the order named
    assert named.skipped == (("a-good", "lacks vision"),)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"models": ["o-best", "nope"]}, "routing.parallel.models[1]"),
        ({"models": ["o-best", "o-best"]}, "routing.parallel.models[1]"),
        ({"models": ["o-best", "claude", "a-good"]}, "routing.parallel.models[2]"),
        ({"models": ["o-best", "g-ok"], "strategy": "judge", "judge": "g-ok"},
         "routing.parallel.models[1]"),
        ({"models": 3, "strategy": "judge"}, "routing.parallel.judge"),
        ({"models": 3, "strategy": "judge", "judge": "gpt-9"}, "routing.parallel.judge"),
    ],
)
def test_bad_leg_lists_name_the_field(options: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        choose_legs(decide().candidates, opts(**options), ROUTER.catalog)
    assert err.value.param == param


def test_no_leg_can_run() -> None:
    with pytest.raises(NoRouteAvailable) as err:
        choose_legs(decide(IMAGE).candidates, opts(models=["a-good", "o-cheap"]), ROUTER.catalog)
    assert err.value.status == 400 and err.value.param == "routing.parallel.models"
    assert "a-good: lacks vision; o-cheap: lacks vision" in err.value.message
    down = {"o-best": "circuit open", "g-ok": "no API key"}
    with pytest.raises(NoRouteAvailable) as err:
        choose_legs(decide(unusable=down).candidates, opts(models=["o-best", "g-ok"]),
                    ROUTER.catalog)
    assert err.value.status == 503


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ("three", "routing.parallel"),
        ({"models": 1}, "routing.parallel.models"),
        ({"models": 9}, "routing.parallel.models"),
        ({"models": ["only-one"]}, "routing.parallel.models"),
        ({"models": [1, 2]}, "routing.parallel.models"),
        ({"strategy": "majority"}, "routing.parallel.strategy"),
        ({"judges": "x"}, "routing.parallel.judges"),
    ],
)
def test_bad_parallel_options_name_the_field(raw: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parallel_options(raw, ParallelConfig())
    assert err.value.param == param


def test_options_fill_in_from_the_config_defaults() -> None:
    defaults = ParallelConfig(models=4, strategy="judge", judge="o-best")
    assert parallel_options(None, defaults) is defaults  # auto:consensus
    got = parallel_options({"strategy": "vote"}, defaults)
    assert (got.models, got.strategy, got.judge) == (4, "vote", "o-best")
    got = parallel_options({"models": ["a", "b"]}, defaults)
    assert got.models == ("a", "b")
