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

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import CacheUnavailable
from dockyard.registry.errors import RegistryError
from dockyard.registry.gc_generation import Sweep
from dockyard.registry.manifest_format import StoredReferences, stored_references
from dockyard.storage import concurrent
from dockyard.storage.layout import Link, LinkFile, RepositoryScan, StorageLayout, StoredBlob

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
    tags: tuple[str, ...]  # the tags whose index (history) names the digest: those entries go too


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
    kept: list[StoredBlob] = field(default_factory=list)  # unmarked, but the shared cache could not be told
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
            "blobs_kept_cache_unavailable": [str(blob.digest) for blob in self.kept],
            "seconds": round(self.seconds, 3),
        }


def _quiet(line: str) -> None:
    return None


async def _no_guard() -> None:
    return None


async def _no_cache(digest: Digest) -> None:
    return None


class GarbageCollector:
    """One run of mark and sweep over a storage layout.

    The storage is read in bulk: one walk of the blobs, one of the repositories (a flat listing each on
    S3), then the revision links and manifests many at a time. What the mark read, the sweep reuses.
    """

    def __init__(
        self,
        layout: StorageLayout,
        options: GcOptions,
        emit: Emit = _quiet,
        guard: Guard = _no_guard,
        forget: Forget = _no_cache,
        sweep: Sweep | None = None,
        documents: dict[Digest, StoredReferences | None] | None = None,
    ) -> None:
        self._layout = layout
        self._sweep = sweep  # announces the blob deletions to per-process caches (registry.gc_generation)
        self._options = options
        self._emit = emit
        self._guard = guard  # awaited before deleting: raises when this collector must stop
        self._forget = forget  # drop a deleted blob from the caches
        # the manifests read (None: unreadable); a dict passed in is shared with other collectors
        self._documents = {} if documents is None else documents
        self._seen: dict[str, set[str]] = {}  # revision link paths found by the mark, per repository
        self._started = time.time()

    @property
    def _cutoff(self) -> float:
        """Anything modified after this is young."""
        return self._started - self._options.grace_seconds

    async def run(self) -> GcResult:
        """One garbage collection; raises GcError (having deleted nothing) when the mark fails."""
        # The blob walk (a worker thread on a local disk) runs while the repositories are read. A blob
        # stored after it is never a candidate; one stored during it is protected as any young blob is.
        stored, scans = await asyncio.gather(self._stored_blobs(), self._scan())
        result = await self.eligible(scans, stored)
        if not self._options.dry_run:
            await self._sweep_manifests(result)
        unmarked = result.blobs
        if self._options.grace_seconds > 0:
            await self._mark_late_manifests(result)
            unmarked = [blob for blob in unmarked if blob.digest not in result.marked]
            result.spared = [blob for blob in unmarked if blob.mtime > self._cutoff]
            unmarked = [blob for blob in unmarked if blob.mtime <= self._cutoff]
        result.blobs = unmarked
        self._emit(f"\n{result.summary}")
        for blob in unmarked:
            self._emit(f"blob eligible for deletion: {blob.digest}")
        if not self._options.dry_run and unmarked:
            if self._sweep is not None:
                await self._sweep.begin()
            try:
                await concurrent.each(list(unmarked), lambda blob: self._delete_blob(blob, result))
            finally:
                if self._sweep is not None:
                    await self._sweep.end()
        result.seconds = time.time() - self._started
        return result

    # -- mark --------------------------------------------------------------------------------

    async def _stored_blobs(self) -> dict[Digest, StoredBlob]:
        return {blob.digest: blob async for blob in self._layout.stored_blobs()}

    async def _scan(self) -> list[RepositoryScan]:
        """What the mark reads of every repository the reference's collector visits, in its order."""
        names = [name async for name in self._layout.collectable_repositories()]
        return await concurrent.each(names, self._layout.scan_repository)

    async def _read_documents(self, digests: Iterable[Digest]) -> None:
        """Read (and remember) the references of every manifest not read yet, many at once."""
        missing = [digest for digest in dict.fromkeys(digests) if digest not in self._documents]
        bodies = await concurrent.each(missing, self._layout.blob_bytes)
        for digest, body in zip(missing, bodies, strict=True):
            try:
                self._documents[digest] = None if body is None else stored_references(body)
            except RegistryError:
                self._documents[digest] = None

    def _document(self, digest: Digest) -> StoredReferences:
        """The manifest's references; a manifest the reference could not read stops the mark."""
        document = self._documents.get(digest)
        if document is None:
            raise GcError(f"failed to retrieve manifest for digest {digest}")
        return document

    async def eligible(self, scans: list[RepositoryScan], stored: dict[Digest, StoredBlob]) -> GcResult:
        """The mark alone, from a read of the storage already made (``stored``: the blobs present): what
        is marked, the manifests and referrers to delete, and as ``blobs`` every stored blob left unmarked
        (before any grace period). Deletes nothing."""
        result = GcResult(self._options)
        await self._mark(scans, set(stored), result)
        result.blobs = [blob for digest, blob in stored.items() if digest not in result.marked]
        return result

    async def _mark(self, scans: list[RepositoryScan], stored: set[Digest], result: GcResult) -> None:
        """Mark from what a scan found (``stored``: the digests of the blobs present)."""
        revisions = {
            scan.name: [link for link in await self._layout.read_links(scan.revisions)
                        if link.digest is not None and link.digest in stored]
            for scan in scans
        }  # fmt: skip
        manifests = [link.digest for found in revisions.values() for link in found if link.digest]
        await self._read_documents(manifests)
        for scan in scans:
            self._emit(scan.name)
            await self._mark_repository(scan, revisions[scan.name], result)

    async def _mark_repository(self, scan: RepositoryScan, revisions: list[Link], result: GcResult) -> None:
        name = scan.name
        digests = {link.digest for link in revisions if link.digest is not None}
        self._seen[name] = {link.path for link in scan.revisions}
        documents = {digest: self._documents.get(digest) for digest in digests}
        has_referrers = any(document is not None and document.subject for document in documents.values())
        tagged: set[Digest] = set()
        if self._options.delete_untagged or has_referrers:  # only then does liveness depend on the tags
            await self._layout.scan_tags(scan)
            tagged = {link.digest for link in await self._layout.read_links(list(scan.tags.values()))
                      if link.digest is not None}  # fmt: skip
        young = {link.digest for link in revisions if link.mtime > self._cutoff and link.digest is not None}
        live = self._live(digests, tagged | young, documents)
        for link in revisions:
            digest = link.digest
            assert digest is not None
            if digest in live:
                self._emit(f"{name}: marking manifest {digest} ")
                result.marked.add(digest)
                for reference in self._document(digest).references:
                    result.marked.add(reference)
                    self._emit(f"{name}: marking blob {reference}")
            else:
                self._emit(f"manifest eligible for deletion: {digest}")
                result.manifests.append(ManifestDeletion(name, digest, tuple(scan.tag_index.get(digest, ()))))
        referrers = await self._layout.read_links([file for _, file in scan.referrers])
        for (subject, _), link in zip(scan.referrers, referrers, strict=True):
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
        """Mark what manifests pushed (or pushed again) since the mark began reference (while serving)."""
        late: list[LinkFile] = []
        for scan in await self._scan():
            seen = self._seen.get(scan.name, set())
            late += [file for file in scan.revisions if file.path not in seen or file.mtime > self._cutoff]
        digests = [link.digest for link in await self._layout.read_links(late) if link.digest is not None]
        await self._read_documents(digests)
        for digest in digests:
            result.marked.add(digest)
            document = self._documents.get(digest)
            result.marked.update(document.references if document else ())

    # -- sweep -------------------------------------------------------------------------------

    async def _sweep_manifests(self, result: GcResult) -> None:
        kept = await concurrent.each(result.manifests, self._delete_manifest)
        result.manifests = [item for item, in_use in zip(result.manifests, kept, strict=True) if not in_use]
        for stale in result.referrers:
            await self._layout.remove_referrer(stale.repository, stale.subject, stale.referrer)
            await self._layout.prune_referrers(stale.repository, stale.subject)

    async def _delete_manifest(self, item: ManifestDeletion) -> bool:
        """Delete the revision and its tags' index entries; True when it is spared (in use again)."""
        await self._guard()
        tags = item.tags
        if self._options.grace_seconds > 0:
            if await self._in_use(item):
                return True
            tags = tuple(await self._layout.list_tags(item.repository) or ())  # tags made since the scan
        for tag in tags:
            path = await self._layout.delete_tag_index_entry(item.repository, tag, item.digest)
            if path is not None:
                log.info("deleting manifest tag reference: %s", path)
        path = await self._layout.delete_revision(item.repository, item.digest)
        log.info("deleting manifest: %s", path)
        return False

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
        try:  # first: a blob the shared cache cannot forget stays, for the next run (never reported present)
            await self._forget(blob.digest)
        except CacheUnavailable as exc:
            log.warning("keeping blob %s for the next collection: %s", blob.digest, exc.detail)
            result.blobs.remove(blob)
            result.kept.append(blob)
            return
        path = await self._layout.delete_blob(blob.digest)
        if path is not None:
            log.info("Deleting blob: %s", path)
        try:
            await self._forget(blob.digest)  # a lookup meanwhile may have cached it again
        except CacheUnavailable as exc:
            log.error("deleted blob %s may stay cached until it expires: %s", blob.digest, exc.detail)


async def would_free(
    layout: StorageLayout,
    scans: list[RepositoryScan],
    collectable: list[str],
    stored: dict[Digest, StoredBlob],
) -> tuple[GcResult, GcResult]:
    """What a plain and a ``--delete-untagged`` collection would delete, from one read of the storage
    (``scans`` of the repositories, ``collectable`` naming those the collector visits, in its order)."""
    by_name = {scan.name: scan for scan in scans}
    visited = [by_name[name] for name in collectable if name in by_name]
    documents: dict[Digest, StoredReferences | None] = {}  # read by the first mark, reused by the second
    plain = GarbageCollector(layout, GcOptions(dry_run=True), documents=documents)
    untagged = GarbageCollector(layout, GcOptions(dry_run=True, delete_untagged=True), documents=documents)
    return await plain.eligible(visited, stored), await untagged.eligible(visited, stored)
