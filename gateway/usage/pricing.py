"""Pricing: what one answered request cost, from the config's prices or litellm's bundled map.

Prices come, per field, from the model's config (`input_usd_per_mtok`, ...), else from the price
map that ships inside the installed litellm package, read as plain JSON: importing litellm takes
seconds and hundreds of MB, which the server must not pay to price a request. Models tagged
`local` cost nothing. Arithmetic is done in `Decimal` so that 1,000 tokens at $2.50/Mtok is
exactly $0.0025, then rounded to 10 decimals.

Token conventions (see `PriceBook.cost_usd`): OpenAI's `prompt_tokens` *includes* the cached
tokens reported in `prompt_tokens_details.cached_tokens`; Anthropic's native `input_tokens`
*excludes* `cache_read_input_tokens` and `cache_creation_input_tokens`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, ModelConfig, ProviderConfig
from providers.base import Usage

log = logging.getLogger("gateway.usage")

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"
_MTOK = Decimal(1_000_000)
_PLACES = Decimal("1e-10")

@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cached reads/writes fall back to the input price when unknown."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None  # cache reads (OpenAI cached_tokens, Anthropic reads)
    cache_write: Decimal | None = None  # Anthropic cache_creation_input_tokens
    source: str = "config"  # config | litellm | local

    def cost(self, usage: Usage) -> float:
        """USD for `usage`, rounded to 10 decimals."""
        fresh, cached, written = split_prompt(usage)
        total = (
            fresh * self.input
            + cached * (self.cached_input if self.cached_input is not None else self.input)
            + written * (self.cache_write if self.cache_write is not None else self.input)
            + max(usage.completion_tokens, 0) * self.output
        ) / _MTOK
        return float(total.quantize(_PLACES))


def split_prompt(usage: Usage) -> tuple[int, int, int]:
    """(uncached, cache-read, cache-write) prompt tokens of an upstream usage."""
    raw = usage.raw or {}
    details = raw.get("prompt_tokens_details") or {}
    if not isinstance(details, Mapping):
        details = {}
    cached = _int(details.get("cached_tokens"))
    read = _int(raw.get("cache_read_input_tokens"))
    written = max(
        _int(raw.get("cache_creation_input_tokens")), _int(details.get("cache_write_tokens"))
    )
    prompt = max(usage.prompt_tokens, 0)
    if (read or written) and "input_tokens" in raw and prompt == _int(raw["input_tokens"]):
        # Anthropic's native shape: input_tokens counts only the uncached part.
        return prompt, read, written
    hits = max(cached, read)
    hits = min(hits, prompt)
    written = min(written, prompt - hits)
    return prompt - hits - written, hits, written


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def _dec(value: Any, scale: Decimal = Decimal(1)) -> Decimal | None:
    """A price as Decimal via its shortest repr (2.5e-06 -> 2.5E-6, not 2.4999...)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(repr(value)) * scale


def find_price_map() -> Path | None:
    """Path of litellm's bundled price map, found without importing litellm."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / PRICE_MAP_FILE
        if path.is_file():
            return path
    return None


class PriceBook:
    """Prices for the configured models; built once by the app, loads litellm's map lazily.

    `cost_usd(model, usage)` returns ``(usd, None)``, or ``(None, note)`` saying why the cost is
    unknown. `price(model)` gives the per-Mtok prices (for routing estimates) or None.
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig] | None = None,
        price_map: Mapping[str, Any] | Path | None = None,
    ) -> None:
        self._providers = dict(providers or {})
        self._map: Mapping[str, Any] | None = None
        self._map_path: Path | None = None
        if isinstance(price_map, Path):
            self._map_path = price_map
        elif price_map is not None:
            self._map = price_map
        self._cache: dict[str, Price | None] = {}
        self._loaded = False  # the map in memory was read from a file (and may be let go)

    def cost_usd(self, model: ModelConfig, usage: Usage) -> tuple[float | None, str | None]:
        price = self.price(model)
        if price is None:
            name = model.upstream or model.id
            return None, f"no price for {name!r} in config or litellm's price map"
        return price.cost(usage), None

    def price(self, model: ModelConfig) -> Price | None:
        key = (
            f"{model.id}\0{model.provider}\0{model.upstream}\0{model.input_usd_per_mtok}"
            f"\0{model.output_usd_per_mtok}\0{model.cached_input_usd_per_mtok}\0{model.is_local}"
        )
        if key not in self._cache:
            self._cache[key] = self._resolve(model)
        return self._cache[key]

    def warm(self, models: Iterable[ModelConfig]) -> None:
        """Resolve every model's price now (at startup), so no request pays for loading the map,
        then let the map go (a few MB of dicts): a model first priced later reads it again."""
        for model in models:
            self.price(model)
        if self._loaded:
            self._map, self._loaded = None, False

    def _resolve(self, model: ModelConfig) -> Price | None:
        cfg_in = _dec(model.input_usd_per_mtok)
        cfg_out = _dec(model.output_usd_per_mtok)
        cfg_cached = _dec(model.cached_input_usd_per_mtok)
        if model.is_local and (cfg_in is None or cfg_out is None):
            zero = Decimal(0)
            return Price(cfg_in or zero, cfg_out or zero, cfg_cached, None, "local")
        need_map = cfg_in is None or cfg_out is None or cfg_cached is None
        entry = self._entry(model) if need_map else None

        def lit(field: str) -> Decimal | None:
            return _dec(entry.get(field), _MTOK) if entry is not None else None

        inp = cfg_in if cfg_in is not None else lit("input_cost_per_token")
        out = cfg_out if cfg_out is not None else lit("output_cost_per_token")
        if inp is None or out is None:
            return None
        cached, write = cfg_cached, None
        # litellm's cache rates go with litellm's input price: use them only when that is the
        # price in force (also when the app copied litellm's prices into the config).
        if entry is not None and inp == lit("input_cost_per_token"):
            if cached is None:
                cached = lit("cache_read_input_token_cost")
            write = lit("cache_creation_input_token_cost")
        if cfg_in is not None and cfg_out is not None:
            source = "config"
        else:
            source = "litellm" if cfg_in is None and cfg_out is None else "config+litellm"
        return Price(inp, out, cached, write, source)

    def _entry(self, model: ModelConfig) -> Mapping[str, Any] | None:
        prices = self._load()
        name = model.upstream or model.id
        for key in self._candidates(model, name):
            entry = prices.get(key)
            if isinstance(entry, Mapping) and "input_cost_per_token" in entry:
                return entry
        return None

    def _candidates(self, model: ModelConfig, name: str) -> list[str]:
        provider = self._providers.get(model.provider)
        # litellm keys most entries by bare name ("gpt-4o") and some only as "<prefix>/<name>"
        # ("mistral/mistral-large-latest"), the prefix being litellm's name for the provider.
        prefixes = [model.provider]
        if provider is not None and provider.litellm_prefix:
            prefixes.insert(0, provider.litellm_prefix)
        names = [name]
        if "/" in name:  # "groq/llama-3..." already prefixed, or "models/gemini-..."
            names.append(name.split("/", 1)[1])
        return [*names, *(f"{p}/{n}" for p in prefixes for n in names)]

    def _load(self) -> Mapping[str, Any]:
        if self._map is None:
            path = self._map_path or find_price_map()
            self._map = {}
            if path is None:
                log.warning("litellm's price map not found; only configured prices are known")
            else:
                try:
                    self._map, self._loaded = json.loads(path.read_bytes()), True
                except (OSError, ValueError) as exc:
                    log.warning("cannot read litellm's price map %s: %s", path, exc)
        return self._map


def with_prices(config: GatewayConfig, prices: PriceBook) -> GatewayConfig:
    """Fill each model's missing prices from litellm's map, so routing and budgets see them."""
    models = []
    for m in config.models:
        if (m.input_usd_per_mtok is None or m.output_usd_per_mtok is None) and not m.is_local:
            p = prices.price(m)
            if p is not None:
                m = m.model_copy(update={"input_usd_per_mtok": float(p.input),
                                         "output_usd_per_mtok": float(p.output)})
        models.append(m)
    return config.model_copy(update={"models": tuple(models)})
