"""The debug server (``http.debug.addr``): ``/debug/health`` and, when enabled, Prometheus metrics."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.config import Settings
from dockyard.metrics import Metrics
from dockyard.registry.health import StorageHealth


def health_failures(health: StorageHealth | None) -> dict[str, str]:
    return health.failing() if health is not None else {}


def create_debug_app(
    settings: Settings, metrics: Metrics | None, health: StorageHealth | None
) -> web.Application:
    app = web.Application()

    async def health_status(request: web.Request) -> web.StreamResponse:
        """As the reference: 200 and ``{}`` when healthy, else 503 and each failing check's error."""
        failing = health_failures(health)
        return web.Response(
            status=503 if failing else 200, body=json.dumps(failing).encode(), content_type="application/json"
        )

    app.router.add_get("/debug/health", health_status)
    if metrics is not None:

        async def scrape(request: web.Request) -> web.StreamResponse:
            body, content_type = metrics.exposition()
            response = web.Response(body=body)
            response.headers["Content-Type"] = content_type
            return response

        app.router.add_get(settings.prometheus_path, scrape)
    return app
