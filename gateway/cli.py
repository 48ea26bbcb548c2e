"""The `gateway` command: serve, route, costs, logs, check, eval, experiments, demo-traffic.

argparse rather than a CLI framework: `gateway serve` is a long-running server whose idle
memory we count, and the standard library costs nothing to import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import ConfigError, GatewayConfig, load_config

T = TypeVar("T")


def _config(path: str | None) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"config error: {line}", file=sys.stderr)
        raise SystemExit(1) from None


def _config_for(args: argparse.Namespace) -> GatewayConfig:
    """The config a command runs with: `--demo` makes it the demo's (simulated upstreams, its
    own log `gateway-demo.db`), for `serve` and for the commands that read that log."""
    config = _config(args.config)
    if getattr(args, "demo", False):
        from gateway.demo import demo_config

        config = demo_config(config)
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    config = _config_for(args)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers: must be at least 1")
    workers = args.workers or config.server.workers
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options: dict[str, Any] = dict(
        host=host, port=port, loop="uvloop", http="httptools", access_log=False,
        log_level="warning", timeout_graceful_shutdown=30, lifespan="on", backlog=2048,
    )
    if workers > 1:
        if args.demo:
            raise SystemExit("--demo serves from one process: drop --workers")
        print(f"gateway listening on http://{host}:{port}/v1 ({len(config.models)} models, "
              f"log: {shown_url(config.database.url)}, workers: {workers})", file=sys.stderr,
              flush=True)
        # uvicorn binds the port once and spawns N fresh processes that accept on it; each
        # builds its own app from the same file (the limits, budgets and circuits they share
        # live in state.url, else in a SQLite file beside the log: see gateway/state).
        os.environ["GATEWAY_CONFIG"] = str(Path(config.source).resolve())
        uvicorn.run("gateway.cli:worker_app", factory=True, workers=workers, **options)
        return 0
    try:
        app = create_app(config)
    except ConfigError as exc:  # e.g. telemetry asked for without its optional dependency
        for line in exc.errors:
            print(f"config error: {line}", file=sys.stderr)
        return 1
    server = uvicorn.Server(uvicorn.Config(app, **options))
    _settle_gc()
    print(f"gateway listening on http://{host}:{port}/v1 ({len(config.models)} models, "
          f"log: {shown_url(config.database.url)})", file=sys.stderr, flush=True)
    stop_traffic = _demo(args, config, host, port, server) if args.demo else None
    try:
        server.run()
    finally:
        if stop_traffic is not None:
            stop_traffic()
    return 0


def worker_app() -> Any:
    """One worker process of `gateway serve --workers N`: the app, from $GATEWAY_CONFIG."""
    from gateway.app import create_app

    config = _config(None)
    if config.server.workers < 2:  # tells build_state it is not alone
        config = config.model_copy(
            update={"server": config.server.model_copy(update={"workers": 2})})
    app = create_app(config)
    _settle_gc()
    return app


def _settle_gc() -> None:
    # Long-lived request objects make CPython's young-generation collections frequent and
    # costly under load (~0.25 ms a request measured); freeze what startup built, collect less.
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _demo(args: argparse.Namespace, config: GatewayConfig, host: str, port: int,
          server: Any) -> Any:
    """Say loudly that answers are simulated; start the sample traffic unless told not to."""
    from gateway.demo.traffic import start_in_background

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"DEMO: every provider is SIMULATED: no real model is called, every answer says so.\n"
          f"      dashboard: http://{shown}:{port}/dashboard#5m", file=sys.stderr, flush=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per sample request
    if args.demo_traffic <= 0:
        return None
    print(f"      sending sample traffic, {args.demo_traffic:g} requests/s "
          "(--demo-traffic 0 to stop it)", file=sys.stderr, flush=True)
    key = config.auth.api_keys[0].key if config.auth.api_keys else None
    return start_in_background(f"http://{shown}:{port}", lambda: bool(server.started), key=key,
                               rate=args.demo_traffic)


def cmd_demo_traffic(args: argparse.Namespace) -> int:
    import httpx

    from gateway.demo.traffic import Tally, run_traffic

    def report(t: Tally) -> None:
        if t.sent % 10 == 0:
            print(f"demo traffic: {t.sent} requests, {t.failed} failed", flush=True)

    try:
        tally = asyncio.run(run_traffic(args.url, key=args.key, rate=args.rate,
                                        duration_s=args.duration, report=report))
    except httpx.HTTPError as exc:
        print(f"demo-traffic: cannot use the gateway at {args.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"demo traffic: {tally.sent} requests, {tally.ok} answered, {tally.failed} failed")
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    from gateway.errors import GatewayError
    from gateway.health import Health
    from gateway.plan import Planner
    from gateway.resilience.breaker import Breakers
    from gateway.resilience.probe import LocalProbe
    from gateway.routing import Router, render_decision
    from gateway.usage.pricing import PriceBook, with_prices

    config = _config(args.config)
    config = with_prices(config, PriceBook(config.providers))
    # Probe the local servers once, as the running gateway would have: a decision for a local
    # model must not silently assume a server that is switched off.
    probe = LocalProbe(config)
    asyncio.run(probe.probe_once())
    breakers = Breakers(config.reliability.circuit_breaker, config.providers,
                        ((m.id, m.provider) for m in config.models))
    planner = Planner(config, Router(config), Health(config, breakers, probe))
    body = {"model": "auto", "messages": [{"role": "user", "content": " ".join(args.text)}]}
    name = f"auto:{args.profile}" if args.profile else "auto"
    try:
        decision = planner.decide(body, name, None)
    except GatewayError as exc:
        print(f"no route: {exc.message}", file=sys.stderr)
        for provider, state in probe.summary().items():
            print(f"local server {provider}: {state}", file=sys.stderr)
        return 1
    if args.json:
        out = decision.to_json()
        out["local_servers"] = probe.summary()
        print(json.dumps(out, indent=2))
    else:
        print(render_decision(decision))
        for provider, state in probe.summary().items():
            print(f"local server {provider}: {state}")
    return 0


def _since(text: str | None) -> Any:
    from gateway.usage.reports import parse_since

    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise SystemExit(f"--since: {exc}") from None


def shown_url(url: str) -> str:
    """A database URL as it may be printed: without its password."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _read_log(config: GatewayConfig, read: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a read of the request log; a log that cannot be reached is an error naming it."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return asyncio.run(read())
    except (SQLAlchemyError, OSError) as exc:
        url = shown_url(config.database.url)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise SystemExit(f"database.url: cannot read the request log at {url}: {reason}") from None


def cmd_costs(args: argparse.Namespace) -> int:
    from gateway.usage.render import render_costs
    from gateway.usage.reports import LogReader

    config = _config_for(args)

    async def run() -> dict[str, Any]:
        reader = LogReader.from_config(config.database)
        try:
            return await reader.usage_report(_since(args.since), args.by)
        finally:
            await reader.aclose()

    report = _read_log(config, run)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        from gateway.usage.render import to_text

        print(to_text(render_costs(report)))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from gateway.usage.render import render_logs
    from gateway.usage.reports import LogReader

    config = _config_for(args)

    async def run() -> list[dict[str, Any]]:
        reader = LogReader.from_config(config.database)
        try:
            return await reader.recent(args.tail, None)
        finally:
            await reader.aclose()

    rows = _read_log(config, run)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        from gateway.demo import DEMO_DB_URL
        from gateway.usage.schema import sqlite_file

        empty = f"no requests in the log yet ({shown_url(config.database.url)})"
        demo_log = sqlite_file(DEMO_DB_URL)
        if not args.demo and demo_log is not None and demo_log.exists():
            empty += f"; `gateway logs --demo` reads the demo's ({demo_log})"
        print(render_logs(rows) or empty)
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    from gateway.experiments.report import experiments_report
    from gateway.usage.reports import LogReader

    config = _config_for(args)
    since = _since(args.since)

    async def run() -> dict[str, Any]:
        reader = LogReader.from_config(config.database)
        try:
            return await experiments_report(reader, config.experiments, since)
        finally:
            await reader.aclose()

    report = asyncio.run(run())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from rich.console import Console

        from gateway.experiments.render import render_experiments

        Console().print(render_experiments(report))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from gateway.check import run_check

    config = _config(args.config)
    print(f"config {config.source}: valid ({len(config.providers)} providers, "
          f"{len(config.models)} models)")
    return asyncio.run(run_check(config))


def cmd_eval(args: argparse.Namespace) -> int:
    from gateway.evaluate import MissingExtra, render_eval, run_eval

    config = load_config(args.config) if args.config else None
    if args.consensus_bound:
        from gateway.evaluate.consensus_bound import consensus_bound, render_bound

        bound = consensus_bound(args.data, train=args.train, models=args.models, config=config,
                                **({"split_seed": args.split_seed} if args.split_seed else {}))
        print(json.dumps(bound, indent=2) if args.json else render_bound(bound))
        return 0
    try:
        seed = {"split_seed": args.split_seed} if args.split_seed else {}
        result = run_eval(data=args.data, train=args.train, models=args.models, config=config,
                          png=args.png, save_state=args.save_state, **seed)
    except MissingExtra as exc:
        print(f"gateway eval: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else render_eval(result))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="OpenAI-compatible LLM gateway")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help)
        c.add_argument("--config", help="gateway.yaml (default: $GATEWAY_CONFIG or ./gateway.yaml)")
        return c

    c = command("serve", "run the server")
    c.add_argument("--host")
    c.add_argument("--port", type=int)
    c.add_argument("--workers", type=int, help="worker processes sharing the port "
                   "(default: server.workers, 1)")
    c.add_argument("--demo", action="store_true",
                   help="serve the configured models on simulated upstreams (no key, no model "
                        "needed), logging to gateway-demo.db, with sample traffic")
    c.add_argument("--demo-traffic", type=float, default=2.0, metavar="RATE",
                   help="with --demo: sample requests per second (0: none; default 2)")
    c.set_defaults(func=cmd_serve)

    c = sub.add_parser("demo-traffic", help="send a trickle of varied sample requests to a "
                       "gateway (to watch its dashboard fill)")
    c.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway's base URL")
    c.add_argument("--key", help="the gateway's API key, when auth is on")
    c.add_argument("--rate", type=float, default=2.0, help="requests per second (default 2)")
    c.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    c.set_defaults(func=cmd_demo_traffic)

    c = command("route", "print the routing decision for a prompt (no upstream call)")
    c.add_argument("--json", action="store_true")
    c.add_argument("--profile", choices=["balanced", "cheap", "best", "fast", "local"])
    c.add_argument("text", nargs="+")
    c.set_defaults(func=cmd_route)

    def reads_log(c: argparse.ArgumentParser) -> None:
        c.add_argument("--demo", action="store_true",
                       help="read the log `gateway serve --demo` writes (gateway-demo.db)")

    c = command("costs", "cost report from the request log")
    reads_log(c)
    c.add_argument("--since", help="24h, 7d, 30d or an ISO date/time")
    c.add_argument("--by", default="model", choices=["model", "provider", "task", "day", "key"])
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_costs)

    c = command("logs", "the newest requests, one a line")
    reads_log(c)
    c.add_argument("--tail", type=int, default=20)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_logs)

    c = command("check", "validate the config and probe each provider")
    c.set_defaults(func=cmd_check)

    c = command("experiments", "the A/B experiments report: per arm figures, 95 %% intervals, "
                "significance")
    reads_log(c)
    c.add_argument("--since", help="24h, 7d, 30d or an ISO date/time (default: all time)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_experiments)

    c = command("eval", "replay recorded outcomes through the router")
    c.add_argument("--data", required=True)
    c.add_argument("--train")
    c.add_argument("--models", help="JSON price file (USD per Mtok per model)")
    c.add_argument("--png", help="where to write the cost-quality curve")
    c.add_argument("--save-state", help="write the learned router state here (the file "
                   "routing.learn.state_path names is what `serve` loads at start)")
    c.add_argument("--split-seed", help="another deterministic 50/50 split (when no --train "
                   "is given), to see how much the figures vary")
    c.add_argument("--consensus-bound", action="store_true", help="instead: the most three "
                   "parallel legs could buy with a perfect judge (an upper bound)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
