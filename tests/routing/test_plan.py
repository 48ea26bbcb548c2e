"""fallback_chain: winner, its configured fallbacks, then the best of each other provider."""

from __future__ import annotations

from gateway.routing import Catalog
from gateway.routing.plan import MAX_CHAIN, fallback_chain
from gateway.routing.score import Candidate
from tests.routing.configs import make_config, model


def cand(
    id: str, provider: str, score: float, excluded: str | None = None, local: bool = False
) -> Candidate:
    return Candidate(id, provider, local, excluded, score, 0.8, 0.8, None, 0.0, 0.001, 500.0, 0.8)


CONFIG = make_config(
    [
        model("a1", "openai", (1, 1), 0.8, fallbacks=["c1", "a2"]),
        model("a2", "openai", (1, 1), 0.8),
        model("b1", "anthropic", (1, 1), 0.8),
        model("b2", "anthropic", (1, 1), 0.8),
        model("c1", "lmstudio", (0, 0), 0.6, tags=["local"]),
        model("c2", "lmstudio", (0, 0), 0.6, tags=["local"]),
    ]
)
CATALOG = Catalog.from_config(CONFIG)


def test_configured_fallbacks_come_first_then_other_providers() -> None:
    ranked = [
        cand("a1", "openai", 0.9),
        cand("b2", "anthropic", 0.85),
        cand("b1", "anthropic", 0.8),
        cand("a2", "openai", 0.7),
        cand("c1", "lmstudio", 0.6, local=True),
    ]
    assert fallback_chain(ranked[0], ranked, CATALOG) == ("a1", "c1", "a2", "b2")


def test_excluded_models_never_enter_the_chain() -> None:
    ranked = [
        cand("a1", "openai", 0.9),
        cand("b1", "anthropic", 0.8),
        cand("c1", "lmstudio", 0.0, excluded="lacks vision"),
        cand("a2", "openai", 0.0, excluded="lacks vision"),
    ]
    assert fallback_chain(ranked[0], ranked, CATALOG) == ("a1", "b1")


def test_one_model_per_other_provider_and_bounded_length() -> None:
    ranked = [
        cand("b1", "anthropic", 0.9),
        cand("b2", "anthropic", 0.89),
        cand("a2", "openai", 0.8),
        cand("a1", "openai", 0.7),
        cand("c2", "lmstudio", 0.6, local=True),
        cand("c1", "lmstudio", 0.5, local=True),
    ]
    chain = fallback_chain(ranked[0], ranked, CATALOG)
    assert chain == ("b1", "a2", "c2")
    assert len(chain) <= MAX_CHAIN


def test_local_first_keeps_a_commercial_model_to_escalate_to() -> None:
    ranked = [cand("c2", "lmstudio", 0.9, local=True), cand("a2", "openai", 0.5)]
    plain = fallback_chain(ranked[0], ranked, CATALOG)
    assert plain == ("c2", "a2")
    only_local = [
        cand("c2", "lmstudio", 0.9, local=True),
        cand("c1", "lmstudio", 0.8, local=True),
        cand("a2", "openai", 0.0, excluded="not usable now"),
    ]
    assert fallback_chain(only_local[0], only_local, CATALOG, escalate=True) == ("c2",)
