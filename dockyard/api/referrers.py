"""``/v2/<name>/referrers/<digest>``: the OCI 1.1 referrers API, an index of manifests naming a subject."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.api.context import parse_digest, registry_of
from dockyard.registry.manifest_format import OCI_INDEX


async def list_referrers(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    subject = parse_digest(digest)
    wanted = request.query.get("artifactType")
    descriptors: list[dict[str, object]] = []
    for stored, manifest in await registry_of(request).manifests.referrers(name, subject):
        if wanted and manifest.artifact_type != wanted:
            continue
        descriptor: dict[str, object] = {
            "mediaType": stored.media_type,
            "digest": str(stored.digest),
            "size": len(stored.body),
        }
        if manifest.artifact_type:
            descriptor["artifactType"] = manifest.artifact_type
        if manifest.annotations:
            descriptor["annotations"] = manifest.annotations
        descriptors.append(descriptor)
    headers = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return web.Response(body=json.dumps(body).encode(), content_type=OCI_INDEX, headers=headers)
