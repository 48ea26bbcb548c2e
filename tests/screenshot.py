"""The README's dashboard screenshot, taken the way the browser tests look at the page.

    python -m tests.screenshot --out docs/dashboard.png            # ~3 minutes
    python -m tests.screenshot --seconds 20 --out /tmp/quick.png

Runs the shipped `gateway.yaml` as `gateway serve --demo` does (every provider simulated; its
log in a temporary directory), sends the demo's sample traffic for `--seconds`, then opens the
dashboard in Debian's headless Chromium at 1280 px wide and saves the whole page as a PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
from pathlib import Path

import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from gateway.config import parse_config
from gateway.demo import demo_config
from gateway.demo.traffic import run_traffic
from tests.browser import DESKTOP, chromium, dashboard, screenshot, wait_loaded
from tests.gateway_server import ROOT, GatewayServer


def take(out: Path, seconds: float, rate: float = 4.0, window: str = "5m") -> Path:
    """Demo traffic for `seconds`, then a full-page PNG of the dashboard at `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        shipped = parse_config(yaml.safe_load((ROOT / "gateway.yaml").read_text()), env={})
        config = demo_config(shipped, db_url=f"sqlite+aiosqlite:///{tmp}/demo.db",
                             router_state=f"{tmp}/router.json")
        with GatewayServer(config) as server:
            stop = threading.Event()
            traffic = threading.Thread(target=lambda: asyncio.run(run_traffic(
                server.url, rate=rate, duration_s=seconds, stop=stop, seed=1)))
            traffic.start()
            with chromium() as browser, dashboard(browser, server.url, viewport=DESKTOP,
                                                  window=window) as page:
                traffic.join()  # the page was open all along: its live feed is full
                page.wait_for_timeout(6000)  # one more refresh after the last request
                wait_loaded(page)
                screenshot(page, out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    p.add_argument("--seconds", type=float, default=180)
    p.add_argument("--rate", type=float, default=4.0)
    p.add_argument("--window", default="5m")
    args = p.parse_args()
    print(take(args.out, args.seconds, args.rate, args.window))


if __name__ == "__main__":
    main()
