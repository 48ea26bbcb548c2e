"""Configs the routing tests share: a local model, three hosted ones on two providers."""

from __future__ import annotations

from typing import Any

from gateway.config import GatewayConfig, parse_config

ALL_CAPS = ["tools", "vision", "json", "streaming"]


def model(
    id: str, provider: str, price: tuple[float, float], quality: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "provider": provider,
        "input_usd_per_mtok": price[0],
        "output_usd_per_mtok": price[1],
        "quality": quality,
        **extra,
    }


def make_config(models: list[dict[str, Any]] | None = None, **routing: Any) -> GatewayConfig:
    """The standard test fleet unless `models` is given. Exploration is off unless a test
    turns it on (`explore_share=...`): most tests assert where a request goes."""
    if models is None:
        models = [
            model(
                "local-small",
                "lmstudio",
                (0, 0),
                {"default": 0.62, "code": 0.6},
                tags=["local"],
                context_window=8192,
                capabilities=["streaming", "json"],
                latency_ms=250,
            ),
            model(
                "mini",
                "openai",
                (0.15, 0.6),
                {"default": 0.78, "code": 0.8},
                context_window=128000,
                capabilities=ALL_CAPS,
                latency_ms=450,
                fallbacks=["sonnet"],
            ),
            model(
                "big",
                "openai",
                (2.5, 10.0),
                {"default": 0.88, "code": 0.9, "math": 0.9},
                context_window=128000,
                capabilities=ALL_CAPS,
                latency_ms=700,
            ),
            model(
                "sonnet",
                "anthropic",
                (3.0, 15.0),
                {"default": 0.92, "code": 0.95},
                context_window=200000,
                capabilities=ALL_CAPS,
                latency_ms=900,
                aliases=["claude"],
            ),
        ]
    raw: dict[str, Any] = {
        "providers": {
            "lmstudio": {"kind": "openai", "base_url": "http://127.0.0.1:1234/v1"},
            "openai": {"kind": "openai", "api_key": "sk-test"},
            "anthropic": {"kind": "anthropic", "api_key": "sk-ant-test"},
        },
        "models": models,
    }
    raw["routing"] = {"explore_share": 0.0, **routing}
    return parse_config(raw, env={})


def user(text: str, **body: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **body}
