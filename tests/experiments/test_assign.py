"""A/B assignment: matching rules, sticky arms, weights, independence between experiments."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.config import ExperimentConfig, parse_config
from gateway.experiments import Assigner


def experiment(name: str = "exp", weights: tuple[float, ...] = (50, 50), **kw: Any
               ) -> ExperimentConfig:
    arms = [{"name": chr(ord("a") + i), "model": f"m{i}", "weight": w}
            for i, w in enumerate(weights)]
    return ExperimentConfig(name=name, arms=arms, **kw)


USERS = [f"user-{i}" for i in range(10_000)]


def test_the_same_user_keeps_the_same_arm_across_requests_and_instances() -> None:
    first = Assigner([experiment(match={"model": "auto"})])
    again = Assigner([experiment(match={"model": "auto"})])  # another worker, or a restart
    for i, user in enumerate(USERS):
        a = first.assign(model="auto", request_id=f"r{i}", user=user)
        b = again.assign(model="auto", request_id=f"other{i}", user=user, key="k")
        assert a is not None and b is not None
        assert a.arm == b.arm


def test_the_hash_is_pinned_so_a_release_does_not_reshuffle_live_users() -> None:
    # Arms of ten users under 50/50, computed once: a change of hash or salt fails here.
    a = Assigner([experiment(match={"model": "auto"})])
    arms = "".join(a.assign(model="auto", request_id="r", user=f"u{i}").arm  # type: ignore[union-attr]
                   for i in range(10))
    assert arms == "aaabbabbaa"


@pytest.mark.parametrize("weights", [(50, 50), (70, 20, 10), (1, 3), (90, 5, 5)])
def test_weights_are_respected_within_two_points_over_ten_thousand_units(
    weights: tuple[float, ...],
) -> None:
    a = Assigner([experiment(weights=weights)])
    counts = Counter(a.assign(model="x", request_id="r", user=u).arm  # type: ignore[union-attr]
                     for u in USERS)
    total = sum(weights)
    for i, w in enumerate(weights):
        share = counts[chr(ord("a") + i)] / len(USERS)
        assert share == pytest.approx(w / total, abs=0.02), (weights, counts)


def test_changing_the_weights_moves_only_the_units_the_new_split_needs() -> None:
    before = Assigner([experiment(weights=(50, 50))])
    after = Assigner([experiment(weights=(60, 40))])
    moved = sum(
        before.assign(model="x", request_id="r", user=u).arm  # type: ignore[union-attr]
        != after.assign(model="x", request_id="r", user=u).arm  # type: ignore[union-attr]
        for u in USERS
    )
    assert 0.08 < moved / len(USERS) < 0.12  # ~10 %: those between the old and new threshold


def test_two_experiments_split_independently() -> None:
    a = Assigner([experiment("one", match={"task": "code"})])
    b = Assigner([experiment("two", match={"task": "code"})])
    pairs = Counter(
        (a.assign(model="x", task="code", request_id="r", user=u).arm,  # type: ignore[union-attr]
         b.assign(model="x", task="code", request_id="r", user=u).arm)  # type: ignore[union-attr]
        for u in USERS
    )
    for cell in (("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")):
        assert pairs[cell] / len(USERS) == pytest.approx(0.25, abs=0.02)


def test_units_user_falls_back_to_the_key_then_to_the_request() -> None:
    a = Assigner([experiment(unit="user")])
    by_key = {a.assign(model="x", request_id=f"r{i}", key="team-a").arm  # type: ignore[union-attr]
              for i in range(50)}
    assert len(by_key) == 1  # no `user`: the key is the unit, sticky
    anonymous = Counter(a.assign(model="x", request_id=f"r{i}").arm  # type: ignore[union-attr]
                        for i in range(400))
    assert set(anonymous) == {"a", "b"}  # no user, no key: split per request, not all to one arm


def test_unit_key_ignores_the_user_and_unit_request_ignores_both() -> None:
    by_key = Assigner([experiment(unit="key")])
    arms = {by_key.assign(model="x", request_id="r", key="k1", user=u).arm  # type: ignore[union-attr]
            for u in USERS[:200]}
    assert len(arms) == 1
    per_request = Assigner([experiment(unit="request")])
    arms = {per_request.assign(model="x", request_id=f"r{i}", key="k1",  # type: ignore[union-attr]
                               user="same").arm for i in range(200)}
    assert arms == {"a", "b"}


CONFIG = {
    "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": [{"id": "gpt-4.1-mini", "provider": "p", "aliases": ["mini"]},
               {"id": "claude-haiku", "provider": "p"}],
}


@pytest.mark.parametrize(
    ("match", "request_", "takes"),
    [
        ({}, {"model": "anything"}, True),
        ({"model": "auto"}, {"model": "auto"}, True),
        ({"model": "auto"}, {"model": "auto:cheap", "profile": "cheap"}, False),
        ({"model": "auto:cheap"}, {"model": "auto:cheap", "profile": "cheap"}, True),
        ({"model": "auto:cheap"}, {"model": "auto", "profile": "cheap"}, True),  # routing.profile
        ({"model": "auto:cheap"}, {"model": "auto", "profile": "best"}, False),
        ({"model": "mini"}, {"model": "gpt-4.1-mini"}, True),  # an alias in the rule
        ({"model": "gpt-4.1-mini"}, {"model": "mini"}, True),  # an alias in the request
        ({"model": "gpt-4.1-mini"}, {"model": "claude-haiku"}, False),
        ({"model": "auto", "task": "code"}, {"model": "auto", "task": "code"}, True),
        ({"model": "auto", "task": "code"}, {"model": "auto", "task": "math"}, False),
        ({"model": "auto", "task": "code"}, {"model": "auto"}, False),
        ({"key": "team-a"}, {"model": "auto", "key": "team-a"}, True),
        ({"key": "team-a"}, {"model": "auto", "key": "team-b"}, False),
        ({"key": "team-a"}, {"model": "auto"}, False),
        ({"model": "auto", "task": "code", "key": "k"},
         {"model": "auto", "task": "code", "key": "k"}, True),
    ],
)
def test_matching_rules(match: dict[str, str], request_: dict[str, str], takes: bool) -> None:
    config = parse_config({**CONFIG, "experiments": [
        {"name": "e", "match": match, "arms": [{"name": "a", "model": "gpt-4.1-mini"},
                                               {"name": "b", "model": "claude-haiku"}]}]},
        env={})
    got = Assigner.from_config(config).assign(request_id="r1", user="u", **request_)
    assert (got is not None) is takes
    if got is not None:
        assert got.experiment == "e" and got.header == f"e:{got.arm}"
        assert got.model == {"a": "gpt-4.1-mini", "b": "claude-haiku"}[got.arm]


def test_the_first_matching_enabled_experiment_wins() -> None:
    a = Assigner([
        experiment("off", match={"model": "auto"}, enabled=False),
        experiment("code", match={"model": "auto", "task": "code"}),
        experiment("all", match={"model": "auto"}),
    ])
    assert a.assign(model="auto", task="code", request_id="r").experiment == "code"  # type: ignore[union-attr]
    assert a.assign(model="auto", task="chat", request_id="r").experiment == "all"  # type: ignore[union-attr]
    assert Assigner([experiment(enabled=False)]).assign(model="auto", request_id="r") is None
    assert not Assigner([])
