"""Per-request bookkeeping: a request id (``X-Request-Id``) and, when metrics are on, the request metrics."""

from __future__ import annotations

import os
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dockyard.api.routes import ROUTE
from dockyard.metrics import Metrics

REQUEST_ID = web.RequestKey("request_id", str)
#: ``time.perf_counter()`` when the request reached the application: uvloop's clock, which aiohttp times
#: requests with, moves in whole milliseconds
REQUEST_STARTED = web.RequestKey("request_started", float)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response names its request, so a client's report can be matched with the access log (which
    also times the request from here)."""
    request[REQUEST_STARTED] = time.perf_counter()
    request_id = os.urandom(16).hex()  # random as a uuid4, at a third of its cost
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = request_id
        raise
    response.headers["X-Request-Id"] = request_id
    return response


def _route_of(request: web.Request) -> str:
    route: str | None = request.get(ROUTE)
    return route or request.match_info.route.name or "unknown"


def _bytes_out(request: web.Request, response: web.StreamResponse) -> int:
    if request.method == "HEAD":
        return 0
    # sendfile bypasses the writer's count: the declared length is what was sent
    return response.content_length if response.content_length is not None else response.body_length


def metrics_middleware(metrics: Metrics) -> Middleware:
    """Requests by route, method and status, their latency, bytes in and out, uploads streaming."""
    requests, latency = metrics.requests, metrics.latency
    bytes_in, bytes_out, uploads = metrics.bytes_in, metrics.bytes_out, metrics.uploads_in_progress

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = request.get(REQUEST_STARTED) or time.perf_counter()  # the access log's start, if set
        status = 500
        response: web.StreamResponse | None = None
        streaming = request.method in _BODY_METHODS and "/blobs/uploads" in request.path
        try:
            if streaming:
                with uploads.track_inprogress():
                    response = await handler(request)
            else:
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = _route_of(request)
            requests.labels(route, request.method, str(status)).inc()
            latency.labels(route, request.method).observe(time.perf_counter() - started)
            received = request.content.total_bytes
            if received:
                bytes_in.labels(route).inc(received)
            if response is not None:
                sent = _bytes_out(request, response)
                if sent:
                    bytes_out.labels(route).inc(sent)

    return middleware
