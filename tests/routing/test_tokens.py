"""The prompt-token estimate errs high: never below what a BPE tokenizer would count."""

from __future__ import annotations

import pytest

from gateway.routing.prompt import view
from gateway.routing.tokens import TOKENS_PER_IMAGE, estimate_prompt, estimate_text

# Lower bounds that hold for cl100k/o200k-style tokenizers: the two sentences' exact counts
# under cl100k_base are well known (4 and 10); the others are bounded by their structure:
# every bracket and operator of the code is its own token, numbers split into groups of at
# most three digits with each dot and operator separate, and a CJK character is at least
# half a token.
LOWER_BOUNDS = [
    ("Hello, world!", 4),
    ("The quick brown fox jumps over the lazy dog.", 10),
    ("def add(a, b):\n    return a + b\n", 12),
    ("3.14159 * 2 = 6.28318", 13),
    ("Привет, как дела?", 8),
    ("今天天气很好我们去公园散步吧", 7),
]


@pytest.mark.parametrize(("text", "bound"), LOWER_BOUNDS)
def test_estimate_is_not_below_the_tokenizer(text: str, bound: int) -> None:
    estimate = estimate_text(text)
    assert bound <= estimate <= bound * 3 + 4


def test_prose_is_estimated_high_but_within_reason() -> None:
    text = "The committee reviewed the proposal and asked for a revised budget. " * 50
    words = len(text.split())  # English prose runs ~1.3 tokens per word
    assert 1.2 * words <= estimate_text(text) <= 1.8 * words


def test_estimate_is_empty_for_no_text_and_grows_linearly() -> None:
    assert estimate_text("") == 0
    one = estimate_text("word " * 1000)
    two = estimate_text("word " * 2000)
    assert 1.9 < two / one < 2.1


def test_images_tools_and_messages_add_to_the_prompt() -> None:
    base = {"messages": [{"role": "user", "content": "describe"}]}
    with_image = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            }
        ]
    }
    tools = [{"type": "function", "function": {"name": "lookup", "description": "x" * 300}}]
    plain = estimate_prompt(view(base))
    assert estimate_prompt(view(with_image)) >= plain + TOKENS_PER_IMAGE
    assert estimate_prompt(view({**base, "tools": tools})) > plain + 90
