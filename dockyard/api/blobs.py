"""``/v2/<name>/blobs/<digest>``: GET (with ranges), HEAD and DELETE."""

from __future__ import annotations

from aiohttp import web

from dockyard.api.context import parse_digest, registry_of
from dockyard.api.errors import ErrorAnswer, error_response
from dockyard.api.sendfile import can_sendfile, send_range
from dockyard.registry.blobs import BlobInfo
from dockyard.registry.errors import ErrorCode, RegistryError

INLINE_BYTES = 64 << 10  # blobs up to this size are read whole and sent with their headers


def _headers(info: BlobInfo) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(info.digest),
        "ETag": f'"{info.digest}"',
        "Cache-Control": "max-age=31536000",
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }


def _byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The requested [start, end) of a ``Range`` header, None for the whole blob."""
    if "Range" not in request.headers:
        return None
    unsatisfiable = RegistryError(
        ErrorCode.RANGE_INVALID,
        detail=f"range {request.headers['Range'][:100]!r} not satisfiable for {size} bytes",
    )
    try:
        wanted = request.http_range
    except ValueError as exc:
        raise unsatisfiable from exc
    start, stop = wanted.start, wanted.stop
    if start is None:
        return None
    if start < 0:  # suffix range: the last N bytes
        start = max(0, size + start)
        stop = size
    if stop is None or stop > size:
        stop = size
    if start >= size or stop <= start:
        raise unsatisfiable
    return start, stop


async def head_blob(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    info = await registry_of(request).blobs.stat(name, parse_digest(digest))
    headers = _headers(info)
    headers["Content-Length"] = str(info.size)
    return web.Response(status=200, headers=headers)


async def get_blob(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    registry = registry_of(request)
    info = await registry.blobs.stat(name, parse_digest(digest))
    headers = _headers(info)
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    try:
        window = _byte_range(request, info.size)
    except RegistryError as error:
        response = error_response(error)
        response.headers["Content-Range"] = f"bytes */{info.size}"
        raise ErrorAnswer(response) from error
    if registry.options.redirect:
        location = await registry.blobs.redirect_url(info, "GET")
        if location is not None:  # the storage serves the bytes (and any Range) itself
            return web.Response(status=307, headers={"Location": location, **headers})
    start, stop = window if window is not None else (0, info.size)
    status = 206 if window is not None else 200
    if window is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    if info.size <= INLINE_BYTES:  # one read from the page cache beats a hop to a thread
        body = await registry.blobs.read(info)
        return web.Response(status=status, headers=headers, body=body[start:stop])
    stream = web.StreamResponse(status=status, headers=headers)
    stream.content_length = stop - start
    local = registry.blobs.local_path(info) if can_sendfile(request) else None
    if local is not None:
        try:
            handle = open(local, "rb")  # noqa: SIM115 - closed below, after the send
        except FileNotFoundError as exc:  # deleted since the stat
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest}) from exc
        with handle:
            await stream.prepare(request)
            await send_range(request, stream, handle, start, stop - start)
        return stream
    await stream.prepare(request)
    async for chunk in registry.blobs.open(info, start, stop - start):
        await stream.write(chunk)
    await stream.write_eof()
    return stream


async def delete_blob(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    await registry_of(request).blobs.delete(name, parse_digest(digest))
    return web.Response(status=202, headers={"Content-Length": "0"})
