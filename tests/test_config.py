"""gateway.yaml -> GatewayConfig: env expansion, defaults, and errors that name their YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from gateway.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def minimal(**extra: object) -> dict:
    return {"providers": {"p": {"kind": "openai", "base_url": "http://x/v1"}},
            "models": [{"id": "m", "provider": "p"}], **extra}


def test_shipped_config_is_valid():
    config = load_config(ROOT / "gateway.yaml")
    ids = {m.id for m in config.models}
    assert "local" in ids
    kinds = {p.kind for p in config.providers.values()}
    assert {"openai", "anthropic", "gemini", "mistral", "cohere"} <= kinds
    local = config.model("local")
    assert local is not None and local.is_local and local.input_usd_per_mtok == 0
    assert config.providers["lmstudio"].base_url == "http://localhost:1234/v1"


def test_env_expansion_with_defaults():
    raw = minimal(providers={"p": {"kind": "openai", "base_url": "${URL:-http://d/v1}",
                                   "api_key": "${KEY}"}})
    config = parse_config(raw, env={"KEY": "sk-1"})
    assert config.providers["p"].base_url == "http://d/v1"
    assert config.providers["p"].api_key == "sk-1"
    assert config.providers["p"].api_key_env == "KEY"
    unset = parse_config(raw, env={})
    assert unset.providers["p"].api_key is None and not unset.providers["p"].has_key


def test_keyless_local_provider_is_usable():
    config = parse_config(minimal(), env={})
    assert config.providers["p"].has_key


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["models"][0].update(provider="antrhopic"),
     "models[0].provider: unknown provider 'antrhopic'"),
    (lambda r: r["providers"]["p"].update(kind="opnai"), "providers.p.kind: unknown kind 'opnai'"),
    (lambda r: r["models"][0].update(quality={"cooking": 0.5}),
     "models[0].quality: unknown task 'cooking'"),
    (lambda r: r["models"][0].update(quality=1.5), "must be between 0 and 1"),
    (lambda r: r["models"][0].update(fallbacks=["ghost"]),
     "models[0].fallbacks[0]: unknown model 'ghost'"),
    (lambda r: r["models"][0].update(context_window="big"), "models[0].context_window:"),
    (lambda r: r.update(models=[]), "models: at least one model is required"),
    (lambda r: r["models"][0].update(id="auto"), "reserved for routing"),
    (lambda r: r.update(budgets={"on_exceed": "panic"}), "budgets.on_exceed:"),
    (lambda r: r.update(server={"prot": 1}), "server.prot:"),
    (lambda r: r.update(auth={"api_keys": [{"name": "a", "key": "k"}, {"name": "a", "key": "j"}]}),
     "auth.api_keys: key names must be unique"),
    (lambda r: r.update(auth={"api_keys": [{"name": "a", "key": "k", "role": "client"},
                                           {"name": "b", "key": "k"}]}),
     "auth.api_keys[1].key: the same key as auth.api_keys[0] ('a')"),
    (lambda r: r.update(auth={"api_keys": [{"name": "a", "key": "k", "role": "owner"}]}),
     "auth.api_keys[0].role: Input should be 'admin' or 'client'"),
])
def test_errors_name_the_yaml_path(mutate, message):
    raw = minimal()
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert any(message in line for line in info.value.errors), info.value.errors


def test_config_is_frozen():
    config = parse_config(minimal(), env={})
    with pytest.raises(ValidationError):
        config.models[0].id = "x"  # type: ignore[misc]


def test_timeouts_resolve_global_then_provider_then_model():
    raw = minimal(reliability={"timeouts": {"connect_s": 1, "first_token_s": 2, "total_s": 3}})
    raw["providers"]["p"]["timeouts"] = {"first_token_s": 20}
    raw["models"][0]["timeouts"] = {"total_s": 30}
    t = parse_config(raw, env={}).timeouts_for(parse_config(raw, env={}).models[0])
    assert (t.connect_s, t.first_token_s, t.total_s) == (1, 20, 30)


def test_load_config_reports_unreadable_and_invalid_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(minimal()))
    assert load_config(good).models[0].id == "m"


def test_a_snapshot_date_names_the_model_it_dates() -> None:
    from gateway.config import undated

    assert undated("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert undated("gpt-4.1-2025-04-14") == "gpt-4.1"
    assert undated("claude-sonnet-4-5") is None and undated("20250929") is None
    config = parse_config({
        "providers": {"p": {"kind": "openai", "api_key": "k"}},
        "models": [{"id": "gpt-4.1", "provider": "p"},
                   {"id": "gpt-4.1-2025-04-14", "provider": "p", "upstream": "pinned"}]}, env={})
    assert config.model("gpt-4.1-2099-01-01").id == "gpt-4.1"  # type: ignore[union-attr]
    assert config.model("gpt-4.1-2025-04-14").upstream == "pinned"  # type: ignore[union-attr]
    assert config.model("gpt-5-2099-01-01") is None


def test_the_shipped_config_serves_claude_codes_model_names() -> None:
    """Claude Code asks for dated snapshots of each tier; the shipped config names them all."""
    config = load_config(ROOT / "gateway.yaml")
    for asked, served in (("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
                          ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
                          ("claude-opus-4-5-20251101", "claude-opus-4-5"),
                          ("claude-opus-4-1-20250805", "claude-opus-4-1")):
        model = config.model(asked)
        assert model is not None and model.id == served and model.provider == "anthropic"
