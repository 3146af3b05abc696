"""``/v2/<name>/blobs/uploads/[<id>]``: start, mount, stream, chunk, query, finish and cancel uploads."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from dockyard.api.context import SETTINGS, parse_digest, registry_of, stream_body, url_for
from dockyard.api.errors import ErrorAnswer, error_response
from dockyard.api.spliced_body import SplicedBody
from dockyard.grammar import is_valid_name
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.service import Registry
from dockyard.registry.upload_state import UploadState

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)$")


@contextlib.asynccontextmanager
async def _body(request: web.Request) -> AsyncIterator[AsyncIterator[bytes]]:
    """The request body; a large plain-TCP one can be spliced into the upload file (see spliced_body).
    Entered first thing in a handler: what aiohttp reads of a spliceable body before its reading is
    held takes the slower, copying path (about 1.9 MB of every 16 MiB chunk when held after the
    upload's state was read)."""
    if SplicedBody.possible(request):
        async with SplicedBody(request, request.app[SETTINGS].read_timeout_seconds) as body:
            yield body
    else:
        yield stream_body(request)


def _in_progress(request: web.Request, state: UploadState) -> web.Response:
    token = registry_of(request).uploads.token(state)
    location = url_for(request, f"/v2/{state.name}/blobs/uploads/{state.upload_id}?_state={token}")
    return web.Response(
        status=202,
        headers={
            "Location": location,
            "Range": f"0-{max(state.offset - 1, 0)}",
            "Docker-Upload-UUID": state.upload_id,
            "Content-Length": "0",
        },
    )


def _created(request: web.Request, name: str, digest: str) -> web.Response:
    return web.Response(
        status=201,
        headers={
            "Location": url_for(request, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


def _chunk_start(request: web.Request) -> int | None:
    header = request.headers.get("Content-Range")
    if header is None:
        return None
    match = _CONTENT_RANGE_RE.match(header.strip())
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise RegistryError(ErrorCode.RANGE_INVALID, detail=f"invalid Content-Range {header[:100]!r}")
    return int(match.group(1))


def _has_body(request: web.Request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"


async def start_upload(request: web.Request, name: str) -> web.StreamResponse:
    registry = registry_of(request)
    query = request.query
    if "mount" in query:
        digest = parse_digest(query["mount"])
        source = query.get("from") or None
        if source is not None and not is_valid_name(source):
            raise RegistryError(ErrorCode.NAME_INVALID, detail={"name": source[:300]})
        if await registry.blobs.mount(name, digest, source):
            return _created(request, name, str(digest))
    if "digest" in query:
        digest = parse_digest(query["digest"])
        state: UploadState | None = None
        try:
            async with _body(request) as body:
                state = await registry.uploads.start(name)
                state = await registry.uploads.append(state, body, None, save_hash_state=False)
            await registry.uploads.commit(state, digest)
        except BaseException:
            if state is not None:
                await _discard(registry, state)
            raise
        return _created(request, name, str(digest))
    return _in_progress(request, await registry.uploads.start(name))


async def _discard(registry: Registry, state: UploadState) -> None:
    with contextlib.suppress(RegistryError):  # already gone: a failed commit cancels on its own
        await registry.uploads.cancel(state)


@contextlib.contextmanager
def _range_refusals(offset: int) -> Iterator[None]:
    """A chunk or ``_state`` at the wrong offset answers 416 with the ``Range`` the upload really has:
    the stored size where the refusal says it (a stale or replayed ``_state``), else ``offset``."""
    try:
        yield
    except RegistryError as error:
        if error.code is not ErrorCode.RANGE_INVALID:
            raise
        if isinstance(error.detail, dict):
            offset = error.detail["offset"]
        response = error_response(error)
        response.headers["Range"] = f"0-{max(offset - 1, 0)}"
        raise ErrorAnswer(response) from error


async def _resume(
    request: web.Request, name: str, upload_id: str, *, allow_stale: bool = False, check_on_open: bool = False
) -> UploadState:
    """The upload's state (see ``UploadManager.resume``; a status query answers where the upload stands
    instead of refusing a stale ``_state``, as the OCI conformance suite wants)."""
    with _range_refusals(0):
        return await registry_of(request).uploads.resume(
            name, upload_id, request.query.get("_state"), allow_stale=allow_stale, check_on_open=check_on_open
        )


async def upload_status(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    response = _in_progress(request, await _resume(request, name, upload_id, allow_stale=True))
    response.set_status(204)
    return response


async def _append(
    request: web.Request, body: AsyncIterator[bytes], state: UploadState, *, last: bool = False
) -> UploadState:
    """Append the request body; a chunk at the wrong offset is told where the upload stands. Before the
    ``last`` chunk (a commit follows) no hash state is saved."""
    with _range_refusals(state.offset):
        return await registry_of(request).uploads.append(
            state, body, _chunk_start(request), save_hash_state=not last
        )


async def patch_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    async with _body(request) as body:
        state = await _append(request, body, await _resume(request, name, upload_id, check_on_open=True))
    return _in_progress(request, state)


async def finish_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    registry = registry_of(request)
    if "digest" not in request.query:
        raise RegistryError(ErrorCode.DIGEST_INVALID, detail="digest query parameter missing")
    digest = parse_digest(request.query["digest"])
    async with _body(request) as body:
        state = await _resume(request, name, upload_id, check_on_open=True)
        if _has_body(request):
            state = await _append(request, body, state, last=True)
    with _range_refusals(state.offset):
        await registry.uploads.commit(state, digest)
    return _created(request, name, str(digest))


async def cancel_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    state = await _resume(request, name, upload_id)
    await registry_of(request).uploads.cancel(state)
    return web.Response(status=204)
