"""The auth middleware: asks the configured access controller for what each ``/v2/`` route needs.

A refusal is the reference's answer: 401 with the controller's ``WWW-Authenticate`` challenge and an
UNAUTHORIZED error whose detail lists the access records that were asked for.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dockyard.api.errors import ErrorAnswer
from dockyard.api.routes import required_access
from dockyard.auth.access import CATALOG, AccessController, Challenge, RequestCredentials
from dockyard.registry.errors import DEFAULT_MESSAGES, ErrorCode

log = logging.getLogger(__name__)

USER = "dockyard.user"  # request key: the authenticated user's name


def auth_middleware(controller: AccessController, prefix: str) -> Middleware:
    v2 = f"{prefix}/v2"
    admin = f"{prefix}/dockyard/"

    @web.middleware
    async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(admin):
            accesses = [CATALOG]  # dockyard's admin endpoints (garbage collection) need registry-wide access
        elif path != v2 and not path.startswith(v2 + "/"):
            return await handler(request)
        else:
            accesses = required_access(request.method, path[len(v2) + 1 :], request.query)
        credentials = RequestCredentials(
            authorization=request.headers.get("Authorization"),
            scheme=request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip(),
            host=request.host,
        )
        try:
            grant = await controller.authorize(credentials, accesses)
        except Challenge as challenge:
            log.info("access refused on %s %s: %s", request.method, path, challenge.reason)
            error = {
                "code": ErrorCode.UNAUTHORIZED.value,
                "message": DEFAULT_MESSAGES[ErrorCode.UNAUTHORIZED],
                "detail": [access.as_detail() for access in accesses] or None,
            }
            raise ErrorAnswer(
                web.Response(
                    status=401,
                    body=json.dumps({"errors": [error]}).encode(),
                    content_type="application/json",
                    headers={"WWW-Authenticate": challenge.www_authenticate},
                )
            ) from None
        request[USER] = grant.user
        return await handler(request)

    return authorize
