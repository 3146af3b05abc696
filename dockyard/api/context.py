"""What every handler needs from the application: the registry, the settings, and URL building."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from dockyard.config import Settings
from dockyard.grammar import Digest, GrammarError
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.service import Registry

REGISTRY = web.AppKey("registry", Registry)
SETTINGS = web.AppKey("settings", Settings)


def registry_of(request: web.Request) -> Registry:
    return request.app[REGISTRY]


def url_for(request: web.Request, path: str) -> str:
    """A URL for ``path`` (which starts with /v2/) as clients should follow it: absolute by default."""
    settings = request.app[SETTINGS]
    if settings.relative_urls:
        return settings.prefix + path
    if settings.host:
        return settings.host.rstrip("/") + settings.prefix + path
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}{settings.prefix}{path}"


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except GrammarError as exc:
        raise RegistryError(ErrorCode.DIGEST_INVALID, detail=str(exc)) from exc


class PayloadTooLarge(RegistryError):
    """A body over its limit: answered with 413 whatever its code."""


class ClientStalled(ConnectionResetError):
    """The client stopped sending its body: the connection is closed, as if it had gone away."""


async def stream_body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body in the pieces it arrived in (``readany`` would join buffered pieces: a copy); a
    client that sends nothing for ``http.timeouts.read`` is cut off, so a stalled client holds no upload
    (or memory) for longer than that."""
    stall = request.app[SETTINGS].read_timeout_seconds
    while True:
        try:
            async with asyncio.timeout(stall):
                data, end_of_http_chunk = await request.content.readchunk()
        except TimeoutError:
            if request.transport is not None:
                request.transport.close()
            raise ClientStalled(f"no body bytes for {stall:g}s") from None
        if data:
            yield data
        elif not end_of_http_chunk or request.content.at_eof():
            return  # (aiohttp's shared empty-body reader answers (b"", True) for ever after its first use)


async def read_body(request: web.Request, limit: int, code: ErrorCode = ErrorCode.SIZE_INVALID) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(code, "payload too large", f"body of {declared} bytes exceeds {limit} bytes")
    body = bytearray()
    async for chunk in stream_body(request):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(code, "payload too large", f"body exceeds {limit} bytes")
    if declared is not None and len(body) != declared:
        raise RegistryError(ErrorCode.SIZE_INVALID, detail="body shorter than its Content-Length")
    return bytes(body)
