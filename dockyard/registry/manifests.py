"""Manifests and tags: content-addressed documents linked into ``_manifests``, named by tags."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from dockyard.grammar import Digest, GrammarError, is_valid_tag, looks_like_digest, valid_tags
from dockyard.registry.blob_cache import BlobDescriptorCache, NoCache
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.manifest_format import Manifest, UrlPolicy, parse_manifest, stored_media_type
from dockyard.storage.layout import StorageLayout

MAX_MANIFEST_BYTES = 4 << 20
_CACHED_DOCUMENTS = 2048


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: Digest
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    subject: Digest | None
    tags: tuple[str, ...]


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference is a digest or a tag; anything else is refused before storage."""
    if looks_like_digest(reference):
        try:
            return Digest.parse(reference)
        except GrammarError as exc:
            raise RegistryError(ErrorCode.DIGEST_INVALID, detail=str(exc)) from exc
    if not is_valid_tag(reference):
        raise RegistryError(ErrorCode.TAG_INVALID, detail=f"invalid tag: {reference[:200]!r}")
    return reference


class ManifestStore:
    def __init__(
        self,
        layout: StorageLayout,
        delete_enabled: bool,
        urls: UrlPolicy | None = None,
        cache: BlobDescriptorCache | None = None,
    ) -> None:
        self._layout = layout
        self._cache: BlobDescriptorCache = cache or NoCache()
        self._delete_enabled = delete_enabled
        self._urls = urls
        # Documents are immutable by digest, so caching them can never serve stale bytes.
        self._documents: OrderedDict[Digest, StoredManifest] = OrderedDict()

    async def _load(self, digest: Digest) -> StoredManifest | None:
        cached = self._documents.get(digest)
        if cached is not None:
            self._documents.move_to_end(digest)
            return cached
        if await self._layout.blob_size(digest) is None:
            return None
        body = await self._layout.read_blob(digest)
        try:
            document = json.loads(body)
            media_type = stored_media_type(document) if isinstance(document, dict) else ""
        except (ValueError, UnicodeDecodeError):
            media_type = ""
        stored = StoredManifest(digest, media_type, body)
        self._documents[digest] = stored
        if len(self._documents) > _CACHED_DOCUMENTS:
            self._documents.popitem(last=False)
        return stored

    async def resolve(self, name: str, reference: Digest | str) -> Digest:
        """The digest a tag or digest names in this repository."""
        if isinstance(reference, Digest):
            digest: Digest | None = reference
        else:
            digest = await self._layout.tag_target(name, reference)
        if digest is None or await self._layout.revision_link(name, digest) is None:
            raise RegistryError(
                ErrorCode.MANIFEST_UNKNOWN, detail={"name": name, "reference": str(reference)}
            )
        return digest

    async def get(self, name: str, reference: Digest | str) -> StoredManifest:
        digest = await self.resolve(name, reference)
        stored = await self._load(digest)
        if stored is None:
            raise RegistryError(
                ErrorCode.MANIFEST_UNKNOWN, detail={"name": name, "reference": str(reference)}
            )
        return stored

    async def put(
        self,
        name: str,
        reference: Digest | str,
        content_type: str | None,
        body: bytes,
        extra_tags: tuple[str, ...] = (),
    ) -> PutResult:
        """Store a manifest, tag it by the URL's tag (or the ``?tag=`` list of a push by digest)."""
        if len(body) > MAX_MANIFEST_BYTES:
            raise RegistryError(
                ErrorCode.MANIFEST_INVALID, detail=f"manifest exceeds {MAX_MANIFEST_BYTES} bytes"
            )
        for tag in extra_tags:
            if not is_valid_tag(tag):
                raise RegistryError(ErrorCode.TAG_INVALID, detail=f"invalid tag: {tag[:200]!r}")
        manifest = parse_manifest(content_type, body, self._urls)
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        digest = Digest.of(body, algorithm)
        if isinstance(reference, Digest) and digest != reference:
            raise RegistryError(
                ErrorCode.DIGEST_INVALID, detail=f"manifest digest is {digest}, URL says {reference}"
            )
        await self._check_references(name, manifest)

        # written even when stored already: the same bytes, young again (a running collection spares
        # them), and one request instead of asking first (on S3 a HEAD and a listing) and then writing
        await self._layout.put_blob(digest, body)
        await self._layout.link_revision(name, digest)
        if manifest.subject is not None:
            await self._layout.add_referrer(name, manifest.subject.digest, digest)
        tags = (reference,) if isinstance(reference, str) else extra_tags
        for tag in tags:
            await self._layout.set_tag(name, tag, digest)
        return PutResult(digest, manifest.subject.digest if manifest.subject else None, tags)

    async def _check_references(self, name: str, manifest: Manifest) -> None:
        missing = [blob.digest for blob in manifest.blobs if not await self._has_blob(name, blob.digest)]
        missing += [
            child.digest
            for child in manifest.children
            if await self._layout.revision_link(name, child.digest) is None
        ]
        if missing:
            raise RegistryError(
                ErrorCode.MANIFEST_BLOB_UNKNOWN,
                detail={"digest": str(missing[0]), "missing": [str(digest) for digest in missing]},
            )

    async def _has_blob(self, name: str, digest: Digest) -> bool:
        """Linked into the repository and its bytes still present (a collected blob does not count)."""
        stored = await self._layout.layer_link(name, digest)
        return stored is not None and await self._layout.blob_size(stored) is not None

    async def delete(self, name: str, reference: Digest | str) -> None:
        """By digest: remove the revision and every tag on it. By tag: remove just that tag."""
        if not self._delete_enabled:
            raise RegistryError(ErrorCode.UNSUPPORTED, detail="manifest deletion is disabled")
        if isinstance(reference, str):
            if await self._layout.tag_target(name, reference) is None:
                raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"name": name, "tag": reference})
            await self._layout.delete_tag(name, reference)
            return
        digest = await self.resolve(name, reference)
        stored = await self._load(digest)
        await self._cache.forget(name, digest)  # first: a cache that cannot be invalidated stops the delete
        await self._layout.unlink_revision(name, digest)
        await self._cache.forget(name, digest)  # a lookup meanwhile may have cached it again
        for tag in await self._layout.list_tags(name) or []:
            if await self._layout.tag_target(name, tag) == digest:
                await self._layout.delete_tag(name, tag)
        subject = _subject_of(stored.body) if stored is not None else None
        if subject is not None:
            await self._layout.remove_referrer(name, subject, digest)

    def forget(self, digest: Digest) -> None:
        """Drop a document garbage collection deleted."""
        self._documents.pop(digest, None)

    async def tags(self, name: str, after: str | None = None) -> list[str]:
        """The repository's tags, sorted; from ``after`` on when given (a paged listing's ``last``)."""
        tags = await self._layout.list_tags(name, after or "")
        if tags is None:
            if not await self._layout.repository_exists(name):
                raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": name})
            return []
        return valid_tags(tags)

    async def referrers(self, name: str, subject: Digest) -> list[tuple[StoredManifest, Manifest]]:
        """Manifests in ``name`` whose subject is ``subject``, each with its parsed form."""
        found: list[tuple[StoredManifest, Manifest]] = []
        for digest in sorted(await self._layout.referrers(name, subject), key=str):
            if await self._layout.revision_link(name, digest) is None:
                continue
            stored = await self._load(digest)
            if stored is None:
                continue
            try:
                manifest = parse_manifest(stored.media_type, stored.body)
            except RegistryError:
                continue
            if manifest.subject is not None and manifest.subject.digest == subject:
                found.append((stored, manifest))
        return found


def _subject_of(body: bytes) -> Digest | None:
    try:
        subject = json.loads(body).get("subject")
        return Digest.parse(subject["digest"]) if isinstance(subject, dict) else None
    except (ValueError, AttributeError, KeyError, TypeError, GrammarError):
        return None
