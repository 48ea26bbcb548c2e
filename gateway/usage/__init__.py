"""Usage: what each request did and cost, recorded off the hot path, and reports over it."""
