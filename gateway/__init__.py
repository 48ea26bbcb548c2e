"""An OpenAI-compatible LLM gateway: routes, retries, falls back, and logs what every request cost."""

__version__ = "0.1.0"
