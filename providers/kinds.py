"""Provider kinds: the one table of what each `kind:` in gateway.yaml means.

A kind names its adapter ("module:Class", imported lazily by the registry), the base URL used
when the config gives none, whether it works without an API key (local servers), and
litellm's name for it (the model prefix litellm routes by, and the prefix of its price map).
Every other module asks this table; none keeps its own copy of these facts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    adapter: str  # "module:Class"
    default_base_url: str | None = None  # None: the adapter's library knows where to go
    keyless: bool = False  # a local server: no API key needed
    litellm_prefix: str | None = None
    genai_name: str | None = None  # OpenTelemetry's `gen_ai.provider.name`, when it has one
    simulated: bool = False  # answers come from the gateway itself, not a model


_OPENAI = "providers.openai_compat:OpenAICompatProvider"
_LITELLM = "providers.litellm_adapter:LiteLLMProvider"

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("openai", _OPENAI, "https://api.openai.com/v1", litellm_prefix="openai",
             genai_name="openai"),
        Kind("lmstudio", _OPENAI, "http://localhost:1234/v1", keyless=True),
        Kind("ollama", _OPENAI, "http://localhost:11434/v1", keyless=True, litellm_prefix="ollama"),
        Kind("vllm", _OPENAI, "http://localhost:8000/v1", keyless=True),
        Kind("anthropic", "providers.anthropic:AnthropicProvider", "https://api.anthropic.com",
             litellm_prefix="anthropic", genai_name="anthropic"),
        Kind("gemini", _LITELLM, litellm_prefix="gemini", genai_name="gcp.gemini"),
        Kind("mistral", _LITELLM, litellm_prefix="mistral", genai_name="mistral_ai"),
        Kind("cohere", _LITELLM, litellm_prefix="cohere_chat", genai_name="cohere"),
        Kind("litellm", _LITELLM),  # the prefix comes from the provider's `litellm_provider`
        Kind("simulated", "providers.simulated:SimulatedProvider", keyless=True, simulated=True),
    )
}


def kind_of(name: str) -> Kind:
    """The kind for a `kind:` value; a "package.module:Class" plugin is its own adapter."""
    known = KINDS.get(name)
    if known is not None:
        return known
    return Kind(name, name)
