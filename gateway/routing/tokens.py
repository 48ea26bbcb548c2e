"""Routing, step 1a: a fast prompt-token estimate that errs high, for context-window checks.

No tokenizer is loaded (tiktoken fetches its BPE files at run time; the hot path cannot wait for
that). BPE tokenizers of the cl100k / o200k family average ~4 characters per token on English
prose, less on code (every bracket is a token) and numbers (at most three digits a token), and
one token per 1-2 characters in non-Latin scripts. We count letters and spaces at 4 a token,
each ASCII symbol as 0.9 token, each digit as 0.7, and 0.6 token per extra UTF-8 byte: above
the real count for prose, code, numbers and CJK alike, so a request we let through fits, and
one we reject was close to the limit anyway. Three byte-level passes, no Python loop.
"""

from __future__ import annotations

import string

from gateway.routing.prompt import PromptView

CHARS_PER_TOKEN = 4.0  # letters and spaces
TOKENS_PER_SYMBOL = 0.9  # ASCII punctuation: mostly a token each ("(", "):", ",")
TOKENS_PER_DIGIT = 0.7  # numbers split into groups of at most three digits, plus separators
TOKENS_PER_EXTRA_BYTE = 0.6  # a 2-byte char costs ~0.9 token, a 3-byte (CJK) char ~1.5
TOKENS_PER_MESSAGE = 4  # role and separators in the chat template
TOKENS_PER_IMAGE = 1105  # OpenAI's cost of one high-detail 1024x1024 image
TOKENS_PER_AUDIO = 1000  # ~1 minute; a request with audio is rare and sized by the upstream
_SYMBOLS = string.punctuation.encode()
_DIGITS = string.digits.encode()


def estimate_text(text: str) -> int:
    """Tokens in `text`, estimated high."""
    if not text:
        return 0
    raw = text.encode("utf-8", "surrogatepass")
    symbols = len(raw) - len(raw.translate(None, _SYMBOLS))
    digits = len(raw) - len(raw.translate(None, _DIGITS))
    extra = len(raw) - len(text)  # 0 for pure ASCII
    plain = len(text) - symbols - digits
    return (
        int(
            plain / CHARS_PER_TOKEN
            + symbols * TOKENS_PER_SYMBOL
            + digits * TOKENS_PER_DIGIT
            + extra * TOKENS_PER_EXTRA_BYTE
        )
        + 1
    )


def estimate_prompt(prompt: PromptView) -> int:
    """Prompt tokens of a whole request: messages, tool schemas, images and audio."""
    return (
        estimate_text(prompt.text)
        + int(prompt.extra_chars / 2.5)  # tool schemas are JSON: dense in symbols
        + TOKENS_PER_MESSAGE * max(prompt.n_messages, 1)
        + TOKENS_PER_IMAGE * prompt.n_images
        + TOKENS_PER_AUDIO * prompt.n_audio
        + 3  # the assistant's reply primer
    )
