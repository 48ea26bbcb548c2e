"""Errors: every failure the gateway reports is one of these, rendered once by the API layer.

    GatewayError                      500 api_error
    ├── InvalidRequest                400 invalid_request_error (param names the field)
    ├── AuthenticationFailed          401 authentication_error  invalid_api_key
    ├── PermissionDenied              403 permission_error      permission_denied
    ├── NotFound                      404 invalid_request_error not_found
    │   └── ModelNotFound             404 invalid_request_error model_not_found
    ├── PayloadTooLarge               413 invalid_request_error payload_too_large
    ├── BudgetExceeded                429 insufficient_quota    budget_exceeded (no retry)
    ├── RateLimited                   429 requests | tokens     rate_limit_exceeded (retry-after)
    ├── UpstreamRejected              4xx as the upstream said  the upstream's own code (a request
    │                                 every model would refuse: malformed, content filter)
    ├── UpstreamUnavailable           502/503/504 api_error     upstream_unavailable
    └── ProviderError                 one upstream call failed (raised by providers/, consumed
        │                             by execution; reaches a client only inside
        │                             UpstreamUnavailable or as a stream's error event)
        ├── CircuitOpen               a breaker refused the call before it was made
        ├── UpstreamTimeout           connect / first token / idle / total timeout
        ├── UpstreamConnectionError   connection refused or reset, stream cut (retryable)
        └── UpstreamHTTPError         the upstream answered with an error status
            └── ContextLengthExceeded the prompt does not fit the model's window

`retryable` says whether trying the same model again may help; `fallback` whether another
model may help (a malformed request fails everywhere, so it does not fall back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None
    retryable = False
    fallback = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """A valid key whose role may not use this endpoint (a client key on /admin/*)."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str, valid: list[str]) -> None:
        super().__init__(
            f"The model {model!r} does not exist. Valid models: {', '.join(valid)}",
            param="model",
        )


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class BudgetExceeded(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"

    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class RateLimited(GatewayError):
    """A key went over its `rpm` (type `requests`) or `tpm` (type `tokens`), as OpenAI says it.

    `retry-after` (whole seconds, as the header is defined) and `retry-after-ms` say when the
    request would fit; the OpenAI SDKs wait that long before their own retry.
    """

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float,
                 limit: Literal["requests", "tokens"] = "requests") -> None:
        super().__init__(message)
        self.type = limit
        self.retry_after_s = max(0.0, retry_after_s)

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after_s))),
                "retry-after-ms": str(max(1, math.ceil(self.retry_after_s * 1000)))}


@dataclass(frozen=True)
class AttemptInfo:
    """One upstream call, as the client's error message and the attempts table describe it."""

    n: int
    model: str
    provider: str
    status: str  # success | error | skipped
    http_status: int | None
    error: str | None
    latency_ms: float
    cost_usd: float | None = None  # what this call was billed, when anything
    started_at: float | None = None  # epoch seconds, for traces

    def describe(self) -> str:
        what = self.error or self.status
        code = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{self.model} via {self.provider}: {what}{code}"


class UpstreamUnavailable(GatewayError):
    type = "api_error"
    code = "upstream_unavailable"

    def __init__(self, attempts: list[AttemptInfo], status: int = 502) -> None:
        listed = "; ".join(f"[{a.n}] {a.describe()}" for a in attempts) or "no model available"
        super().__init__(f"Every candidate model failed: {listed}")
        self.status = status
        self.attempts = attempts

    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class UpstreamRejected(GatewayError):
    """An upstream refused the request itself (a 400/413/422: malformed for it, too large, or
    refused by its content filter). No other model would do better, so it is final; the client
    gets the upstream's own type, code and message, and the log says who refused."""

    status = 400
    type = "invalid_request_error"
    code: str | None = "invalid_request"

    def __init__(self, message: str, *, status: int = 400, type: str | None = None,
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.status = status if 400 <= status < 500 else 400
        if type:
            self.type = type
        self.code = code

    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class ProviderError(GatewayError):
    """One upstream call failed. Built by providers/, which translate foreign exceptions once."""

    status = 502
    retryable = True
    fallback = True

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after_s: float | None = None,
        retryable: bool | None = None,
        fallback: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        self.delivered = ""  # text the call delivered before it failed (billed all the same)
        if retryable is not None:
            self.retryable = retryable
        if fallback is not None:
            self.fallback = fallback


class CircuitOpen(ProviderError):
    """Not an upstream call: the breaker said no. Another model may answer; this one not now."""

    retryable = False
    fallback = True


class UpstreamTimeout(ProviderError):
    """`kind` says which limit: connect, first_token, idle (a stall) or total. A timeout is
    evidence the upstream is sick: it is retried only within `reliability.timeout_retries`."""

    status = 504

    def __init__(self, message: str, *, kind: str = "total", http_status: int | None = None) -> None:
        super().__init__(message, http_status=http_status)
        self.kind = kind


class UpstreamConnectionError(ProviderError):
    status = 502


class UpstreamHTTPError(ProviderError):
    """The upstream answered with an error status; retryable and fallback follow from it."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        retry_after_s: float | None = None,
        upstream_body: Any = None,
    ) -> None:
        retryable = http_status in RETRYABLE_STATUSES or http_status >= 500
        # A malformed request fails on every model; auth, permission, not-found and
        # rate limits are the upstream's problem, so another model may answer.
        fallback = http_status not in (400, 413, 422)
        super().__init__(
            message,
            http_status=http_status,
            retry_after_s=retry_after_s,
            retryable=retryable,
            fallback=fallback,
        )
        self.upstream_body = upstream_body
        self.status = 502 if http_status < 500 else (504 if http_status == 504 else 502)


class ContextLengthExceeded(UpstreamHTTPError):
    """Falls back, but only to a model with a larger context window (dispatch decides)."""

    def __init__(self, message: str, *, http_status: int = 400) -> None:
        super().__init__(message, http_status=http_status)
        self.retryable = False
        self.fallback = True
