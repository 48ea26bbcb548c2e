"""Resilience: retries, circuit breakers, fallback and budgets wrapped around each upstream call."""
