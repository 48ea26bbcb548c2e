"""The dashboard in a real browser (Debian's Chromium), after real traffic through the gateway."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from tests.browser import (
    DESKTOP,
    PHONE,
    BrowserMissing,
    chromium,
    dashboard,
    screenshot,
    text,
    wait_loaded,
)
from tests.gateway_server import GatewayServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

FAST = {"latency_ms": 2, "tokens_per_s": 100_000}
SIM = {"sim": {"kind": "simulated", "simulate": FAST}}
MODELS = [
    {"id": "cheap", "provider": "sim", "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6,
     "quality": 0.7},
    {"id": "smart", "provider": "sim", "input_usd_per_mtok": 3, "output_usd_per_mtok": 15,
     "quality": {"default": 0.93, "code": 0.97, "math": 0.95}},
]
KEYS = {"api_keys": [{"name": "ops", "key": "admin-secret", "role": "admin"},
                     {"name": "team", "key": "client-secret", "role": "client"}]}
PROMPTS = ["Write a Python function that parses a CSV line with quoted fields",
           "What is the capital of Chile?", "Solve 3x + 7 = 22", "hi, how are you?",
           "Summarize: the release adds retries and removes the v1 endpoints.",
           "Give me five names for a bakery"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        with chromium() as b:
            yield b
    except BrowserMissing as exc:
        pytest.fail(str(exc))


def send(server: GatewayServer, model: str, text_: str, key: str = "k") -> str:
    raw = server.client(api_key=key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text_}])
    return str(raw.headers["x-request-id"])


def admin(server: GatewayServer, path: str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return http.get(path, headers=headers).raise_for_status().json()


def logged(server: GatewayServer, n: int, key: str | None = None) -> dict[str, Any]:
    from tests.browser import poll

    usage = poll(lambda: (u := admin(server, "/admin/usage?since=1h&by=model", key))
                 ["total"]["requests"] >= n and u)
    assert usage, f"{n} requests were not logged"
    return dict(usage)


def usd_text(s: str) -> float:
    return float(s.replace("$", ""))


def test_figures_match_admin_usage(browser: Browser,
                                   make_gateway: Callable[..., GatewayServer]) -> None:
    server = make_gateway(SIM, MODELS)
    for p in PROMPTS:
        send(server, "auto", p)
    for p in PROMPTS[:3]:
        send(server, "smart", p)
    with pytest.raises(openai.NotFoundError):
        send(server, "nope", "x")
    usage = logged(server, len(PROMPTS) + 4)
    total = usage["total"]

    seen: list[str] = []
    console: list[Any] = []
    with dashboard(browser, server.url, console=console, requests=seen) as page:
        wait_loaded(page)
        assert text(page, "#t-requests") == str(total["requests"])
        assert text(page, "#t-errors-sub") == f"{total['errors']} failed" == "1 failed"
        assert usd_text(text(page, "#t-spend")) == pytest.approx(total["cost_usd"], rel=0.05)
        for g in usage["groups"]:
            row = page.locator(f'#spend-table tr[data-key="{g["key"] or "(none)"}"] td')
            cells = row.all_inner_texts()
            assert cells[1:4] == [g["key"] or "(none)", str(g["requests"]), str(g["errors"])]
            assert usd_text(cells[4]) == pytest.approx(g["cost_usd"], rel=0.05, abs=1e-12)
        counts = [int(re.match(r"\d+", c).group()) for c in  # type: ignore[union-attr]
                  page.locator("#matrix td.cell[data-task]").all_inner_texts()]
        assert sum(counts) == len(PROMPTS), "the matrix counts what auto decided"
        assert page.locator("#reasons tbody tr").count() == 10
        assert "explicit model smart" in text(page, "#reasons")
    assert seen and all(u.startswith(server.url) or u.startswith("data:") for u in seen), seen
    errors = [m.text for m in console if m.type == "error"]
    assert [e for e in errors if "404" not in e] == [], errors  # /admin/experiments is absent


def test_the_live_feed_grows_as_requests_finish(browser: Browser,
                                                make_gateway: Callable[..., GatewayServer]) -> None:
    server = make_gateway(SIM, MODELS)
    with dashboard(browser, server.url) as page:
        wait_loaded(page)
        page.wait_for_selector('#live[data-state="live"]')
        assert page.locator("#feed tbody tr[data-id]").count() == 0
        first = [send(server, "auto", p) for p in PROMPTS[:3]]
        page.wait_for_function("() => document.querySelectorAll('#feed tr[data-id]').length >= 3")
        ids = page.locator("#feed tbody tr[data-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.id)")
        assert ids == first[::-1], "newest first"
        more = [send(server, "smart", p) for p in PROMPTS[3:5]]
        page.wait_for_function("() => document.querySelectorAll('#feed tr[data-id]').length >= 5")
        assert text(page, "#feed-count") == "5 since this page opened"
        newest = page.locator("#feed tbody tr").first.inner_text()
        assert "smart" in newest and "ok" in newest and "sim" in newest
        assert page.locator("#feed tbody tr").first.get_attribute("data-id") == more[-1]


def test_an_open_circuit_is_shown_open(browser: Browser,
                                       make_gateway: Callable[..., GatewayServer]) -> None:
    providers = {**SIM, "broken": {"kind": "simulated",
                                   "simulate": {**FAST, "failure_rate": 1.0}}}
    models = [*MODELS, {"id": "flaky", "provider": "broken"}]
    server = make_gateway(providers, models, reliability={
        "retries": 0, "circuit_breaker": {"failure_threshold": 2, "cooldown_s": 600},
        "timeouts": {"connect_s": 2, "first_token_s": 5, "total_s": 10}})
    send(server, "cheap", "hello")
    for _ in range(2):
        with pytest.raises(openai.APIStatusError):
            send(server, "flaky", "hello")
    assert admin(server, "/admin/circuits")["providers"]["broken"]["circuit"] == "open"
    logged(server, 3)
    with dashboard(browser, server.url) as page:
        wait_loaded(page)
        broken = page.locator('#circuits li[data-circuit="broken"]')
        assert broken.get_attribute("data-state") == "open"
        assert broken.locator(".pill").inner_text() == "open"
        flaky = page.locator('#circuits li[data-circuit="flaky"]')
        assert flaky.locator(".pill").inner_text() == "open"
        assert page.locator('#circuits li[data-circuit="sim"] .pill').inner_text() == "closed"
        assert text(page, "#t-errors-sub") == "2 failed"
        assert "Demo: simulated upstreams" in text(page, "#banner")


def test_the_key_is_asked_once_and_kept_for_the_session(
        browser: Browser, make_gateway: Callable[..., GatewayServer]) -> None:
    server = make_gateway(SIM, MODELS, auth=KEYS)
    send(server, "auto", "hello", key="client-secret")
    logged(server, 1, key="admin-secret")
    with dashboard(browser, server.url) as page:
        dialog = page.locator("#key-dialog")
        dialog.wait_for(state="visible")
        assert page.evaluate("document.body.dataset.loaded") is None, "nothing shown without a key"
        assert text(page, "#t-requests") == "\u2013"  # an en dash: no figure

        page.fill("#key-input", "client-secret")
        page.click("#key-submit")
        page.wait_for_function(
            "() => document.getElementById('key-reason').textContent.includes('client role')")
        assert dialog.is_visible() and page.evaluate("document.body.dataset.loaded") is None

        page.fill("#key-input", "admin-secret")
        page.click("#key-submit")
        wait_loaded(page)
        assert not dialog.is_visible()
        assert text(page, "#t-requests") == "1"
        assert page.evaluate("sessionStorage.getItem('gateway.adminKey')") == "admin-secret"
        page.wait_for_selector('#live[data-state="live"]')

        page.reload()
        wait_loaded(page)
        assert not dialog.is_visible(), "the key is kept for the tab's session"
        page.wait_for_selector('#live[data-state="live"]')
        send(server, "auto", "again", key="client-secret")
        page.wait_for_selector("#feed tr[data-id]")
        assert "team" not in page.evaluate("document.cookie"), "no cookie is set"


def test_layout_at_desktop_and_phone_sizes(browser: Browser, tmp_path: Path,
                                           make_gateway: Callable[..., GatewayServer]) -> None:
    server = make_gateway(SIM, MODELS)
    for p in PROMPTS:
        send(server, "auto", p)
    logged(server, len(PROMPTS))
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        with dashboard(browser, server.url, viewport=size) as page:
            wait_loaded(page)
            screenshot(page, tmp_path / f"{name}.png")
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], (
                f"{name}: the page scrolls sideways")
            req = page.locator("#p-requests").bounding_box()
            lat = page.locator("#p-latency").bounding_box()
            assert req is not None and lat is not None
            if name == "desktop":
                assert req["y"] == lat["y"] and lat["x"] > req["x"] + req["width"] - 1
            else:
                assert lat["y"] > req["y"] + req["height"] - 1 and lat["x"] == req["x"]
                assert req["width"] > size["width"] * 0.85
            for tile in page.locator(".tile .value").all():
                assert tile.evaluate("e => e.scrollWidth <= e.clientWidth"), (
                    f"{name}: a tile's figure is cut: {tile.inner_text()}")


def test_the_page_loads_nothing_from_elsewhere(make_gateway: Callable[..., GatewayServer]) -> None:
    server = make_gateway(SIM, MODELS)
    with httpx.Client(base_url=server.url) as http:
        page = http.get("/dashboard")
        assert page.status_code == 200 and "connect-src 'self'" in page.headers[
            "content-security-policy"]
        for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert not re.match(r"^(https?:)?//", ref), ref
            if not ref.startswith("data:"):
                assert http.get("/" + ref).status_code == 200, ref
        assert "MIT License" in http.get("/dashboard/static/vendor/chart.js-LICENSE.md").text
        assert http.get("/dashboard/").status_code in (200, 307)
