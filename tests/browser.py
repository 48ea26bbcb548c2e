"""A real browser for tests and the README screenshot: Debian's headless Chromium under Playwright.

Playwright drives the system Chromium (`apt-get install -y chromium`), never a browser of its
own (`playwright install` downloads one; nothing here may). A missing Chromium or Playwright is
an error naming the command that installs it: the dashboard's tests fail, they do not skip.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class BrowserMissing(RuntimeError):
    pass


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise BrowserMissing(f"{CHROMIUM} not found: the dashboard's browser tests need Debian's "
                             "Chromium (apt-get install -y chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserMissing("Playwright for Python is not installed: pip install '.[test]'") from None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def dashboard(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP,
              key: str | None = None, window: str | None = None,
              console: list[Any] | None = None, requests: list[str] | None = None,
              ) -> Iterator[Page]:
    """A fresh tab on the dashboard: a key already in its session, a time `window` ("5m"),
    when given; its console messages and every URL it requests collected, when asked."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    if console is not None:
        page.on("console", lambda m: console.append(m))
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    if key is not None:
        page.add_init_script(f"sessionStorage.setItem('gateway.adminKey', {key!r});")
    try:
        page.goto(f"{base_url}/dashboard" + (f"#{window}" if window else ""))
        yield page
    finally:
        context.close()


def wait_loaded(page: Page, after: float = 0.0, timeout_s: float = 20) -> None:
    """Until every panel has been drawn (again, after `after`, a Date.now() in ms)."""
    page.wait_for_function(
        f"() => Number(document.body.dataset.loaded || 0) > {after!r}", timeout=timeout_s * 1000)


def refreshed(page: Page) -> None:
    """Wait for the next full refresh of the panels."""
    now = page.evaluate("Date.now()")
    wait_loaded(page, now)


def screenshot(page: Page, path: Path, full_page: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def text(page: Page, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def poll(check: Any, timeout_s: float = 15, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every_s)
