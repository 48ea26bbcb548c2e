"""Prices for evaluation: files in several shapes, list prices, size guesses, fitted prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.evaluate.prices import fit_prices, list_price, read_price_file, sibling_price_file

FILES = [
    ("p.json", json.dumps({"m": {"input_price_per_mtok": 0.2, "output_price_per_mtok": 0.4}})),
    ("p.json", json.dumps({"m": {"input_usd_per_mtok": 0.2, "output_usd_per_mtok": 0.4}})),
    ("p.yaml", "models:\n  - {id: m, input_usd_per_mtok: 0.2, output_usd_per_mtok: 0.4}\n"),
]


@pytest.mark.parametrize(("name", "text"), FILES)
def test_price_file_shapes(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert read_price_file(tmp_path / name) == {"m": (0.2, 0.4)}


def test_a_file_without_prices_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(ValueError, match="no model prices"):
        read_price_file(tmp_path / "p.json")


def test_sibling_price_file_is_found_by_prefix(tmp_path: Path) -> None:
    (tmp_path / "llmrouter_models.json").write_text("{}")
    assert sibling_price_file(tmp_path / "llmrouter_9models_dev.jsonl") == (
        tmp_path / "llmrouter_models.json"
    )
    assert sibling_price_file(tmp_path / "other_dev.jsonl") is None


LIST = [
    ("gpt-4-1106-preview", (10.0, 30.0), "list price"),
    ("mistralai/mixtral-8x7b-chat", (0.551, 0.551), "typical price for its size"),
    ("meta/llama-2-70b-chat", (0.905, 0.905), "typical price for its size"),
    ("mystery-model", None, "unknown"),
]


@pytest.mark.parametrize(("model", "price", "source"), LIST)
def test_list_and_size_prices(model: str, price: tuple[float, float] | None, source: str) -> None:
    got, where = list_price(model)
    assert where == source
    assert got == (pytest.approx(price) if price else None)


def test_fit_prices_recovers_known_prices() -> None:
    prompt = [100, 2000, 50, 800, 1200]
    output = [300, 10, 600, 50, 400]
    costs = [(p * 1.5 + o * 6.0) / 1e6 for p, o in zip(prompt, output, strict=True)]
    assert fit_prices(prompt, output, costs) == pytest.approx((1.5, 6.0))
