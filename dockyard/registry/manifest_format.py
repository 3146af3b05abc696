"""Parsing and validating manifests: Docker schema2 and manifest lists, OCI manifests and indexes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dockyard.grammar import Digest, GrammarError
from dockyard.registry.errors import ErrorCode, RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST, *INDEX_TYPES})
# Types whose documents must name themselves in ``mediaType`` (the OCI ones may leave it out).
_SELF_NAMING = frozenset({DOCKER_MANIFEST, DOCKER_MANIFEST_LIST})


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    blobs: tuple[Descriptor, ...] = ()  # config and layers, which must be linked in the repository
    children: tuple[Descriptor, ...] = ()  # manifests an index names
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """``validation.manifests.urls``: which external layer URLs a manifest may name."""

    allow: tuple[re.Pattern[str], ...] = ()
    deny: tuple[re.Pattern[str], ...] = ()

    def permits(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.fragment:
            return False
        if self.allow and not any(pattern.search(url) for pattern in self.allow):
            return False
        return not any(pattern.search(url) for pattern in self.deny)


def _invalid(detail: str) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_INVALID, detail=detail)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: descriptor must be an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}: mediaType missing")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: size must be a non-negative integer")
    if not isinstance(digest, str):
        raise _invalid(f"{where}: digest missing")
    try:
        parsed = Digest.parse(digest)
    except GrammarError as exc:
        raise _invalid(f"{where}: {exc}") from exc
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise _invalid(f"{where}: urls must be a list of strings")
    return Descriptor(media_type, parsed, size, tuple(urls))


def _descriptors(document: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    values = document.get(key)
    if values is None:
        values = []
    if not isinstance(values, list):
        raise _invalid(f"{key} must be a list")
    return tuple(_descriptor(value, f"{key}[{index}]") for index, value in enumerate(values))


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def stored_media_type(document: dict[str, Any]) -> str:
    """The type of a stored manifest: its own ``mediaType``, or inferred as the reference does."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    return OCI_INDEX if isinstance(document.get("manifests"), list) else OCI_MANIFEST


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise _invalid("manifest must be a JSON object")
    return document


def parse_manifest(content_type: str | None, body: bytes, urls: UrlPolicy | None = None) -> Manifest:
    """Check a pushed manifest is well-formed and say what it references."""
    document = _json_object(body)
    if document.get("schemaVersion") != 2:
        raise _invalid("unsupported schemaVersion (only schema 2 manifests are accepted)")

    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    header = media_type_of(content_type)
    if header in MANIFEST_TYPES:
        if declared is not None and declared != header:
            raise _invalid(f"mediaType {declared!r} does not match Content-Type {header!r}")
        if header in _SELF_NAMING and declared is None:
            raise _invalid(f"mediaType should be {header!r}")
        media_type = header
    elif declared in MANIFEST_TYPES:
        media_type = str(declared)
    elif declared is None:
        media_type = stored_media_type(document)
    else:
        raise _invalid(f"unsupported manifest media type {declared!r}")

    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    annotations = document.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise _invalid("annotations must be an object")
    subject = _descriptor(document["subject"], "subject") if document.get("subject") is not None else None

    if media_type in INDEX_TYPES:
        if not isinstance(document.get("manifests"), list):
            raise _invalid("an index must have a manifests list")
        return Manifest(
            media_type,
            children=_descriptors(document, "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )

    if "config" not in document:
        raise _invalid("an image manifest must have a config")
    config = _descriptor(document["config"], "config")
    layers = _descriptors(document, "layers")
    for layer in layers:
        for url in layer.urls:
            if urls is not None and not urls.permits(url):
                raise _invalid(f"layer {layer.digest} has a URL that is not allowed: {url}")
    return Manifest(
        media_type,
        blobs=(config, *(layer for layer in layers if not layer.urls)),
        subject=subject,
        artifact_type=artifact_type or (config.media_type if media_type == OCI_MANIFEST else None),
        annotations=annotations,
    )


@dataclass(frozen=True, slots=True)
class StoredReferences:
    """What a stored manifest points at, read as the reference registry reads it (schema 1 included)."""

    media_type: str
    references: tuple[Digest, ...]  # in document order: config, layers / child manifests
    children: tuple[Digest, ...] = ()  # manifests an index names
    subject: Digest | None = None
    platforms: tuple[tuple[Digest, str], ...] = ()  # child manifest -> "os/arch[/variant]"


def _digests(values: Any, key: str) -> tuple[Digest, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise _invalid(f"{key} must be a list")
    found = []
    for index, value in enumerate(values):
        digest = value.get(key) if isinstance(value, dict) else None
        if not isinstance(digest, str):
            raise _invalid(f"{index}: {key} missing")
        try:
            found.append(Digest.parse(digest))
        except GrammarError as exc:
            raise _invalid(str(exc)) from exc
    return tuple(found)


def _platform(descriptor: Any) -> str:
    platform = descriptor.get("platform") if isinstance(descriptor, dict) else None
    if not isinstance(platform, dict):
        return ""
    parts = (platform.get("os"), platform.get("architecture"), platform.get("variant"))
    return "/".join(str(part) for part in parts if part)


def stored_references(body: bytes) -> StoredReferences:
    """The references of a stored manifest; MANIFEST_INVALID when the reference could not read it either."""
    document = _json_object(body)
    if document.get("schemaVersion") == 1:
        return StoredReferences("application/vnd.docker.distribution.manifest.v1+json",
                                _digests(document.get("fsLayers"), "blobSum"))  # fmt: skip
    if document.get("schemaVersion") != 2:
        raise _invalid("unsupported schemaVersion")
    media_type = stored_media_type(document)
    if media_type not in MANIFEST_TYPES:
        raise _invalid(f"unrecognized manifest content type {media_type}")
    subject_field = document.get("subject")
    subject = _digests([subject_field], "digest")[0] if isinstance(subject_field, dict) else None
    if media_type in INDEX_TYPES:
        manifests = document.get("manifests")
        children = _digests(manifests, "digest")
        platforms = tuple(zip(children, map(_platform, manifests or []), strict=True))
        return StoredReferences(media_type, children, children, subject, platforms)
    config = _digests([document.get("config")], "digest")
    return StoredReferences(media_type, config + _digests(document.get("layers"), "digest"), (), subject)
