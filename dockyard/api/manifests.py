"""``/v2/<name>/manifests/<reference>``: GET/HEAD with Accept negotiation, PUT, DELETE by digest or tag."""

from __future__ import annotations

from aiohttp import web

from dockyard.api.context import read_body, registry_of, url_for
from dockyard.grammar import Digest
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.manifest_format import OCI_INDEX, OCI_MANIFEST, media_type_of
from dockyard.registry.manifests import MAX_MANIFEST_BYTES, StoredManifest, parse_reference

# The reference registry serves OCI documents only to clients that say they understand them.
_NEEDS_ACCEPT = {
    OCI_MANIFEST: "OCI manifest found, but accept header does not support OCI manifests",
    OCI_INDEX: "OCI index found, but accept header does not support OCI indexes",
}


def _accepted(request: web.Request) -> set[str] | None:
    """The media types the client accepts; None when it accepts anything."""
    values = request.headers.getall("Accept", [])
    types = {media_type_of(item) for value in values for item in value.split(",")}
    types.discard("")
    if not types or "*/*" in types or "application/*" in types:
        return None
    return types


def _lookup_reference(name: str, reference: str) -> Digest | str:
    """A reference to read or delete: a malformed tag names nothing, so it is unknown (404)."""
    try:
        return parse_reference(reference)
    except RegistryError as error:
        if error.code is ErrorCode.TAG_INVALID:
            raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail=error.detail) from error
        raise


async def _negotiate(request: web.Request, name: str, reference: str) -> StoredManifest:
    stored = await registry_of(request).manifests.get(name, _lookup_reference(name, reference))
    accepted = _accepted(request)
    if accepted is not None and stored.media_type in _NEEDS_ACCEPT and stored.media_type not in accepted:
        raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, message=_NEEDS_ACCEPT[stored.media_type])
    return stored


def _headers(stored: StoredManifest) -> dict[str, str]:
    return {
        "Content-Type": stored.media_type or "application/octet-stream",
        "Docker-Content-Digest": str(stored.digest),
        "ETag": f'"{stored.digest}"',
    }


async def get_manifest(request: web.Request, name: str, reference: str) -> web.StreamResponse:
    stored = await _negotiate(request, name, reference)
    headers = _headers(stored)
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(status=200, body=stored.body, headers=headers)


async def head_manifest(request: web.Request, name: str, reference: str) -> web.StreamResponse:
    stored = await _negotiate(request, name, reference)
    headers = _headers(stored)
    headers["Content-Length"] = str(len(stored.body))
    return web.Response(status=200, headers=headers)


async def put_manifest(request: web.Request, name: str, reference: str) -> web.StreamResponse:
    parsed = parse_reference(reference)
    body = await read_body(request, MAX_MANIFEST_BYTES, ErrorCode.MANIFEST_INVALID)
    extra_tags = tuple(request.query.getall("tag", [])) if not isinstance(parsed, str) else ()
    result = await registry_of(request).manifests.put(
        name, parsed, request.headers.get("Content-Type"), body, extra_tags
    )
    headers = {
        "Location": url_for(request, f"/v2/{name}/manifests/{result.digest}"),
        "Docker-Content-Digest": str(result.digest),
        "Content-Length": "0",
    }
    if extra_tags:
        headers["OCI-Tag"] = ", ".join(result.tags)
    if result.subject is not None:
        headers["OCI-Subject"] = str(result.subject)
    return web.Response(status=201, headers=headers)


async def delete_manifest(request: web.Request, name: str, reference: str) -> web.StreamResponse:
    await registry_of(request).manifests.delete(name, _lookup_reference(name, reference))
    return web.Response(status=202, headers={"Content-Length": "0"})
