"""Dispatch of ``/v2/...`` paths: repository names contain slashes, so routes match from the right.

Each endpoint declares the repository actions it needs (as the reference grants them: reads need ``pull``,
writes ``pull`` and ``push``, deletes ``delete``); the auth middleware asks :func:`required_access`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from dockyard.api import blobs, listings, manifests, referrers, uploads
from dockyard.auth.access import CATALOG, DELETE, PULL, PUSH, Access, repository
from dockyard.grammar import NAME_MAX_LENGTH, is_valid_name
from dockyard.registry.errors import ErrorCode, RegistryError

Handler = Callable[..., Awaitable[web.StreamResponse]]
ROUTE = web.RequestKey("route", str)  # which route matched, for metrics and logs


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    actions: tuple[str, ...]


def read(handler: Handler) -> Endpoint:
    return Endpoint(handler, (PULL,))


def write(handler: Handler) -> Endpoint:
    return Endpoint(handler, (PULL, PUSH))


def delete(handler: Handler) -> Endpoint:
    return Endpoint(handler, (DELETE,))


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the route label of the request metrics
    pattern: re.Pattern[str]
    methods: dict[str, Endpoint]


ROUTES = (
    Route(
        "manifest",
        re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": read(manifests.get_manifest),
            "HEAD": read(manifests.head_manifest),
            "PUT": write(manifests.put_manifest),
            "DELETE": delete(manifests.delete_manifest),
        },
    ),
    Route(
        "blob_upload", re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), {"POST": write(uploads.start_upload)}
    ),
    Route(
        "blob_upload_chunk",
        re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "GET": read(uploads.upload_status),
            "PATCH": write(uploads.patch_upload),
            "PUT": write(uploads.finish_upload),
            "DELETE": delete(uploads.cancel_upload),
        },
    ),
    Route(
        "blob",
        re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"),
        {"GET": read(blobs.get_blob), "HEAD": read(blobs.head_blob), "DELETE": delete(blobs.delete_blob)},
    ),
    Route("tags", re.compile(r"^(?P<name>.+)/tags/list$"), {"GET": read(listings.list_tags)}),
    Route(
        "referrers",
        re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"),
        {"GET": read(referrers.list_referrers)},
    ),
)
CATALOG_PATH = "_catalog"


def _match(method: str, path: str) -> tuple[str, Endpoint, dict[str, str]] | None:
    """The route's name, endpoint and parameters for ``path`` (after ``/v2/``); None when no route's
    pattern matches."""
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is None:
            continue
        endpoint = route.methods.get(method)
        if endpoint is None:
            raise RegistryError(ErrorCode.UNSUPPORTED, detail=f"{method} is not allowed here")
        params = match.groupdict()
        if not is_valid_name(params["name"]):
            raise RegistryError(
                ErrorCode.NAME_INVALID,
                detail={
                    "name": params["name"][: NAME_MAX_LENGTH + 1],
                    "reason": "not a valid repository name",
                },
            )
        return route.name, endpoint, params
    return None


def required_access(method: str, path: str, query: Mapping[str, str]) -> list[Access]:
    """What a request for ``path`` (after ``/v2/``) needs. Malformed paths need only an authenticated
    user (they are refused afterwards); a cross-repository mount needs ``pull`` on its source too."""
    if path == CATALOG_PATH:
        return [CATALOG]
    try:
        found = _match(method, path)
    except RegistryError:
        return []
    if found is None:
        return []
    _, endpoint, params = found
    accesses = repository(params["name"], *endpoint.actions)
    source = query.get("from")
    if method == "POST" and source and is_valid_name(source):
        accesses += repository(source, PULL)
    return accesses


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.match_info["path"]
    found = _match(request.method, path)
    if found is None:
        raise RegistryError(ErrorCode.NAME_UNKNOWN, message="no such endpoint", detail={"path": path[:300]})
    request[ROUTE], endpoint, params = found
    return await endpoint.handler(request, **params)
