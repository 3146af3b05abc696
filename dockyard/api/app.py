"""The aiohttp application: routes, the error and read-only middlewares, and common headers."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dockyard.api.admin import garbage_collect
from dockyard.api.auth import auth_middleware
from dockyard.api.context import REGISTRY, SETTINGS, PayloadTooLarge
from dockyard.api.errors import ErrorAnswer, error_response
from dockyard.api.listings import catalog
from dockyard.api.observe import metrics_middleware, request_id_middleware
from dockyard.api.routes import dispatch
from dockyard.auth.controllers import AuthSetup
from dockyard.config import Settings
from dockyard.metrics import Metrics
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.health import StorageHealth
from dockyard.registry.service import Registry
from dockyard.storage.drivers.base import InvalidPath, StorageUnavailable

log = logging.getLogger("dockyard.api")

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the spec's JSON error; nothing escapes as a traceback."""
    try:
        return await handler(request)
    except ErrorAnswer as answer:
        return answer.response
    except PayloadTooLarge as error:
        return error_response(error, status=413)
    except RegistryError as error:
        return error_response(error)
    except InvalidPath as error:
        return error_response(RegistryError(ErrorCode.NAME_INVALID, detail=str(error)))
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(RegistryError(ErrorCode.NAME_UNKNOWN, message="no such endpoint"))
        if exc.status == 405:
            return error_response(RegistryError(ErrorCode.UNSUPPORTED))
        raise
    except StorageUnavailable as exc:
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(RegistryError(ErrorCode.UNAVAILABLE, detail=str(exc)))
    except (ConnectionError, OSError) as exc:
        if request.transport is None or request.transport.is_closing():
            raise  # the client went away; there is nobody to answer
        log.exception("storage failure on %s %s", request.method, request.path)
        return error_response(RegistryError(ErrorCode.UNAVAILABLE, detail=type(exc).__name__))
    except Exception:
        log.exception("unexpected failure on %s %s", request.method, request.path)
        return error_response(RegistryError(ErrorCode.UNKNOWN))


@web.middleware
async def read_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _WRITES:
        raise RegistryError(ErrorCode.UNSUPPORTED, message="registry is in read-only mode")
    return await handler(request)


async def api_base(request: web.Request) -> web.StreamResponse:
    return web.json_response({})


def health_gate(health: StorageHealth) -> Middleware:
    """As the reference: while a health check fails, every API request answers 503."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if health.failing():
            return error_response(
                RegistryError(ErrorCode.UNAVAILABLE, detail="health check failed: please see /debug/health")
            )
        return await handler(request)

    return middleware


def create_app(
    settings: Settings,
    registry: Registry,
    auth: AuthSetup | None = None,
    metrics: Metrics | None = None,
    health: StorageHealth | None = None,
) -> web.Application:
    """The registry's application; with ``auth``, every ``/v2/`` request is authorised first."""
    middlewares: list[Middleware] = [request_id_middleware]
    if metrics is not None:
        middlewares.append(metrics_middleware(metrics))
    if health is not None:
        middlewares.append(health_gate(health))
    middlewares.append(errors_middleware)
    if auth is not None:
        middlewares.append(auth_middleware(auth.controller, settings.prefix))
    if settings.read_only:
        middlewares.append(read_only_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=4 << 20)
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    prefix = settings.prefix
    app.router.add_get(f"{prefix}/v2/", api_base, name="base")  # (add_get answers HEAD too, as the reference)
    app.router.add_get(f"{prefix}/v2", api_base)
    app.router.add_route("GET", f"{prefix}/v2/_catalog", catalog, name="catalog")
    app.router.add_route("*", prefix + "/v2/{path:.+}", dispatch)
    app.router.add_route("POST", f"{prefix}/dockyard/gc", garbage_collect)
    if auth is not None and auth.token_service is not None:
        from dockyard.api.token_service import add_token_routes  # JWT: loaded only to issue tokens

        service = auth.token_service
        add_token_routes(app, service.path, service.issuer, service.realm)

    extra_headers = settings.headers

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
        for name, values in extra_headers.items():
            for value in values:
                response.headers.add(name, value)

    app.on_response_prepare.append(add_headers)
    return app
