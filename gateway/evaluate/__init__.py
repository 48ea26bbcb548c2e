"""Evaluation: `gateway eval`: replay files of prompts with recorded per-model outcomes through
the router (no upstream is called), or score the task classifier on a labelled file.

    data file ─► data.read ─► split / --train ─► LearnedModel.fit ─► replay every profile
                                                                    and every single model
              ─► report (table) / result (JSON) / curve (PNG)

Unlike `gateway.routing`, this package reads files.
"""

from gateway.evaluate.curve import MissingExtra
from gateway.evaluate.report import render_eval
from gateway.evaluate.run import EvalResult, run_eval, training_records

__all__ = ["EvalResult", "MissingExtra", "render_eval", "run_eval", "training_records"]
