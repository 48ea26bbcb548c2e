"""Evaluation, step 2: what each model in a data file costs, per million tokens.

In order: the `--models` file (JSON or YAML:
`{model: {input_price_per_mtok, output_price_per_mtok}}`, the same with `input_usd_per_mtok`
keys, `{model: price}`, or a gateway.yaml with `models:`);
a `<prefix>_models.json` beside the data file; the public list prices below; and, for open
models named by size ("34b", "8x7b"), a typical hosted price for that size. Files that record
`cost_usd` per row do not need any of it for the reported cost; the router still needs prices
to estimate cost *before* answering, and those are fitted from the training rows' costs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

Price = tuple[float, float]  # USD per million input, output tokens

# Public list prices (USD per Mtok) of models that appear in public routing benchmarks.
LIST_PRICES: dict[str, Price] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0314": (30.0, 60.0),
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo-1106": (1.0, 2.0),
    "gpt-3.5-turbo": (0.5, 1.5),
    "claude-1": (8.0, 24.0),
    "claude-2": (8.0, 24.0),
    "claude-2.1": (8.0, 24.0),
    "claude-v1": (8.0, 24.0),
    "claude-v2": (8.0, 24.0),
    "claude-instant-1": (0.8, 2.4),
    "claude-instant-v1": (0.8, 2.4),
    "claude-3-haiku-20240307": (0.25, 1.25),
    "gemini-2.0-flash-001": (0.1, 0.4),
    "palm-2-chat-bison-001": (0.5, 0.5),
    "mixtral-8x7b-instruct-v0.1": (0.6, 0.6),
}


def _size_price(model: str) -> Price | None:
    """A typical hosted price for an open model of the size its name gives."""
    low = model.lower()
    moe = re.search(r"(\d+)x(\d+(?:\.\d+)?)b", low)
    if moe:
        billions = int(moe.group(1)) * float(moe.group(2)) * 0.7  # experts share layers
    else:
        plain = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", low)
        if not plain:
            return None
        billions = float(plain.group(1))
    price = round(0.1 + 0.0115 * billions, 3)  # ~$0.2 for 8B, ~$0.9 for 70B
    return (price, price)


def _entry(value: Any) -> Price | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (float(value), float(value))
    if not isinstance(value, Mapping):
        return None
    for a, b in (
        ("input_price_per_mtok", "output_price_per_mtok"),
        ("input_usd_per_mtok", "output_usd_per_mtok"),
    ):
        if a in value and b in value:
            return (float(value[a]), float(value[b]))
    return None


def read_price_file(path: str | Path) -> dict[str, Price]:
    """Prices from a --models file (formats in the module docstring)."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    out: dict[str, Price] = {}
    if isinstance(data, Mapping) and isinstance(data.get("models"), list):
        for m in data["models"]:
            price = _entry(m) if isinstance(m, Mapping) else None
            if price and "id" in m:
                out[str(m["id"])] = price
    elif isinstance(data, Mapping):
        for name, value in data.items():
            price = _entry(value)
            if price:
                out[str(name)] = price
    if not out:
        raise ValueError(f"{path}: no model prices found")
    return out


def sibling_price_file(data: Path) -> Path | None:
    """`llmrouter_models.json` for `llmrouter_9models_dev.jsonl`: a prefix-named price file."""
    for candidate in sorted(data.parent.glob("*_models.json")):
        prefix = candidate.name.removesuffix("_models.json")
        if data.name.startswith(prefix + "_"):
            return candidate
    return None


def list_price(model: str) -> tuple[Price | None, str]:
    """(price, where it came from) for a model no file prices."""
    tail = model.rsplit("/", 1)[-1]
    for name in (model, tail, tail.lower()):
        if name in LIST_PRICES:
            return LIST_PRICES[name], "list price"
    size = _size_price(tail)
    if size:
        return size, "typical price for its size"
    return None, "unknown"


def fit_prices(
    prompt_tokens: Sequence[float], output_tokens: Sequence[float], costs: Sequence[float]
) -> Price:
    """Per-token prices that explain recorded costs: least squares of
    cost = input_price * prompt_tokens + output_price * output_tokens, both >= 0."""
    x = np.column_stack([prompt_tokens, output_tokens]).astype(float) / 1e6
    y = np.asarray(costs, float)
    if len(y) >= 2:
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        if (coef >= 0).all():
            return (float(coef[0]), float(coef[1]))
    flat = float(y.sum() / max(x.sum(), 1e-12))  # one price for both, when the fit is unstable
    return (flat, flat)
