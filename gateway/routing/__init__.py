"""Routing: where a `model="auto"` request goes, and why. Pure: values in, values out, no I/O.

    body ─► options ─► classify ─► features ─► learned estimate ─► score ─► plan ─► Decision
            (400 on    (task,      (hashed      (P(good) per        (filter,   (winner +
             bad keys)  needs, ...) words)       model, blended)     rank)      fallbacks)

`Router` is the entry point; `LearnedModel.fit` is the one learning path for evaluation files,
the request log and feedback (`records_from_log`).
"""

from gateway.routing.catalog import Catalog, Entry, default_usable
from gateway.routing.classify import Classification, classify
from gateway.routing.decision import Decision, render_decision
from gateway.routing.features import PromptFeatures, extract
from gateway.routing.learn import LearnedModel, OutcomeRecord, feedback_score, records_from_log
from gateway.routing.options import NoRouteAvailable, RoutingOptions, parse_options
from gateway.routing.prompt import single_prompt
from gateway.routing.router import Router
from gateway.routing.score import Candidate

__all__ = [
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
    "default_usable",
    "extract",
    "feedback_score",
    "parse_options",
    "records_from_log",
    "render_decision",
    "single_prompt",
]
