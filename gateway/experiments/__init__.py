"""Experiments: A/B splits of matching traffic between arms (`assign`, on the plan step) and
their report (`report`, off the request path: it imports scipy)."""

from gateway.experiments.assign import Assigner, Assignment

__all__ = ["Assigner", "Assignment"]
