"""Execution: run a plan: one model, its deployments, a fallback chain, or parallel legs and
their consensus."""
