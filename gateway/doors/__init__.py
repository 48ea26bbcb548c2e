"""Doors: one module per client API, its wire format in and out (see `base` for the interface).

`messages` (Anthropic's Messages API), `responses` (OpenAI's Responses API) and `embeddings`
each turn their client's body into what the pipeline runs, and the pipeline's answer back into
their own format, errors and stream events included. No door routes, retries, prices or logs.
"""
