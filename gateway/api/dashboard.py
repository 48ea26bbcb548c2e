"""GET /dashboard: the one-page dashboard, and its assets under /dashboard/static/.

The page holds no data: it loads everything from the admin endpoints (and `/ws/routing`) with
the admin key the person gives it, so it may be served to anyone. Its Content-Security-Policy
lets it load and connect only to the gateway itself: no CDN, no font service, no inline script.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
          "frame-ancestors 'none'; form-action 'self'")
HEADERS = {"content-security-policy": POLICY, "x-content-type-options": "nosniff",
           "referrer-policy": "no-referrer", "cache-control": "no-cache"}


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html; charset=utf-8",
                        headers=HEADERS)


def static_assets() -> BaseRoute:
    """The page's scripts, styles and vendored files (no data): open, like the page."""
    return Mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
