"""Garbage collection: the reference registry's mark and sweep (``docker-registry garbage-collect``).

Mark: in every repository (folders holding ``_layers``), every manifest revision — with
``delete_untagged`` only the tagged ones — with its config, layers and child manifests. Sweep: the
revisions left unmarked lose their folder (and their tags' index entries), then every blob no marked
manifest names loses its ``blobs/…/<hex>`` folder. The summary is the reference's, line for line.

Where dockyard differs, on purpose: a child of a live index is live (the reference's
``--delete-untagged`` deletes the children of a tagged multi-arch index, distribution #3178); a referrer
lives as long as its subject does and goes with it; the ``_referrers`` index loses entries whose referrer
went. With a grace period (a collection while registries serve), manifests and blobs younger than it are
spared, manifests pushed during the mark are marked before the sweep, and each blob's age is read again
right before it is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifest_format import StoredReferences, stored_references
from dockyard.storage.layout import Link, StorageLayout, StoredBlob

log = logging.getLogger(__name__)

Emit = Callable[[str], None]
Guard = Callable[[], Awaitable[None]]
Forget = Callable[[Digest], Awaitable[None]]


class GcError(Exception):
    """Marking failed; nothing was deleted (the reference stops the same way)."""


@dataclass(frozen=True, slots=True)
class GcOptions:
    dry_run: bool = False
    delete_untagged: bool = False
    grace_seconds: float = 0.0  # spare manifests and blobs younger than this (0: the reference's result)


@dataclass(frozen=True, slots=True)
class ManifestDeletion:
    repository: str
    digest: Digest
    tags: tuple[str, ...]  # every tag of the repository: their index entries for the digest go too


@dataclass(frozen=True, slots=True)
class StaleReferrer:
    repository: str
    subject: Digest
    referrer: Digest


@dataclass
class GcResult:
    options: GcOptions
    marked: set[Digest] = field(default_factory=set)
    manifests: list[ManifestDeletion] = field(default_factory=list)
    blobs: list[StoredBlob] = field(default_factory=list)
    referrers: list[StaleReferrer] = field(default_factory=list)
    spared: list[StoredBlob] = field(default_factory=list)  # unmarked but younger than the grace period
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        return (
            f"{len(self.marked)} blobs marked, {len(self.blobs)} blobs and {len(self.manifests)} "
            "manifests eligible for deletion"
        )

    @property
    def freed_bytes(self) -> int:
        return sum(blob.size for blob in self.blobs)

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.options.dry_run,
            "delete_untagged": self.options.delete_untagged,
            "grace_seconds": self.options.grace_seconds,
            "blobs_marked": len(self.marked),
            "blobs_eligible": [str(blob.digest) for blob in self.blobs],
            "bytes_eligible": self.freed_bytes,
            "manifests_eligible": [
                {"repository": item.repository, "digest": str(item.digest)} for item in self.manifests
            ],
            "referrers_removed": [
                {"repository": item.repository, "subject": str(item.subject), "referrer": str(item.referrer)}
                for item in self.referrers
            ],
            "blobs_spared_young": [str(blob.digest) for blob in self.spared],
            "seconds": round(self.seconds, 3),
        }


def _quiet(line: str) -> None:
    return None


async def _no_guard() -> None:
    return None


async def _no_cache(digest: Digest) -> None:
    return None


class GarbageCollector:
    """One run of mark and sweep over a storage layout."""

    def __init__(
        self,
        layout: StorageLayout,
        options: GcOptions,
        emit: Emit = _quiet,
        guard: Guard = _no_guard,
        forget: Forget = _no_cache,
    ) -> None:
        self._layout = layout
        self._options = options
        self._emit = emit
        self._guard = guard  # awaited before deleting: raises when this collector must stop
        self._forget = forget  # drop a deleted blob from the caches
        self._documents: dict[Digest, StoredReferences | None] = {}
        self._seen: dict[str, set[Digest]] = {}  # revisions found by the mark, per repository
        self._started = time.time()

    @property
    def _cutoff(self) -> float:
        """Anything modified after this is young."""
        return self._started - self._options.grace_seconds

    async def run(self) -> GcResult:
        result = GcResult(self._options)
        async for name in self._layout.collectable_repositories():
            self._emit(name)
            await self._mark_repository(name, result)
        if not self._options.dry_run:
            await self._sweep_manifests(result)
        unmarked = [blob async for blob in self._layout.stored_blobs() if blob.digest not in result.marked]
        if self._options.grace_seconds > 0:
            await self._mark_late_manifests(result)
            unmarked = [blob for blob in unmarked if blob.digest not in result.marked]
            result.spared = [blob for blob in unmarked if blob.mtime > self._cutoff]
            unmarked = [blob for blob in unmarked if blob.mtime <= self._cutoff]
        result.blobs = unmarked
        self._emit(f"\n{result.summary}")
        for blob in list(unmarked):
            self._emit(f"blob eligible for deletion: {blob.digest}")
            if not self._options.dry_run:
                await self._delete_blob(blob, result)
        result.seconds = time.time() - self._started
        return result

    # -- mark --------------------------------------------------------------------------------

    async def _document(self, digest: Digest) -> StoredReferences:
        """The manifest's references; a manifest the reference could not read stops the mark."""
        if digest not in self._documents:
            try:
                self._documents[digest] = stored_references(await self._layout.read_blob(digest))
            except RegistryError as error:
                self._documents[digest] = None
                raise GcError(f"failed to retrieve manifest for digest {digest}: {error.detail}") from error
        document = self._documents[digest]
        if document is None:
            raise GcError(f"failed to retrieve manifest for digest {digest}")
        return document

    async def _peek(self, digest: Digest) -> StoredReferences | None:
        """The references when readable, for deciding liveness (only marked manifests must be readable)."""
        try:
            return await self._document(digest)
        except GcError:
            return None

    async def _revisions(self, name: str) -> list[Link]:
        """Revision links naming a manifest whose bytes are present, in the reference's walk order."""
        found = []
        async for link in self._layout.revision_links(name):
            if link.digest is not None and await self._layout.blob_size(link.digest) is not None:
                found.append(link)
        return found

    async def _mark_repository(self, name: str, result: GcResult) -> None:
        revisions = await self._revisions(name)
        digests = {link.digest for link in revisions if link.digest is not None}
        self._seen[name] = digests
        tagged = {link.digest async for _, link in self._layout.tag_links(name) if link.digest is not None}
        young = {link.digest for link in revisions if link.mtime > self._cutoff and link.digest is not None}
        documents = {digest: await self._peek(digest) for digest in digests}
        live = self._live(digests, tagged | young, documents)
        all_tags: tuple[str, ...] | None = None
        for link in revisions:
            digest = link.digest
            assert digest is not None
            if digest in live:
                self._emit(f"{name}: marking manifest {digest} ")
                result.marked.add(digest)
                for reference in (await self._document(digest)).references:
                    result.marked.add(reference)
                    self._emit(f"{name}: marking blob {reference}")
            else:
                self._emit(f"manifest eligible for deletion: {digest}")
                if all_tags is None:
                    all_tags = tuple(await self._layout.list_tags(name) or [])
                result.manifests.append(ManifestDeletion(name, digest, all_tags))
        async for subject, link in self._layout.referrer_links(name):
            if link.expected is not None and (link.digest not in live or subject not in live):
                result.referrers.append(StaleReferrer(name, subject, link.expected))

    def _live(
        self, digests: set[Digest], tagged: set[Digest], documents: dict[Digest, StoredReferences | None]
    ) -> set[Digest]:
        """Roots, then children of live indexes and referrers of live subjects, to a fixed point."""
        referrers: dict[Digest, list[Digest]] = {}
        for digest, document in documents.items():
            if document is not None and document.subject is not None:
                referrers.setdefault(document.subject, []).append(digest)
        is_referrer = {digest for found in referrers.values() for digest in found}
        if self._options.delete_untagged:
            live = digests & tagged
        else:
            live = {digest for digest in digests if digest not in is_referrer or digest in tagged}
        pending = list(live)
        while pending:
            digest = pending.pop()
            document = documents.get(digest)
            found = [child for child in document.children if child in digests] if document else []
            found += referrers.get(digest, [])
            for item in found:
                if item not in live:
                    live.add(item)
                    pending.append(item)
        return live

    async def _mark_late_manifests(self, result: GcResult) -> None:
        """Mark what manifests pushed since the mark began reference (a collection while serving)."""
        async for name in self._layout.collectable_repositories():
            seen = self._seen.get(name, set())
            for link in await self._revisions(name):
                if link.digest is not None and (link.digest not in seen or link.mtime > self._cutoff):
                    result.marked.add(link.digest)
                    document = await self._peek(link.digest)
                    result.marked.update(document.references if document else ())

    # -- sweep -------------------------------------------------------------------------------

    async def _sweep_manifests(self, result: GcResult) -> None:
        kept: list[ManifestDeletion] = []
        for item in result.manifests:
            await self._guard()
            if self._options.grace_seconds > 0 and await self._in_use(item):
                kept.append(item)
                continue
            for tag in item.tags:
                path = await self._layout.delete_tag_index_entry(item.repository, tag, item.digest)
                if path is not None:
                    log.info("deleting manifest tag reference: %s", path)
            path = await self._layout.delete_revision(item.repository, item.digest)
            log.info("deleting manifest: %s", path)
        result.manifests = [item for item in result.manifests if item not in kept]
        for stale in result.referrers:
            await self._layout.remove_referrer(stale.repository, stale.subject, stale.referrer)
            await self._layout.prune_referrers(stale.repository, stale.subject)

    async def _in_use(self, item: ManifestDeletion) -> bool:
        """Re-read before deleting while registries serve: tagged or re-pushed since the mark."""
        async for _, tag in self._layout.tag_links(item.repository):
            if tag.digest == item.digest:
                return True
        revision = await self._layout.revision_link_info(item.repository, item.digest)
        return revision is not None and revision.mtime > self._cutoff

    async def _delete_blob(self, blob: StoredBlob, result: GcResult) -> None:
        await self._guard()
        if self._options.grace_seconds > 0:
            current = await self._layout.blob_stat(blob.digest)
            if current is not None and current.mtime > self._cutoff:
                result.blobs.remove(blob)
                result.spared.append(current)
                return
        path = await self._layout.delete_blob(blob.digest)
        if path is not None:
            log.info("Deleting blob: %s", path)
        await self._forget(blob.digest)


async def collect(
    layout: StorageLayout,
    options: GcOptions,
    emit: Emit = _quiet,
    guard: Guard = _no_guard,
    forget: Forget = _no_cache,
) -> GcResult:
    """One garbage collection; raises GcError (having deleted nothing) when the mark fails."""
    return await GarbageCollector(layout, options, emit, guard, forget).run()
