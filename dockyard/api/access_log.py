"""The access log: one entry per request, with its request id; secrets never reach it.

Request headers are not logged at all (so no ``Authorization``), and the upload ``_state`` token, which
is a signed capability, is replaced in logged URLs.
"""

from __future__ import annotations

import logging
from time import perf_counter

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from dockyard.api.observe import REQUEST_ID, REQUEST_STARTED

LOGGER = logging.getLogger("dockyard.access")
_HIDDEN_QUERY = ("_state",)


def loggable_uri(request: web.BaseRequest) -> str:
    url = request.rel_url
    hidden = [key for key in _HIDDEN_QUERY if key in url.query]
    if hidden:
        url = url.update_query({key: "REDACTED" for key in hidden})
    return str(url)


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        request_id = request.get(REQUEST_ID) or response.headers.get("X-Request-Id", "-")
        started = request.get(REQUEST_STARTED)
        if started is not None:  # finer than aiohttp's ``time`` (see REQUEST_STARTED)
            time = perf_counter() - started
        uri = loggable_uri(request)
        sent = response.content_length if response.content_length is not None else response.body_length
        fields = {
            "request_id": request_id,
            "remote_addr": request.remote,
            "method": request.method,
            "uri": uri,
            "status": response.status,
            "bytes": 0 if request.method == "HEAD" else sent,
            "duration_ms": round(time * 1000, 3),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        self.logger.info(
            '%s "%s %s" %d %d %.1fms id=%s',
            request.remote, request.method, uri, response.status, fields["bytes"], time * 1000, request_id,
            extra={"fields": fields},
        )  # fmt: skip
