"""The demo, its traffic: a trickle of varied requests to a gateway, like a team's clients.

Requests arrive at random (Poisson) at `rate` a second, at most `concurrency` at once: mostly
`model="auto"`, some with a profile (`auto:cheap`, `auto:best`, `auto:fast`), some naming a
model; a third streamed; one in twenty with a tool, one in twenty asking for JSON; some sharing
a system prompt; and feedback on a quarter of the answers, so the learner has something to
learn. Over plain HTTP (httpx), as any client would: `gateway serve --demo` runs it against
itself, `gateway demo-traffic --url ...` against any gateway (mind that a real one spends money).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.demo.prompts import JSON_PROMPT, PROMPTS, SYSTEM, TOOL_PROMPT, WEATHER_TOOL

PROFILES = (("auto", 0.55), ("auto:cheap", 0.1), ("auto:best", 0.1), ("auto:fast", 0.05))
OUTCOMES = ("success", "success", "success", "partial", "failure")


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    failed: int = 0  # an error status, or no answer at all


def next_body(rnd: random.Random, models: list[str]) -> dict[str, Any]:
    """One request body, drawn from the demo's mix."""
    u = rnd.random()
    model = next((name for name, share in _cumulative(PROFILES) if u < share), None)
    if model is None:
        model = rnd.choice(models) if models else "auto"
    kind = rnd.random()
    if kind < 0.05:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": TOOL_PROMPT}],
                                "tools": [WEATHER_TOOL]}
    elif kind < 0.10:
        body = {"messages": [{"role": "user", "content": JSON_PROMPT}],
                "response_format": {"type": "json_object"}}
    else:
        messages = [{"role": "user", "content": rnd.choice(PROMPTS)}]
        if rnd.random() < 0.3:
            messages.insert(0, {"role": "system", "content": SYSTEM})
        body = {"messages": messages}
    body["model"] = model
    if rnd.random() < 0.33:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _cumulative(shares: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    total, out = 0.0, []
    for name, share in shares:
        total += share
        out.append((name, total))
    return out


async def run_traffic(
    base_url: str, *, key: str | None = None, rate: float = 2.0, duration_s: float | None = None,
    stop: threading.Event | None = None, seed: int | None = None, concurrency: int = 8,
    report: Callable[[Tally], None] | None = None,
) -> Tally:
    """Send requests until `duration_s` has passed or `stop` is set; return what happened."""
    rnd = random.Random(seed)
    tally = Tally()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + duration_s if duration_s is not None else None
    limit = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=base_url.rstrip("/").removesuffix("/v1"),
                                 headers=headers, timeout=120) as http:
        listed = (await http.get("/v1/models")).raise_for_status().json()["data"]
        models = [m["id"] for m in listed if not str(m["id"]).startswith("auto")]
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(rnd.expovariate(rate), 5.0))
            if limit.locked():
                continue  # the gateway is slower than the trickle: skip rather than pile up
            await limit.acquire()
            body, feedback = next_body(rnd, models), rnd.random() < 0.25
            task = asyncio.ensure_future(_one(http, body, feedback, rnd, tally, limit, report))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    return tally


async def _one(http: httpx.AsyncClient, body: dict[str, Any], feedback: bool,
               rnd: random.Random, tally: Tally, limit: asyncio.Semaphore,
               report: Callable[[Tally], None] | None) -> None:
    tally.sent += 1
    try:
        async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
            async for _ in resp.aiter_bytes():
                pass
            ok = resp.status_code == 200
            request_id = resp.headers.get("x-request-id")
        if ok and feedback and request_id:
            outcome = rnd.choice(OUTCOMES)
            await http.post("/v1/feedback", json={
                "request_id": request_id, "outcome": outcome,
                "score": {"success": 0.9, "partial": 0.5, "failure": 0.1}[outcome]})
    except httpx.HTTPError:
        ok = False
    finally:
        limit.release()
    if ok:
        tally.ok += 1
    else:
        tally.failed += 1
    if report is not None:
        report(tally)


def start_in_background(base_url: str, ready: Callable[[], bool], *, key: str | None,
                        rate: float) -> Callable[[], None]:
    """Run the trickle in a thread once `ready()` says the server is up; returns `stop`."""
    stop = threading.Event()

    def run() -> None:
        while not ready():
            if stop.wait(0.1):
                return
        with contextlib.suppress(httpx.HTTPError):  # the server went away: nothing to send to
            asyncio.run(run_traffic(base_url, key=key, rate=rate, stop=stop))

    thread = threading.Thread(target=run, name="demo-traffic", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(10)

    return halt
