"""Dispatch of ``/v2/...`` paths: repository names contain slashes, so routes match from the right."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from dockyard.api import blobs, listings, manifests, referrers, uploads
from dockyard.grammar import NAME_MAX_LENGTH, is_valid_name
from dockyard.registry.errors import ErrorCode, RegistryError

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]


ROUTES = (
    Route(
        re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.head_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    Route(re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), {"POST": uploads.start_upload}),
    Route(
        re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "GET": uploads.upload_status,
            "PATCH": uploads.patch_upload,
            "PUT": uploads.finish_upload,
            "DELETE": uploads.cancel_upload,
        },
    ),
    Route(
        re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"),
        {"GET": blobs.get_blob, "HEAD": blobs.head_blob, "DELETE": blobs.delete_blob},
    ),
    Route(re.compile(r"^(?P<name>.+)/tags/list$"), {"GET": listings.list_tags}),
    Route(re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), {"GET": referrers.list_referrers}),
)


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.match_info["path"]
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is None:
            continue
        handler = route.methods.get(request.method)
        if handler is None:
            raise RegistryError(ErrorCode.UNSUPPORTED, detail=f"{request.method} is not allowed here")
        params = match.groupdict()
        if not is_valid_name(params["name"]):
            raise RegistryError(
                ErrorCode.NAME_INVALID,
                detail={
                    "name": params["name"][: NAME_MAX_LENGTH + 1],
                    "reason": "not a valid repository name",
                },
            )
        return await handler(request, **params)
    raise RegistryError(ErrorCode.NAME_UNKNOWN, message="no such endpoint", detail={"path": path[:300]})
