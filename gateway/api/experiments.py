"""GET /admin/experiments: every A/B experiment's arms with their figures (as
`gateway experiments --json`). Mounted by the composition root next to the other admin routes."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.admin import since_param
from gateway.api.respond import JSONResponse
from gateway.config import ApiKey, ExperimentConfig
from gateway.experiments.report import experiments_report
from gateway.usage.reports import LogReader


class ExperimentsReport:
    def __init__(self, reader: LogReader, experiments: Sequence[ExperimentConfig]) -> None:
        self.reader = reader
        self.experiments = experiments

    async def get(self, request: Request, key: ApiKey | None) -> Response:
        """`?since=24h|7d|ISO` limits the rows read (default: all time)."""
        # scipy is loaded by the first report, not at start: a gateway never asked pays nothing.
        report = await experiments_report(self.reader, self.experiments, since_param(request))
        return JSONResponse(report)
