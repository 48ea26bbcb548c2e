"""Configuration: A/B experiments (which traffic they take, how it is split)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gateway.config.base import Frozen


class ExperimentMatch(Frozen):
    model: str | None = None  # the requested model or profile name (`auto`, `auto:cheap`, an id)
    task: str | None = None
    key: str | None = None  # an API key's name


class Arm(Frozen):
    name: str
    model: str
    weight: float = Field(50, gt=0)


class ExperimentConfig(Frozen):
    name: str
    match: ExperimentMatch = ExperimentMatch()
    unit: Literal["user", "key", "request"] = "user"
    arms: tuple[Arm, ...]
    enabled: bool = True

    @field_validator("arms")
    @classmethod
    def _arms(cls, value: tuple[Arm, ...]) -> tuple[Arm, ...]:
        if len(value) < 2:
            raise ValueError("an experiment needs at least two arms")
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return value
