"""Routing: where a `model="auto"` request goes, and why. Pure: values in, values out, no I/O.

    body ─► options ─► classify ─► features ─► segment ─► estimate ─► score ─► plan ─► Decision
            (400 on    (task,      (hashed     (task or   (quality   (utility  (winner +
             bad keys)  needs, ...) tail words) cluster)   per model) at mu)    fallbacks)

Off the hot path, `LearnedModel.fit` learns from evaluation files, the request log and
feedback (`records_from_log`): one code path. A `Router` built on it solves each profile's
allocation (`allocate.py`): the exchange rate `mu` between quality and cost that gives the
profile's best mix of models per segment, over the traffic it has seen.
"""

from gateway.routing.catalog import Catalog, Entry, default_unusable
from gateway.routing.classify import Classification, classify
from gateway.routing.decision import Allocation, Decision, render_decision
from gateway.routing.features import PromptFeatures, extract
from gateway.routing.learn import LearnedModel, OutcomeRecord, feedback_score, records_from_log
from gateway.routing.options import NoRouteAvailable, RoutingOptions, parse_options
from gateway.routing.prompt import single_prompt
from gateway.routing.router import Router
from gateway.routing.score import Candidate

__all__ = [
    "Allocation",
    "Candidate",
    "Catalog",
    "Classification",
    "Decision",
    "Entry",
    "LearnedModel",
    "NoRouteAvailable",
    "OutcomeRecord",
    "PromptFeatures",
    "Router",
    "RoutingOptions",
    "classify",
    "default_unusable",
    "extract",
    "feedback_score",
    "parse_options",
    "records_from_log",
    "render_decision",
    "single_prompt",
]
