"""Routing, step 3a: the catalog: what each configured model costs, holds, can do and is good at.

Built once per config (and per refit of the learned model, which is cheap), so a decision only
reads precomputed tuples. Whether a model can be called *now* (key present, local server
reachable, circuit not open) changes by the second; the caller passes the models that cannot,
each with the reason, to each decision as `unusable`, and `default_unusable` is the static part
of that answer (a missing key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import TASKS, GatewayConfig, ModelConfig

# When the config gives no price for a commercial model, assume an expensive one: a router
# that guesses low would send everything to the model nobody priced.
UNKNOWN_PRICE = (10.0, 30.0)  # USD per million input / output tokens


def tokens_usd(prompt_tokens: int, output_tokens: int, input_usd_per_mtok: float,
               output_usd_per_mtok: float) -> float:
    """Tokens priced in USD per million: the one formula every cost estimate uses."""
    return (prompt_tokens * input_usd_per_mtok + output_tokens * output_usd_per_mtok) / 1e6


@dataclass(frozen=True, slots=True)
class Entry:
    """One model as routing sees it."""

    id: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    price_known: bool
    context_window: int
    max_output_tokens: int | None
    capabilities: frozenset[str]
    quality: Mapping[str, float]  # task -> prior quality 0..1 (every task filled in)
    latency_ms: float
    tags: frozenset[str]
    local: bool
    fallbacks: tuple[str, ...]

    def cost_usd(self, prompt_tokens: int, output_tokens: int) -> float:
        """THE estimate of what a request costs on this model, before it is sent: routing,
        the budget check and `gateway eval` all price a request with it (token counts from
        `Classification.prompt_tokens` / `expected_output_tokens`)."""
        return tokens_usd(prompt_tokens, output_tokens, self.input_usd_per_mtok,
                          self.output_usd_per_mtok)


def _entry(model: ModelConfig, prices: Mapping[str, tuple[float, float]]) -> Entry:
    known = model.input_usd_per_mtok is not None and model.output_usd_per_mtok is not None
    if known:
        price = (float(model.input_usd_per_mtok or 0), float(model.output_usd_per_mtok or 0))
    elif model.id in prices:
        price, known = prices[model.id], True
    elif model.is_local:
        price, known = (0.0, 0.0), True
    else:
        price = UNKNOWN_PRICE
    return Entry(
        id=model.id,
        provider=model.provider,
        input_usd_per_mtok=price[0],
        output_usd_per_mtok=price[1],
        price_known=known,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        capabilities=model.capabilities,
        quality={t: model.quality_for(t) for t in (*TASKS, "default")},
        latency_ms=model.latency_ms,
        tags=model.tags,
        local=model.is_local,
        fallbacks=model.fallbacks,
    )


@dataclass(frozen=True)
class Catalog:
    """The models routing chooses among (every configured chat model, in config order), and a
    lookup of every configured model by id or alias. An embeddings model is never a candidate
    for a chat request: it answers only `/v1/embeddings`, called by name."""

    entries: tuple[Entry, ...]
    by_name: Mapping[str, Entry]

    @classmethod
    def from_config(
        cls, config: GatewayConfig, prices: Mapping[str, tuple[float, float]] | None = None
    ) -> Catalog:
        """`prices` (model id -> USD per Mtok in/out) fills prices the config leaves out,
        e.g. from litellm's price map, which the caller may load; routing does no I/O."""
        every = tuple(_entry(m, prices or {}) for m in config.models)
        by_name: dict[str, Entry] = {}
        for model, entry in zip(config.models, every, strict=True):
            for name in (model.id, *model.aliases):
                by_name[name] = entry
        chat = tuple(e for e in every if "embeddings" not in e.capabilities)
        return cls(entries=chat, by_name=by_name)

    def get(self, name: str) -> Entry | None:
        return self.by_name.get(name)


def default_unusable(config: GatewayConfig) -> dict[str, str]:
    """The models that cannot be called whatever happens at run time, with the reason: a
    commercial model whose provider has no key. A local one is assumed reachable until the
    caller (the probe, the circuit breakers) says otherwise."""
    out: dict[str, str] = {}
    for m in config.models:
        provider = config.providers.get(m.provider)
        if provider is None:
            out[m.id] = f"unknown provider {m.provider!r}"
        elif not (provider.has_key or m.is_local):
            where = provider.api_key_env or f"providers.{provider.name}.api_key"
            out[m.id] = f"no API key (set {where})"
    return out
