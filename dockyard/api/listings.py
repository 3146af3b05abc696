"""Paged listings: ``/v2/<name>/tags/list`` and ``/v2/_catalog``, with ``n``/``last`` and ``Link``."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from aiohttp import web

from dockyard.api.context import SETTINGS, registry_of
from dockyard.registry.catalog import Page, paginate
from dockyard.registry.errors import ErrorCode, RegistryError

CATALOG_MAX_ENTRIES = 1000


def _page_size(request: web.Request) -> int | None:
    text = request.query.get("n")
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise RegistryError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": text[:50]})
    return int(text)


def _json(
    page: Page, request: web.Request, path: str, limit: int | None, payload: dict[str, object]
) -> web.Response:
    headers = {}
    if page.more and page.items and limit is not None:
        query = urlencode({"last": page.items[-1], "n": limit})
        headers["Link"] = f'<{request.app[SETTINGS].prefix}{path}?{query}>; rel="next"'
    return web.Response(body=json.dumps(payload).encode(), content_type="application/json", headers=headers)


async def list_tags(request: web.Request, name: str) -> web.StreamResponse:
    limit = _page_size(request)
    last = request.query.get("last")
    tags = await registry_of(request).manifests.tags(name, last)
    page = paginate(tags, limit, last)
    return _json(page, request, f"/v2/{name}/tags/list", limit, {"name": name, "tags": page.items})


async def catalog(request: web.Request) -> web.StreamResponse:
    requested = _page_size(request)
    limit = CATALOG_MAX_ENTRIES if requested is None else min(requested, CATALOG_MAX_ENTRIES)
    page = await registry_of(request).catalog(limit, request.query.get("last"))
    return _json(page, request, "/v2/_catalog", limit, {"repositories": page.items})
