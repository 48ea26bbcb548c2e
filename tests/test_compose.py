"""compose.yaml cannot run here (no Docker engine), so its agreement with the shipped
gateway.yaml, the Dockerfile and the README is checked instead: the gateways' environment read
through gateway.yaml points the log at the compose PostgreSQL and the state at its Redis."""

from __future__ import annotations

import re
from typing import Any

import yaml
from sqlalchemy import make_url

from gateway.config import parse_config
from gateway.config.load import expand_env
from tests.gateway_server import ROOT


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def dockerfile_env() -> dict[str, str]:
    """The image's ENV block (`KEY=value` pairs over continuation lines)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    block = next(line for line in text.splitlines() if line.startswith("ENV "))
    return dict(pair.split("=", 1) for pair in block.split()[1:])


def test_both_gateways_share_the_compose_postgresql_and_redis() -> None:
    tree = compose()
    services = tree["services"]
    gateways = {n: s for n, s in services.items() if s.get("build") == "."}
    assert sorted(gateways) == ["gateway-a", "gateway-b"]
    pg = services["postgres"]["environment"]
    raw = yaml.safe_load((ROOT / "gateway.yaml").read_text())
    image = dockerfile_env()
    ports = set()
    for service in gateways.values():
        env = {**image, **expand_env(service["environment"], {})}
        config = parse_config(raw, env=env)
        db = make_url(config.database.url)
        assert (db.drivername, db.host, db.username, db.password, db.database) == (
            "postgresql+asyncpg", "postgres", pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"])
        assert config.state.url == "redis://redis:6379/0"
        assert (config.server.host, config.server.port) == ("0.0.0.0", 8080)
        published, _, inside = service["ports"][0].partition(":")
        assert int(inside) == config.server.port
        ports.add(int(published))
        assert set(service["depends_on"]) == {"postgres", "redis"}
        # docker stops with SIGTERM, then SIGKILL after the grace period: longer than the
        # gateway's own graceful shutdown (30 s), so rows of requests in flight are written
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace is not None and int(grace.group(1)) > 30
    assert "--appendonly" in services["redis"]["command"]  # counters survive a Redis restart
    readme = (ROOT / "README.md").read_text()
    assert f"ports {min(ports)} and {max(ports)}" in readme
