"""Doors: one module per client API (chat completions, ...): its wire format in and out, its error
shape and its stream encoding. No business logic: every door hands the same `ChatRequest` to the
pipeline and renders what comes back."""
