"""Execution: run a plan. Each candidate's upstream call is a stack of resilience wrappers around
its provider; the chain walks the candidates (fallback) and continues a stream cut mid-answer
(resume); non-streamed answers are streamed from the upstream and assembled, so every limit of
a stream applies to them too."""
