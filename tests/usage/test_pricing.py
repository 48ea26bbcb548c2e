"""Pricing: config prices, litellm's bundled map (read without importing litellm), cache rates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ModelConfig, ProviderConfig
from gateway.usage.pricing import PriceBook, find_price_map, split_prompt
from providers.base import Usage

ROOT = Path(__file__).resolve().parents[2]


def model(**kw: Any) -> ModelConfig:
    return ModelConfig(**{"id": "m", "provider": "p", **kw})


def usage(prompt: int, completion: int, **raw: Any) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, raw=raw)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    providers = {
        "openai": ProviderConfig(name="openai", kind="openai"),
        "mistral": ProviderConfig(name="mistral", kind="mistral"),
        "groq": ProviderConfig(name="groq", kind="litellm", litellm_provider="groq"),
    }
    return PriceBook(providers)


@pytest.mark.parametrize(
    ("prompt", "completion", "inp", "out", "expected"),
    [
        (1000, 500, 3.0, 15.0, 0.0105),
        (1, 1, 0.1, 0.4, 0.0000005),
        (123_456, 7_890, 2.5, 10.0, 0.38754),
        (0, 0, 3.0, 15.0, 0.0),
        (1, 0, 0.000_000_1, 0, 0.0),  # below 1e-10: rounds away
        (3, 0, 0.1, 0, 0.0000003),  # 0.1 * 3 is not 0.30000000000000004 here
    ],
)
def test_config_prices_are_exact(
    book: PriceBook, prompt: int, completion: int, inp: float, out: float, expected: float
) -> None:
    m = model(input_usd_per_mtok=inp, output_usd_per_mtok=out)
    assert book.cost_usd(m, usage(prompt, completion)) == (expected, None)


def test_litellm_map_prices_a_known_model(book: PriceBook) -> None:
    gpt4o = model(id="gpt-4o", provider="openai")  # $2.50 in, $10 out per Mtok
    assert book.cost_usd(gpt4o, usage(1000, 500)) == (0.0075, None)
    price = book.price(gpt4o)
    assert price is not None and price.source == "litellm"
    assert (float(price.input), float(price.output)) == (2.5, 10.0)


def test_litellm_map_is_searched_with_the_provider_prefix(book: PriceBook) -> None:
    # Only "mistral/mistral-large-latest" is in the map; the upstream name is bare.
    large = model(id="large", provider="mistral", upstream="mistral-large-latest")
    cost, note = book.cost_usd(large, usage(1_000_000, 1_000_000))
    assert note is None and cost is not None and cost > 0


def test_an_upstream_with_a_prefix_is_found_too(book: PriceBook) -> None:
    prefixed = model(id="x", provider="openai", upstream="openai/gpt-4o")
    assert book.cost_usd(prefixed, usage(1000, 500)) == (0.0075, None)


def test_config_overrides_one_field_and_litellm_fills_the_other(book: PriceBook) -> None:
    m = model(id="gpt-4o", provider="openai", input_usd_per_mtok=1.0)
    assert book.cost_usd(m, usage(1000, 1000)) == (0.011, None)  # 1.0 in + 10.0 out


def test_local_models_cost_nothing(book: PriceBook) -> None:
    local = model(id="qwen", upstream="qwen2.5-7b-instruct", tags=frozenset({"local"}))
    assert book.cost_usd(local, usage(10_000, 5_000)) == (0.0, None)


def test_unknown_model_has_no_cost_and_says_why(book: PriceBook) -> None:
    m = model(id="mystery", upstream="mystery-model-9000")
    assert book.cost_usd(m, usage(10, 10)) == (
        None,
        "no price for 'mystery-model-9000' in config or litellm's price map",
    )


def test_openai_cached_tokens_use_the_cached_rate(book: PriceBook) -> None:
    gpt4o = model(id="gpt-4o", provider="openai")  # cached reads $1.25/Mtok
    u = usage(1000, 100, prompt_tokens=1000, prompt_tokens_details={"cached_tokens": 400})
    # 600 * 2.5 + 400 * 1.25 + 100 * 10 = 1500 + 500 + 1000 = 3000 per 1e6
    assert book.cost_usd(gpt4o, u) == (0.003, None)


def test_anthropic_cache_reads_and_writes_use_their_rates(book: PriceBook) -> None:
    sonnet = model(id="sonnet", provider="anthropic", upstream="claude-sonnet-4-5")
    # input 3, output 15, cache read 0.30, cache write 3.75 per Mtok
    native = usage(
        100, 50, input_tokens=100, cache_read_input_tokens=1000, cache_creation_input_tokens=200
    )
    # 100 * 3 + 1000 * 0.3 + 200 * 3.75 + 50 * 15 = 300 + 300 + 750 + 750 = 2100 per 1e6
    assert book.cost_usd(sonnet, native) == (0.0021, None)
    # The same call as an OpenAI-shaped usage whose prompt_tokens already include the cache.
    summed = usage(1300, 50, cache_read_input_tokens=1000, cache_creation_input_tokens=200)
    assert book.cost_usd(sonnet, summed) == (0.0021, None)


def test_configured_cached_rate_wins(book: PriceBook) -> None:
    m = model(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0, cached_input_usd_per_mtok=0.5)
    u = usage(1000, 0, prompt_tokens_details={"cached_tokens": 1000})
    assert book.cost_usd(m, u) == (0.0005, None)
    no_rate = model(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0)
    assert book.cost_usd(no_rate, u) == (0.002, None)  # no cached rate: full input price


@pytest.mark.parametrize(
    ("u", "split"),
    [
        (usage(100, 0), (100, 0, 0)),
        (usage(100, 0, prompt_tokens_details={"cached_tokens": 30}), (70, 30, 0)),
        (usage(100, 0, prompt_tokens_details={"cached_tokens": 500}), (0, 100, 0)),  # clamped
        (usage(100, 0, prompt_tokens_details=None), (100, 0, 0)),
        (usage(10, 0, input_tokens=10, cache_read_input_tokens=5), (10, 5, 0)),
        (usage(15, 0, input_tokens=10, cache_read_input_tokens=5), (10, 5, 0)),
        (usage(10, 0, cache_creation_input_tokens="7"), (3, 0, 7)),
    ],
)
def test_split_prompt(u: Usage, split: tuple[int, int, int]) -> None:
    assert split_prompt(u) == split


def test_an_injected_map_is_used_and_bad_entries_ignored() -> None:
    prices = {
        "cheap": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7},
        "broken": {"output_cost_per_token": 1e-6},
    }
    book = PriceBook(price_map=prices)
    assert book.cost_usd(model(upstream="cheap"), usage(1_000_000, 1_000_000)) == (0.3, None)
    assert book.cost_usd(model(upstream="broken"), usage(1, 1))[0] is None


def test_a_map_file_that_cannot_be_read_leaves_config_prices(tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text("{not json")
    book = PriceBook(price_map=bad)
    assert book.cost_usd(model(upstream="gpt-4o"), usage(1, 1))[0] is None
    priced = model(input_usd_per_mtok=1, output_usd_per_mtok=1)
    assert book.cost_usd(priced, usage(1_000_000, 0)) == (1.0, None)


def test_warming_lets_the_map_go_and_a_model_priced_later_still_finds_it(
        tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({
        "a": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
        "b": {"input_cost_per_token": 3e-6, "output_cost_per_token": 4e-6}}))
    book = PriceBook(price_map=path)
    book.warm([model(upstream="a")])
    path.write_text(json.dumps({  # read again for `b`: the file as it is now
        "b": {"input_cost_per_token": 5e-6, "output_cost_per_token": 6e-6}}))
    assert book.cost_usd(model(upstream="a"), usage(1_000_000, 0)) == (1.0, None)
    assert book.cost_usd(model(upstream="b"), usage(1_000_000, 0)) == (5.0, None)


def test_the_price_map_ships_with_litellm() -> None:
    path = find_price_map()
    assert path is not None and path.name == "model_prices_and_context_window_backup.json"
    assert "gpt-4o" in json.loads(path.read_bytes())


def test_pricing_never_imports_litellm() -> None:
    code = (
        "import sys\n"
        "from gateway.config import ModelConfig\n"
        "from gateway.usage.pricing import PriceBook\n"
        "from providers.base import Usage\n"
        "book = PriceBook()\n"
        "m = ModelConfig(id='gpt-4o', provider='openai')\n"
        "assert book.cost_usd(m, Usage(1000, 500)) == (0.0075, None)\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_litellm_cache_rates_apply_when_its_prices_were_copied_into_the_config(
    book: PriceBook,
) -> None:
    # The app fills missing prices from the map; the cached rate must survive that.
    copied = model(id="gpt-4o", provider="openai", input_usd_per_mtok=2.5, output_usd_per_mtok=10)
    u = usage(1000, 0, prompt_tokens_details={"cached_tokens": 1000})
    assert book.cost_usd(copied, u) == (0.00125, None)
    # A different configured input price: litellm's cache rate no longer applies.
    own = model(id="gpt-4o", provider="openai", input_usd_per_mtok=3.0, output_usd_per_mtok=10)
    assert book.cost_usd(own, u) == (0.003, None)


def test_anthropic_usage_as_our_adapter_reports_it(book: PriceBook) -> None:
    sonnet = model(id="sonnet", provider="anthropic", upstream="claude-sonnet-4-5")
    # providers/anthropic_response.usage_of: prompt = fresh + read + write, details + extras.
    u = usage(
        1300,
        50,
        prompt_tokens=1300,
        completion_tokens=50,
        prompt_tokens_details={"cached_tokens": 1000, "cache_write_tokens": 200},
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=200,
    )
    assert split_prompt(u) == (100, 1000, 200)
    assert book.cost_usd(sonnet, u) == (0.0021, None)


def test_warm_resolves_prices_up_front() -> None:
    book = PriceBook(price_map={"a": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
    book.warm([model(upstream="a")])
    price = book.price(model(upstream="a"))
    assert price is not None and (float(price.input), float(price.output)) == (1.0, 2.0)
    assert price.source == "litellm"
