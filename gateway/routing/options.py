"""Routing, step 0b: the per-request routing options (`body["routing"]`), validated.

A bad option is the client's mistake: it becomes a 400 that names the field
(`routing.max_cost_usd`), never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import TASKS
from gateway.errors import GatewayError, InvalidRequest

LOCAL_PROFILE = "local"
# Friendlier names a client may use for a task.
TASK_ALIASES = {
    "summarisation": "summarization",
    "summary": "summarization",
    "translation": "rewrite",
    "translate": "rewrite",
    "paraphrase": "rewrite",
    "editing": "rewrite",
    "categorization": "classification",
    "categorisation": "classification",
    "labeling": "classification",
    "labelling": "classification",
    "information_extraction": "extraction",
    "reading_comprehension": "closed_qa",
    "rag": "closed_qa",
    "creative": "generation",
    "writing": "generation",
    "ideas": "brainstorming",
    "brainstorm": "brainstorming",
    "qa": "open_qa",
    "question_answering": "open_qa",
    "roleplay": "chat",
    "conversation": "chat",
    "tools": "tool_use",
    "function_calling": "tool_use",
}
_KEYS = ("max_cost_usd", "min_quality", "max_latency_ms", "task", "profile", "prefer_local",
         "parallel")  # `parallel` is the executor's (gateway/execution/legs.py validates it)


class NoRouteAvailable(GatewayError):
    """No configured model can take this request. 503 when models exist but none is usable now
    (no key, circuit open, server down); 400 when the request's own needs or limits rule every
    model out (the client must change the request)."""

    type = "api_error"
    code = "no_route_available"

    def __init__(self, message: str, *, status: int = 503, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.status = status
        if status == 400:
            self.type = "invalid_request_error"

    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


@dataclass(frozen=True, slots=True)
class RoutingOptions:
    max_cost_usd: float | None = None
    min_quality: float | None = None
    max_latency_ms: float | None = None
    task: str | None = None
    profile: str | None = None
    prefer_local: bool = False


def _number(raw: Mapping[str, Any], key: str, lo: float, hi: float | None) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"routing.{key} must be a number", param=f"routing.{key}")
    if value < lo or (hi is not None and value > hi):
        span = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise InvalidRequest(f"routing.{key} must be {span}, got {value}", param=f"routing.{key}")
    return float(value)


def is_auto(name: str) -> bool:
    """Whether a requested model name asks the router: `auto` or `auto:<profile>`."""
    return name == "auto" or name.startswith("auto:")


def profile_name(name: str | None) -> str | None:
    """`auto:cheap` or `cheap` -> `cheap`; `auto` or None -> None (the default profile)."""
    if name is None or name == "auto":
        return None
    return name.removeprefix("auto:")


def parse_options(raw: Any, profiles: Mapping[str, Any]) -> RoutingOptions:
    """Validate `body["routing"]`; raises InvalidRequest naming the bad field."""
    if raw is None:
        return RoutingOptions()
    if not isinstance(raw, Mapping):
        raise InvalidRequest("routing must be an object", param="routing")
    for key in raw:
        if key not in _KEYS:
            raise InvalidRequest(
                f"routing.{key}: unknown option (one of {', '.join(_KEYS)})", param=f"routing.{key}"
            )
    task = raw.get("task")
    if task is not None:
        task = TASK_ALIASES.get(task, task) if isinstance(task, str) else task
        if task not in TASKS:
            raise InvalidRequest(
                f"routing.task must be one of {', '.join(TASKS)}, got {raw.get('task')!r}",
                param="routing.task",
            )
    profile = raw.get("profile")
    if profile is not None:
        if not isinstance(profile, str):
            raise InvalidRequest("routing.profile must be a string", param="routing.profile")
        name = profile_name(profile)
        if name is not None and name not in profiles and name != LOCAL_PROFILE:
            known = ", ".join([*profiles, LOCAL_PROFILE])
            raise InvalidRequest(
                f"routing.profile must be one of {known}, got {profile!r}", param="routing.profile"
            )
        profile = name
    prefer_local = raw.get("prefer_local", False)
    if not isinstance(prefer_local, bool):
        raise InvalidRequest(
            "routing.prefer_local must be true or false", param="routing.prefer_local"
        )
    return RoutingOptions(
        max_cost_usd=_number(raw, "max_cost_usd", 0.0, None),
        min_quality=_number(raw, "min_quality", 0.0, 1.0),
        max_latency_ms=_number(raw, "max_latency_ms", 0.0, None),
        task=task,
        profile=profile,
        prefer_local=prefer_local,
    )
