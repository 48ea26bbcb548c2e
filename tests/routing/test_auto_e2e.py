"""End to end: `model="auto*"` through the running gateway with the official OpenAI SDK.

Several models share two fake upstreams and are told apart by their upstream id, which the
fake echoes back and records; every assertion checks where the request really went.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer

ALL = ["tools", "vision", "json", "streaming"]
MSG = [{"role": "user", "content": "Say hello to the team."}]


def _m(id: str, provider: str, price: tuple[float, float], quality: float, caps: list[str],
       **extra: Any) -> dict[str, Any]:
    return {"id": id, "provider": provider, "upstream": f"up-{id}",
            "input_usd_per_mtok": price[0], "output_usd_per_mtok": price[1],
            "quality": quality, "capabilities": caps, "latency_ms": 500,
            "context_window": 128000, **extra}


# tiny: cheapest hosted, text only, 2k context; mini: tools, no vision; seer: vision;
# best: everything, most expensive and strongest; local: free, text only, on the second fake.
FLEET = [
    _m("tiny", "cloud", (0.05, 0.2), 0.70, ["streaming"], context_window=2048),
    _m("mini", "cloud", (0.15, 0.6), 0.78, ["tools", "json", "streaming"]),
    _m("seer", "cloud", (1.0, 4.0), 0.82, ALL),
    _m("best", "cloud", (10.0, 40.0), 0.97, ALL),
    _m("local", "box", (0.0, 0.0), 0.75, ["streaming"], tags=["local"], context_window=8192),
]


@pytest.fixture
def fleet(make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI,
          fake_backup: FakeOpenAI, tmp_path: Path) -> GatewayServer:
    return make_gateway(
        {"cloud": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-cloud"},
         "box": {"kind": "openai", "base_url": fake_backup.url, "api_key": "sk-box"}},
        FLEET,
        routing={"learn": {"refit_interval_s": 0.2, "state_path": str(tmp_path / "st.json")}},
    )


def _ask(gw: GatewayServer, model: str, **kwargs: Any) -> tuple[str, str]:
    """(x-gateway-model header, the body's model) of one chat call."""
    raw = gw.client().chat.completions.with_raw_response.create(
        model=model, messages=kwargs.pop("messages", MSG), **kwargs)
    body = raw.parse()
    return raw.headers["x-gateway-model"], body.model


def _upstream(fake: FakeOpenAI) -> str:
    return str(fake.requests[-1]["model"])


TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a word up",
                                         "parameters": {"type": "object", "properties": {}}}}


def test_tools_go_only_to_tools_capable_models(fleet: GatewayServer, fake_openai: FakeOpenAI
                                               ) -> None:
    for profile in ("auto", "auto:cheap", "auto:local"):
        header, _ = _ask(fleet, profile, tools=[TOOL])
        assert header in {"mini", "seer", "best"}, profile
        assert _upstream(fake_openai) == f"up-{header}"
    # the cheap profile takes the cheapest model that can call tools, not `tiny`
    assert _ask(fleet, "auto:cheap", tools=[TOOL])[0] == "mini"
    assert _ask(fleet, "auto:cheap")[0] in {"tiny", "local", "mini"}  # control: no tools


def test_images_go_only_to_vision_models(fleet: GatewayServer, fake_openai: FakeOpenAI) -> None:
    image = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    for profile in ("auto", "auto:cheap", "auto:local", "auto:fast"):
        header, body_model = _ask(fleet, profile, messages=image)
        assert header in {"seer", "best"}, profile
        assert _upstream(fake_openai) == f"up-{header}"
        assert body_model == header
    assert _ask(fleet, "auto:cheap", messages=image)[0] == "seer"


def test_long_prompt_never_goes_to_a_small_context_model(
    fleet: GatewayServer, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    def excluded(messages: list[dict[str, Any]]) -> dict[str, str]:
        with fleet.http() as http:
            out = http.post("/v1/route", json={"model": "auto:cheap", "messages": messages},
                            headers={"authorization": "Bearer k"}).json()
        return {c["model"]: c.get("excluded", "") for c in out["candidates"]}

    assert not excluded(MSG)["tiny"]  # control: a short prompt fits every model
    long = [{"role": "user", "content": "Summarise this log line by line. " + "word " * 5000}]
    assert "do not fit context" in excluded(long)["tiny"]
    for profile in ("auto:cheap", "auto:local", "auto"):
        header, _ = _ask(fleet, profile, messages=long)
        assert header != "tiny", profile
        assert _upstream(fake_openai if header != "local" else fake_backup) == f"up-{header}"
    # ~6k tokens still fit local's 8k window; ~15k fit neither small model
    longer = [{"role": "user", "content": "Summarise this. " + "word " * 12000}]
    for profile in ("auto:cheap", "auto:local"):
        assert _ask(fleet, profile, messages=longer)[0] not in {"tiny", "local"}


def test_max_cost_picks_the_cheapest_that_fits(fleet: GatewayServer, fake_openai: FakeOpenAI
                                               ) -> None:
    assert _ask(fleet, "auto:best", tools=[TOOL])[0] == "best"  # control: no cap
    with fleet.http() as http:
        costs = {c["model"]: c["estimated_cost_usd"] for c in http.post(
            "/v1/route", json={"model": "auto:best", "messages": MSG, "tools": [TOOL]},
            headers={"authorization": "Bearer k"}).json()["candidates"]}
    cap = (costs["mini"] + costs["seer"]) / 2  # mini fits, seer and best do not
    header, _ = _ask(fleet, "auto:best", tools=[TOOL], extra_body={"routing": {"max_cost_usd": cap}})
    assert header == "mini"
    assert _upstream(fake_openai) == "up-mini"


HARD = [{"role": "user", "content": "Prove rigorously that this scheduling algorithm is optimal "
         "and derive its loop invariant."}]


def test_auto_best_picks_the_highest_quality(fleet: GatewayServer, fake_openai: FakeOpenAI
                                            ) -> None:
    assert _ask(fleet, "auto:best", messages=HARD)[0] == "best"
    assert _upstream(fake_openai) == "up-best"


def test_auto_local_picks_the_local_model(
    fleet: GatewayServer, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    header, body_model = _ask(fleet, "auto:local")
    assert header == "local"
    assert body_model == "local"
    assert fake_backup.hits == 1 and fake_openai.hits == 0


def test_route_endpoint_decides_without_calling_upstream(
    fleet: GatewayServer, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    with fleet.http() as http:
        resp = http.post("/v1/route", json={"model": "auto:best", "messages": MSG,
                                            "tools": [TOOL]},
                         headers={"authorization": "Bearer k"})
    assert resp.status_code == 200
    out = resp.json()
    assert out["model"] == "best"
    assert out["chain"][0] == "best"
    by_id = {c["model"]: c for c in out["candidates"]}
    assert "tools" in by_id["tiny"]["excluded"] and "tools" in by_id["local"]["excluded"]
    assert "score" in by_id["mini"]
    assert fake_openai.hits == 0 and fake_backup.hits == 0


# -- feedback moves traffic -----------------------------------------------------------------

# Two near-equal models: alpha edges out beta on its prior, so it takes all traffic at first.
PAIR = [
    _m("alpha", "cloud", (1.0, 4.0), 0.86, ALL),
    _m("beta", "cloud", (1.0, 4.0), 0.82, ALL),
]
TOPICS = ["rivers", "bridges", "volcanoes", "owls", "glaciers", "tides", "comets", "ferns",
          "deserts", "lighthouses", "coral", "canals", "moss", "meteors", "harbors", "dunes",
          "orchards", "caves", "storms", "islands"]


def _route(gw: GatewayServer, text: str) -> str:
    with gw.http() as http:
        out = http.post("/v1/route", json={"model": "auto", "messages": [
            {"role": "user", "content": text}]}, headers={"authorization": "Bearer k"}).json()
    return str(out["model"])


def test_failure_feedback_moves_traffic_away(
    make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    state = tmp_path / "learned.json"
    gw = make_gateway(
        {"cloud": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-cloud"}},
        PAIR, routing={"learn": {"refit_interval_s": 0.2, "state_path": str(state)}},
    )
    probe = "Write a short note about mountains."
    assert _route(gw, probe) == "alpha"  # control: before any feedback
    client = gw.client()
    answered: list[tuple[str, str]] = []
    for topic in TOPICS:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"Write a short note about {topic}."}])
        answered.append((raw.headers["x-request-id"], raw.headers["x-gateway-model"]))
    assert {m for _, m in answered} == {"alpha"}
    with gw.http() as http:
        for rid, _ in answered:
            r = http.post("/v1/feedback", json={"request_id": rid, "outcome": "failure"},
                          headers={"authorization": "Bearer k"})
            assert r.status_code == 200, r.text
    learner = gw.parts.learner
    deadline = time.monotonic() + 10
    moved = None
    while time.monotonic() < deadline:
        moved = _route(gw, probe)
        if moved == "beta":
            break
        time.sleep(0.1)
    assert moved == "beta", f"still {moved} after {learner.refits} refits"
    # ...and real traffic follows the decision
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Write a short note about lakes."}])
    assert raw.headers["x-gateway-model"] == "beta"
    assert fake_openai.requests[-1]["model"] == "up-beta"
    assert state.exists()  # the refit was persisted


def test_persisted_state_is_loaded_at_start(
    make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """A restart keeps what was learned: a new gateway on the saved state routes as the old."""
    from datetime import UTC, datetime

    from gateway.learning import save_state
    from gateway.routing import LearnedModel, OutcomeRecord, extract
    from gateway.routing.classify import classify

    feats = [extract(classify({"messages": [{"role": "user", "content":
                                             f"Write a short note about {t}."}]}))
             for t in TOPICS]
    model = LearnedModel.fit([OutcomeRecord(f, "alpha", 0.0) for f in feats],
                             now=datetime.now(UTC))
    state = tmp_path / "saved.json"
    save_state(state, model)
    gw = make_gateway(
        {"cloud": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-cloud"}},
        PAIR, routing={"learn": {"refit_interval_s": 60, "state_path": str(state)}},
    )
    assert _route(gw, "Write a short note about mountains.") == "beta"
    assert gw.parts.planner.router.learned.n_records == len(TOPICS)


def _fail_all(gw: GatewayServer) -> None:
    client = gw.client()
    with gw.http() as http:
        for topic in TOPICS[:10]:
            raw = client.chat.completions.with_raw_response.create(
                model="auto",
                messages=[{"role": "user", "content": f"Write a short note about {topic}."}])
            r = http.post("/v1/feedback", json={"request_id": raw.headers["x-request-id"],
                                                "outcome": "failure"})
            assert r.status_code == 200, r.text


def test_learning_disabled_keeps_the_priors(
    make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    state = tmp_path / "never.json"
    state.write_text("{not json")  # would be ignored anyway; disabled must not even read it
    gw = make_gateway(
        {"cloud": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-cloud"}},
        PAIR, routing={"learn": {"enabled": False, "refit_interval_s": 0.2,
                                 "state_path": str(state)}},
    )
    _fail_all(gw)
    time.sleep(1.0)  # five refit intervals plus the feedback debounce
    assert _route(gw, "Write a short note about mountains.") == "alpha"
    assert gw.parts.learner.refits == 0
    assert state.read_text() == "{not json"


def test_unreadable_state_is_ignored_and_replaced(
    make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    state = tmp_path / "broken.json"
    state.write_text("{not json")
    gw = make_gateway(
        {"cloud": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-cloud"}},
        PAIR, routing={"learn": {"refit_interval_s": 0.2, "state_path": str(state)}},
    )
    assert _route(gw, "Write a short note about mountains.") == "alpha"
    _fail_all(gw)
    deadline = time.monotonic() + 10
    while gw.parts.learner.refits == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while state.read_text() == "{not json" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(state.read_text())["n_records"] >= 10
