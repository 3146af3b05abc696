"""``dockyard fsck``: find what would make the registry serve errors or wrong bytes, and set it aside.

Checked: every blob's bytes against its digest; empty or invalid ``link`` files; revisions whose manifest
is missing, unreadable or names blobs or child manifests that are missing or corrupt; tags pointing at
such manifests; uploads abandoned longer than the purge age or damaged. Orphan blobs (what garbage
collection would delete) are reported, not repaired. ``repair`` never deletes: it moves each broken thing
to ``<root>/dockyard-quarantine/<batch>/<its path>``; a link whose folder names a healthy blob is written
again, and a blob a manifest needs but its repository does not link is linked. What remains then serves
without errors, from dockyard or the reference registry.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifest_format import StoredReferences, stored_references
from dockyard.storage.layout import Link, StorageLayout, StoredBlob

# Problem kinds (stable: they appear in --json output)
CORRUPT_BLOB = "corrupt-blob"
INVALID_LINK = "invalid-link"
MISSING_MANIFEST = "missing-manifest"
BROKEN_MANIFEST = "broken-manifest"
UNLINKED_BLOB = "unlinked-blob"
DANGLING_TAG = "dangling-tag"
STALE_UPLOAD = "stale-upload"
ORPHAN_BLOB = "orphan-blob"  # reported only: garbage collection's business


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    path: str
    detail: str
    repaired: str = ""  # what --repair did

    def as_json(self) -> dict[str, str]:
        entry = {"kind": self.kind, "path": self.path, "detail": self.detail}
        if self.repaired:
            entry["repaired"] = self.repaired
        return entry


@dataclass
class FsckReport:
    problems: list[Problem] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_checked: int = 0
    manifests_checked: int = 0
    quarantine: str | None = None

    @property
    def broken(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.kind != ORPHAN_BLOB]

    def as_json(self) -> dict[str, Any]:
        return {
            "blobs_checked": self.blobs_checked,
            "bytes_checked": self.bytes_checked,
            "manifests_checked": self.manifests_checked,
            "problems": [problem.as_json() for problem in self.problems],
            "quarantine": self.quarantine,
        }


async def _verify(layout: StorageLayout, blob: StoredBlob) -> bool:
    hasher = hashlib.new(blob.digest.algorithm)
    async for chunk in layout.blob_reader(blob.digest):
        if len(chunk) > 1 << 16:
            await asyncio.to_thread(hasher.update, chunk)
        else:
            hasher.update(chunk)
    return hasher.hexdigest() == blob.digest.hex


class Fsck:
    def __init__(
        self,
        layout: StorageLayout,
        upload_age_seconds: float,
        repair: bool,
        progress: Callable[[str], None] = lambda label: None,
    ) -> None:
        self._layout = layout
        self._upload_age = upload_age_seconds
        self._repair = repair
        self._progress = progress
        self._batch = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self._report = FsckReport()
        self._healthy: dict[Digest, StoredBlob] = {}  # blobs whose bytes match their digest
        self._referenced: set[Digest] = set()

    async def run(self) -> FsckReport:
        await self._check_blobs()
        async for name in self._layout.repositories():
            self._progress(name)
            await self._check_repository(name)
        await self._check_uploads()
        for digest, blob in sorted(self._healthy.items(), key=lambda item: str(item[0])):
            if digest not in self._referenced:
                self._add(ORPHAN_BLOB, blob.path, "no manifest references it (garbage-collect removes it)")
        if self._repair and self._report.broken:
            self._report.quarantine = f"dockyard-quarantine/{self._batch}"
        return self._report

    def _add(self, kind: str, path: str, detail: str, repaired: str = "") -> None:
        self._report.problems.append(Problem(kind, path, detail, repaired))

    async def _set_aside(self, kind: str, path: str, detail: str) -> None:
        repaired = ""
        if self._repair:
            repaired = "moved to " + (await self._layout.quarantine(path, self._batch)).lstrip("/")
        self._add(kind, path, detail, repaired)

    async def _check_blobs(self) -> None:
        async for blob in self._layout.stored_blobs():
            self._progress(str(blob.digest))
            self._report.blobs_checked += 1
            self._report.bytes_checked += blob.size
            if await _verify(self._layout, blob):
                self._healthy[blob.digest] = blob
            else:
                await self._set_aside(CORRUPT_BLOB, blob.path, f"bytes do not hash to {blob.digest}")

    async def _check_links(
        self, name: str, links: list[Link], relink: Callable[[Digest], Any]
    ) -> set[Digest]:
        """Report links that name nothing (or another digest); rewrite them when their folder names a
        healthy blob. The digests the repository validly links."""
        valid: set[Digest] = set()
        for link in links:
            wrong = link.digest is None or (
                link.expected is not None
                and link.digest != link.expected
                and link.digest.algorithm == link.expected.algorithm
            )
            if not wrong:
                if link.digest is not None:
                    valid.add(link.expected or link.digest)
                continue
            detail = (
                "empty or invalid link" if link.digest is None else f"names {link.digest}, not its folder"
            )
            await self._set_aside(INVALID_LINK, link.path, detail)
            if self._repair and link.expected is not None and link.expected in self._healthy:
                await relink(link.expected)
                valid.add(link.expected)
        return valid

    async def _check_repository(self, name: str) -> None:
        layers = await self._check_links(
            name,
            [link async for link in self._layout.layer_links(name)],
            lambda digest: self._layout.link_layer(name, digest, digest),
        )
        revisions = await self._check_links(
            name,
            [link async for link in self._layout.revision_links(name)],
            lambda digest: self._layout.link_revision(name, digest),
        )
        documents: dict[Digest, StoredReferences | None] = {}
        for digest in revisions:
            self._report.manifests_checked += 1
            documents[digest] = await self._read(digest)
        broken = await self._broken_manifests(name, revisions, documents, layers)
        for digest in sorted(broken, key=str):
            link = await self._layout.revision_link_info(name, digest)
            if link is not None:
                kind, detail = broken[digest]
                await self._set_aside(kind, link.path, detail)
        live = revisions - set(broken)
        for digest in live:
            document = documents[digest]
            self._referenced.add(digest)
            self._referenced.update(document.references if document else ())
        async for tag, link in self._layout.tag_links(name):
            if link.digest is None or link.digest not in live:
                what = (
                    "an empty or invalid link" if link.digest is None else f"{link.digest}, missing or broken"
                )
                detail = f"tag {name}:{tag} points at {what}"
                if self._repair:
                    moved = await self._layout.quarantine_tag(name, tag, self._batch)
                    self._add(DANGLING_TAG, link.path, detail, "tag moved to " + moved.lstrip("/"))
                else:
                    self._add(DANGLING_TAG, link.path, detail)
        async for _subject, link in self._layout.referrer_links(name):
            if link.digest is None:
                await self._set_aside(INVALID_LINK, link.path, "empty or invalid referrers index link")

    async def _read(self, digest: Digest) -> StoredReferences | None:
        if digest not in self._healthy:
            return None
        try:
            return stored_references(await self._layout.read_blob(digest))
        except RegistryError:
            return None

    async def _broken_manifests(
        self,
        name: str,
        revisions: set[Digest],
        documents: dict[Digest, StoredReferences | None],
        layers: set[Digest],
    ) -> dict[Digest, tuple[str, str]]:
        """Revisions that cannot be served whole, as digest -> (kind, detail); an index is broken when
        one of its children is."""
        broken: dict[Digest, tuple[str, str]] = {}
        for digest in revisions:
            document = documents[digest]
            if digest not in self._healthy:
                broken[digest] = (MISSING_MANIFEST, f"manifest {digest} is missing or corrupt")
            elif document is None:
                broken[digest] = (BROKEN_MANIFEST, f"manifest {digest} cannot be read")
            else:
                blobs = [ref for ref in document.references if ref not in document.children]
                missing = [ref for ref in blobs if ref not in self._healthy]
                if missing:
                    broken[digest] = (BROKEN_MANIFEST, f"manifest {digest} needs missing blob {missing[0]}")
                for ref in blobs:
                    if ref in self._healthy and ref not in layers:
                        await self._unlinked(name, digest, ref, layers)
        changed = True
        while changed:
            changed = False
            for digest in revisions - set(broken):
                document = documents[digest]
                assert document is not None
                gone = [child for child in document.children if child not in revisions or child in broken]
                if gone:
                    broken[digest] = (BROKEN_MANIFEST, f"index {digest} needs missing manifest {gone[0]}")
                    changed = True
        return broken

    async def _unlinked(self, name: str, manifest: Digest, blob: Digest, layers: set[Digest]) -> None:
        detail = f"manifest {manifest} needs {blob}, which {name} does not link"
        if self._repair:
            await self._layout.link_layer(name, blob, blob)
            layers.add(blob)
            self._add(UNLINKED_BLOB, name, detail, "linked")
        else:
            self._add(UNLINKED_BLOB, name, detail)

    async def _check_uploads(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self._upload_age)
        async for name, upload_id, started_at in self._layout.uploads():
            damaged = await self._layout.upload_started_at(name, upload_id) is None or (
                await self._layout.upload_size(name, upload_id) is None
            )
            if not damaged and started_at >= cutoff:
                continue
            detail = f"upload {upload_id} in {name} " + (
                "is damaged (no startedat or data)" if damaged else f"started {started_at.isoformat()}"
            )
            repaired = ""
            if self._repair:
                moved = await self._layout.quarantine_upload(name, upload_id, self._batch)
                repaired = "moved to " + moved.lstrip("/")
            self._add(STALE_UPLOAD, f"{name}/_uploads/{upload_id}", detail, repaired)


async def fsck(
    layout: StorageLayout,
    upload_age_seconds: float,
    repair: bool = False,
    progress: Callable[[str], None] = lambda label: None,
) -> FsckReport:
    return await Fsck(layout, upload_age_seconds, repair, progress).run()
