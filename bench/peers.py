"""Benchmark peers: install LiteLLM's proxy and Portkey's gateway on first use, and configure them.

Each lives beside this file and is gitignored: LiteLLM in its own venv (`.venv-litellm`, so its
pins never touch the gateway's), Portkey as an npm package (`.portkey`). Both are pointed at the
same fake upstream as the gateway.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".venv-litellm"
# Newer 1.10x releases need a certifi the reachable registry does not have; this one installs.
LITELLM_SPEC = "litellm[proxy]==1.102.4"
LITELLM_MASTER_KEY = "sk-bench-master"
PORTKEY_DIR = HERE / ".portkey"
PORTKEY_SPEC = "^1.15.2"
# Portkey streams fail ("TypeError: immutable", Portkey-AI/gateway#1389) with the @hono/node-server
# npm resolves by default (1.19): its Response keeps fetch's immutable headers, which Portkey then
# appends to. 1.13.8 predates that; pinned so streaming TTFT can be measured at all.
PORTKEY_HONO_PIN = "1.13.8"
PORTKEY_ENTRY = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/build/start-server.js"
_HONO_PKG = PORTKEY_DIR / "node_modules/@hono/node-server/package.json"


def ensure_litellm() -> Path:
    """The `litellm` CLI of the bench's own venv, created on first use."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing {LITELLM_SPEC} into {LITELLM_VENV} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True, timeout=300)
    subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", LITELLM_SPEC],
                   check=True, timeout=1200)
    return exe


def _hono_version() -> str:
    try:
        return str(json.loads(_HONO_PKG.read_text()).get("version", ""))
    except (OSError, ValueError):
        return ""


def ensure_portkey() -> Path:
    """Portkey's node entry point, npm-installed with the pinned @hono/node-server."""
    if PORTKEY_ENTRY.exists() and _hono_version() == PORTKEY_HONO_PIN:
        return PORTKEY_ENTRY
    print(f"installing @portkey-ai/gateway@{PORTKEY_SPEC} into {PORTKEY_DIR} (once)", flush=True)
    PORTKEY_DIR.mkdir(exist_ok=True)
    # Written by hand: `npm init` rejects a directory whose name starts with '.'.
    pkg = {"name": "bench-portkey", "private": True,
           "dependencies": {"@portkey-ai/gateway": PORTKEY_SPEC,
                            "@hono/node-server": PORTKEY_HONO_PIN},
           "overrides": {"@hono/node-server": PORTKEY_HONO_PIN}}
    (PORTKEY_DIR / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=PORTKEY_DIR, check=True,
                   timeout=1200, stdout=subprocess.DEVNULL)
    return PORTKEY_ENTRY


def litellm_config(path: Path, upstream_v1: str, model: str) -> Path:
    """A proxy config routing `model` to the fake; master key set, no database."""
    path.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream_v1}\n"
        "      api_key: sk-fake\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
    )
    return path


def litellm_command(exe: Path, config: Path, port: int) -> list[str]:
    return [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", "1"]


LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


def portkey_command(entry: Path, port: int) -> list[str]:
    # --headless: no web UI and no log-streaming to it; Portkey reads only `--port=N`.
    return ["node", str(entry), f"--port={port}", "--headless"]


def portkey_headers(upstream_v1: str) -> dict[str, str]:
    return {"Authorization": "Bearer sk-fake", "x-portkey-provider": "openai",
            "x-portkey-custom-host": upstream_v1}
