"""Embeddings door: `POST /v1/embeddings`, as the OpenAI SDK's `client.embeddings.create` sends it.

The body goes upstream as it is (without `routing`); the answer comes back as the provider's
`embed` returned it (OpenAI's list, `model` the gateway's id), so `render` only serialises.
Routing has nothing to weigh here: `auto` and the profiles are a 400 naming `model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.doors.base import DoorRequest, StreamEncoder
from gateway.doors.checks import fail, is_int, load_object, model_name, number, pop_routing, text
from gateway.errors import GatewayError, InvalidRequest
from gateway.routing.options import is_auto

MAX_INPUTS = 2048  # OpenAI's limit on inputs per request
ENCODINGS = ("float", "base64")


@dataclass(frozen=True, kw_only=True)
class EmbeddingsRequest(DoorRequest):
    inputs: int  # how many vectors were asked for


def parse_embeddings(raw: bytes, headers: Mapping[str, str]) -> EmbeddingsRequest:
    body = load_object(raw)
    model = model_name(body)
    if is_auto(model):
        raise fail(f"model: {model!r} routes chat requests; embeddings need a model id with the "
                   "embeddings capability", "model")
    inputs = _inputs(body.get("input"))
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ENCODINGS:
        raise fail(f"encoding_format must be one of {', '.join(ENCODINGS)}", "encoding_format")
    number(body, "dimensions", 1, None, integer=True)
    text(body, "user")
    for key in ("encoding_format", "dimensions", "user"):  # null is the default: not sent on
        if key in body and body[key] is None:
            del body[key]
    routing = pop_routing(body)
    return EmbeddingsRequest(endpoint="embeddings", body=body, model=model, stream=False,
                             include_usage=False, routing=routing, inputs=inputs)


def _inputs(value: Any) -> int:
    """How many inputs `input` holds: a string, strings, tokens, or lists of tokens."""
    message = ("input must be a non-empty string, an array of non-empty strings, an array of "
               "token ids, or an array of token-id arrays")
    if isinstance(value, str):
        if not value:
            raise fail(message, "input")
        return 1
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        raise fail(f"{message} (at most {MAX_INPUTS} items)", "input")
    if all(isinstance(v, str) and v for v in value):
        return len(value)
    if all(_tokens(v) for v in value):
        return len(value)
    if _tokens(value):
        return 1
    raise fail(message, "input")


def _tokens(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(is_int(t) and 0 <= t < 2**32 for t in value))


class EmbeddingsDoor:
    """OpenAI's embeddings API (the `Door` of `base`; it never streams)."""

    endpoint = "embeddings"
    wire = "embeddings"  # the provider's `embed` answer is the client's, model already swapped
    relay_finish = False

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> EmbeddingsRequest:
        return parse_embeddings(raw, headers)

    def render(self, req: EmbeddingsRequest, completion: Mapping[str, Any]) -> bytes:
        return orjson.dumps(completion)

    def encoder(self, req: EmbeddingsRequest, model: str) -> StreamEncoder:
        raise InvalidRequest("embeddings do not stream", param="stream")

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return exc.status, orjson.dumps(exc.body()), exc.headers()


DOOR = EmbeddingsDoor()
