"""The door tests' loopback servers: a fake OpenAI-compatible upstream and the doors in front of
it, one pair per test module (each test clears the fake's script first)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doors.harness import DoorServer
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def door(fake: FakeOpenAI) -> Iterator[DoorServer]:
    with DoorServer({"kind": "openai", "base_url": fake.url, "api_key": "sk-up"}) as server:
        yield server
