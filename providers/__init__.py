"""Provider registry: `kind` in gateway.yaml -> its adapter class, imported only when configured.

The table of kinds is `providers/kinds.py`. Built-in adapters register through the same door as
plugins: a `kind` written as "package.module:Class" is imported as it is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from providers.kinds import kind_of

if TYPE_CHECKING:
    from gateway.config import ProviderConfig
    from providers.base import Provider


def provider_class(kind: str) -> type[Provider]:
    module_name, _, attr = kind_of(kind).adapter.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
    return cls


def build_provider(config: ProviderConfig) -> Provider:
    """Instantiate the adapter for one configured provider."""
    return provider_class(config.kind)(config)  # type: ignore[call-arg]
