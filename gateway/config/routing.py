"""Configuration: routing (tasks, profiles, local-first rules, learning, parallel defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from gateway.config.base import Frozen

# The tasks the classifier names (DESIGN.md, "Tasks"): the `task` routing option, the
# `x-gateway-task` header, the log's `task` column and `quality:` keys use these words.
TASKS = (
    "code", "math", "reasoning", "open_qa", "closed_qa", "summarization", "extraction",
    "classification", "rewrite", "generation", "brainstorming", "chat", "tool_use",
)
LOCAL_PROFILE = "local"
CONSENSUS_PROFILE = "consensus"
STRATEGIES = ("judge", "vote", "quality_weighted", "first_success")


class ProfileWeights(Frozen):
    quality: float = Field(0.5, ge=0)
    cost: float = Field(0.25, ge=0)
    latency: float = Field(0.15, ge=0)
    history: float = Field(0.10, ge=0)
    # An explicit cost target: at most this share of what always using the strongest model
    # would cost on the same traffic. None (the default): derived from the quality and cost
    # weights, see routing/allocate.py `cost_share`.
    cost_share: float | None = Field(default=None, gt=0, le=1)


DEFAULT_PROFILES: dict[str, ProfileWeights] = {
    "balanced": ProfileWeights(quality=0.5, cost=0.25, latency=0.15, history=0.10),
    "cheap": ProfileWeights(quality=0.3, cost=0.55, latency=0.05, history=0.10),
    "best": ProfileWeights(quality=0.8, cost=0.05, latency=0.05, history=0.10),
    "fast": ProfileWeights(quality=0.3, cost=0.15, latency=0.45, history=0.10),
}


class LearnConfig(Frozen):
    enabled: bool = True
    refit_interval_s: float = Field(60, gt=0)
    half_life_days: float = Field(14, gt=0)
    state_path: str = "gateway-router.json"


class ParallelConfig(Frozen):
    """Defaults of `auto:consensus` (and of a request's `routing.parallel` where it is silent)."""

    models: int | tuple[str, ...] = 3
    strategy: Literal["judge", "vote", "quality_weighted", "first_success"] = "vote"
    judge: str | None = None

    @field_validator("models")
    @classmethod
    def _models(cls, value: int | tuple[str, ...]) -> int | tuple[str, ...]:
        if isinstance(value, int) and not 2 <= value <= 8:
            raise ValueError("models must be between 2 and 8")
        if isinstance(value, tuple) and not 2 <= len(value) <= 8:
            raise ValueError("models must list 2 to 8 model ids")
        return value


class RoutingConfig(Frozen):
    profiles: Mapping[str, ProfileWeights] = Field(default_factory=lambda: dict(DEFAULT_PROFILES))
    default_profile: str = "balanced"
    learn: LearnConfig = LearnConfig()
    # auto:local escalates a request to a hosted model only above this complexity (1..10) ...
    local_max_complexity: int = Field(3, ge=1, le=10)
    # ... or after this many failed attempts on local models (the executor counts them).
    local_failures_before_escalation: int = Field(2, ge=1)
    # Share of auto traffic sent to the second-best allocation so the learner keeps evidence
    # about models it would otherwise stop calling (never for auto:best or local-first).
    explore_share: float = Field(default=0.03, ge=0, le=0.2)
    parallel: ParallelConfig = ParallelConfig()

    @field_validator("profiles", mode="after")
    @classmethod
    def _merge(cls, value: Mapping[str, ProfileWeights]) -> Mapping[str, ProfileWeights]:
        merged = {**DEFAULT_PROFILES, **value}
        for name in merged:
            if name in (LOCAL_PROFILE, CONSENSUS_PROFILE) or not name or ":" in name:
                raise ValueError(f"{name!r} cannot name a profile")
        return merged

    def route_names(self) -> tuple[str, ...]:
        """Every model name that asks the router: `auto` and `auto:<profile>` for each profile."""
        profiles = (*self.profiles, LOCAL_PROFILE, CONSENSUS_PROFILE)
        return ("auto", *(f"auto:{p}" for p in profiles))
