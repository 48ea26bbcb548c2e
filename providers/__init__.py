"""Provider registry: `kind` in gateway.yaml -> "module:Class", imported only when configured.

Built-in adapters register through the same door as plugins: a `kind` written as
"package.module:Class" is imported as it is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import ProviderConfig
    from providers.base import Provider

REGISTRY: dict[str, str] = {
    "openai": "providers.openai_compat:OpenAICompatProvider",
    "ollama": "providers.openai_compat:OllamaProvider",
    "lmstudio": "providers.openai_compat:LMStudioProvider",
    "vllm": "providers.openai_compat:VLLMProvider",
    "anthropic": "providers.anthropic:AnthropicProvider",
    "gemini": "providers.litellm_adapter:LiteLLMProvider",
    "mistral": "providers.litellm_adapter:LiteLLMProvider",
    "cohere": "providers.litellm_adapter:LiteLLMProvider",
    "litellm": "providers.litellm_adapter:LiteLLMProvider",
}


def provider_class(kind: str) -> type[Provider]:
    target = REGISTRY.get(kind, kind)
    module_name, _, attr = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
    return cls


def build_provider(config: ProviderConfig) -> Provider:
    """Instantiate the adapter for one configured provider."""
    return provider_class(config.kind)(config)  # type: ignore[call-arg]
