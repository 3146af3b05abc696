"""The one module that knows the reference registry's storage tree.

::

    /docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
    /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_uploads/<uuid>/{data,startedat}
    /docker/registry/v2/repositories/<name>/_uploads/<uuid>/hashstates/<alg>/<offset>
    /docker/registry/v2/repositories/<name>/_referrers/<alg>/<hex>/<alg>/<hex>/link   (dockyard only)
    /dockyard/gc.lock, /dockyard/gc.generation, /dockyard/leases/<id>
                                                    (dockyard only: coordination of garbage collection)

A ``link`` holds a bare digest with no newline. ``_referrers`` starts with an underscore, so the
reference registry's catalog walk skips it and never mistakes it for a repository.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dockyard.grammar import Digest, GrammarError
from dockyard.storage import concurrent
from dockyard.storage.drivers.base import FileInfo, PathNotFound, StorageDriver, UploadWriter

ROOT = "/docker/registry/v2"
# A folder holding one of these is a repository in the catalog (an upload alone does not make one).
_CONTENT_MARKERS = frozenset({"_layers", "_manifests"})
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"
# dockyard's own coordination files, outside the reference's tree so the reference never sees them
_COORDINATION = "/dockyard"
_GC_LOCK = f"{_COORDINATION}/gc.lock"
_GC_GENERATION = f"{_COORDINATION}/gc.generation"
_LEASES = f"{_COORDINATION}/leases"
_QUARANTINE = "/dockyard-quarantine"  # fsck --repair moves broken things here, under their own path


def _blob_dir(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def _blob_data(digest: Digest) -> str:
    return f"{_blob_dir(digest)}/data"


def _repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def _layer_link(name: str, digest: Digest) -> str:
    return f"{_repository(name)}/_layers/{digest.algorithm}/{digest.hex}/link"


def _revisions(name: str) -> str:
    return f"{_repository(name)}/_manifests/revisions"


def _revision_link(name: str, digest: Digest) -> str:
    return f"{_revisions(name)}/{digest.algorithm}/{digest.hex}/link"


def _tags(name: str) -> str:
    return f"{_repository(name)}/_manifests/tags"


def _tag(name: str, tag: str) -> str:
    return f"{_tags(name)}/{tag}"


def _upload(name: str, upload_id: str) -> str:
    return f"{_repository(name)}/_uploads/{upload_id}"


def _hash_states(name: str, upload_id: str, algorithm: str) -> str:
    return f"{_upload(name, upload_id)}/hashstates/{algorithm}"


def _referrers(name: str, subject: Digest) -> str:
    return f"{_repository(name)}/_referrers/{subject.algorithm}/{subject.hex}"


@dataclass(frozen=True, slots=True)
class Link:
    """A ``link`` file found by a walk: where it is, what it names, what its folders say it should name."""

    path: str
    digest: Digest | None  # None when the file is empty or damaged
    expected: Digest | None  # from the folder names; None when they are no digest
    mtime: float


@dataclass(frozen=True, slots=True)
class LinkFile:
    """A ``link`` file a scan found, not read yet (``read_links`` reads many at once)."""

    path: str
    expected: Digest | None
    mtime: float


@dataclass
class RepositoryScan:
    """A repository's manifests, tags and referrers as walks found them: what garbage collection reads,
    read once."""

    name: str
    revisions: list[LinkFile] = field(default_factory=list)  # in path order
    tags: dict[str, LinkFile] = field(default_factory=dict)  # each tag's ``current/link``
    tag_names: list[str] = field(default_factory=list)  # every tag folder, with or without ``current``
    tag_index: dict[Digest, list[str]] = field(default_factory=dict)  # manifest -> tags with it in history
    referrers: list[tuple[Digest, LinkFile]] = field(default_factory=list)  # (subject, link to referrer)
    tags_read: bool = False  # the tags above are filled by ``scan_tags``, when a reader needs them


@dataclass(frozen=True, slots=True)
class StoredBlob:
    digest: Digest
    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class PathRole:
    """What a path in the tree is: ``blob``, ``layer-link``, ``revision``, ``tag``, ``upload``,
    ``referrer`` (with the repository, digest and tag it belongs to, where it has them)."""

    kind: str
    repository: str | None = None
    digest: Digest | None = None
    tag: str | None = None


def classify(path: str) -> PathRole | None:
    """The role of a path a walk of the tree found; None for the folders in between."""
    if path.startswith(BLOBS + "/"):
        parts = path[len(BLOBS) + 1 :].split("/")
        digest = _digest_from(parts[0], parts[2]) if len(parts) >= 3 else None
        return PathRole("blob", digest=digest) if digest else None
    if not path.startswith(REPOSITORIES + "/"):
        return None
    parts = path[len(REPOSITORIES) + 1 :].split("/")
    marker = next((index for index, part in enumerate(parts) if part.startswith("_")), None)
    if marker is None or marker == 0:
        return None
    name, kind, rest = "/".join(parts[:marker]), parts[marker], parts[marker + 1 :]
    if kind == "_layers" and len(rest) >= 2:
        return PathRole("layer-link", name, _digest_from(rest[0], rest[1]))
    if kind == "_manifests" and len(rest) >= 3 and rest[0] == "revisions":
        return PathRole("revision", name, _digest_from(rest[1], rest[2]))
    if kind == "_manifests" and len(rest) >= 2 and rest[0] == "tags":
        return PathRole("tag", name, tag=rest[1])
    if kind == "_uploads" and rest:
        return PathRole("upload", name)
    if kind == "_referrers" and len(rest) >= 4:
        return PathRole("referrer", name, _digest_from(rest[2], rest[3]))
    return None


def _digest_from(algorithm: str, encoded: str) -> Digest | None:
    try:
        return Digest.parse(f"{algorithm}:{encoded}")
    except GrammarError:
        return None


def format_started_at(moment: datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as the reference writes ``startedat``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StorageLayout:
    """Registry-shaped reads and writes, translated to driver paths."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    async def check_root(self) -> None:
        """Raise when the storage cannot be reached (a root not made yet is fine)."""
        with contextlib.suppress(PathNotFound):
            await self.driver.stat("/")

    async def _content_or_none(self, path: str) -> bytes | None:
        """The file's bytes, or None when it is not there."""
        try:
            return await self.driver.get_content(path)
        except PathNotFound:
            return None

    async def _stat_or_none(self, path: str) -> FileInfo | None:
        """What is at the path (a file or a folder), or None when nothing is."""
        try:
            return await self.driver.stat(path)
        except PathNotFound:
            return None

    async def _names_or_none(self, path: str, start: str = "") -> list[str] | None:
        """The folder's child names from ``start`` on, sorted, or None when there is no such folder."""
        try:
            return await self.driver.list_names(path, start)
        except PathNotFound:
            return None

    # -- links -------------------------------------------------------------------------------

    async def _read_link(self, path: str) -> Digest | None:
        content = await self._content_or_none(path)
        if content is None:
            return None
        try:
            return Digest.parse(content.decode("ascii"))
        except (GrammarError, UnicodeDecodeError):
            return None  # an empty or damaged link names nothing

    async def _write_link(self, path: str, digest: Digest) -> None:
        await self.driver.put_content(path, str(digest).encode("ascii"))

    async def _delete(self, path: str) -> bool:
        try:
            await self.driver.delete(path)
        except PathNotFound:
            return False
        return True

    # -- blobs (content-addressed, shared by all repositories) ------------------------------

    async def blob_stat(self, digest: Digest) -> StoredBlob | None:
        path = _blob_data(digest)
        info = await self._stat_or_none(path)
        return None if info is None or info.is_dir else StoredBlob(digest, path, info.size, info.mtime)

    async def touch_blob(self, digest: Digest) -> None:
        """Mark the blob as just used, so a collector running meanwhile spares it."""
        with contextlib.suppress(PathNotFound):
            await self.driver.touch(_blob_data(digest))

    async def blob_size(self, digest: Digest) -> int | None:
        info = await self._stat_or_none(_blob_data(digest))
        return None if info is None or info.is_dir else info.size

    async def read_blob(self, digest: Digest) -> bytes:
        return await self.driver.get_content(_blob_data(digest))

    async def blob_bytes(self, digest: Digest) -> bytes | None:
        """A blob whole, or None when it is gone."""
        return await self._content_or_none(_blob_data(digest))

    async def put_blob(self, digest: Digest, data: bytes) -> None:
        await self.driver.put_content(_blob_data(digest), data)

    def blob_reader(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.driver.reader(_blob_data(digest), offset, length)

    def blob_local_path(self, digest: Digest) -> str | None:
        return self.driver.local_path(_blob_data(digest))

    async def blob_redirect_url(self, digest: Digest, method: str) -> str | None:
        return await self.driver.redirect_url(_blob_data(digest), method)

    async def close(self) -> None:
        await self.driver.close()

    # -- repository links --------------------------------------------------------------------

    async def layer_link(self, name: str, digest: Digest) -> Digest | None:
        return await self._read_link(_layer_link(name, digest))

    async def link_layer(self, name: str, digest: Digest, target: Digest) -> None:
        await self._write_link(_layer_link(name, digest), target)

    async def unlink_layer(self, name: str, digest: Digest) -> bool:
        return await self._delete(_layer_link(name, digest))

    async def revision_link(self, name: str, digest: Digest) -> Digest | None:
        return await self._read_link(_revision_link(name, digest))

    async def revision_link_info(self, name: str, digest: Digest) -> Link | None:
        path = _revision_link(name, digest)
        info = await self._stat_or_none(path)
        return None if info is None else Link(path, await self._read_link(path), digest, info.mtime)

    async def link_revision(self, name: str, digest: Digest) -> None:
        await self._write_link(_revision_link(name, digest), digest)

    async def unlink_revision(self, name: str, digest: Digest) -> bool:
        """Remove the link file only, leaving its folder, as the reference registry does."""
        return await self._delete(_revision_link(name, digest))

    async def repository_exists(self, name: str) -> bool:
        info = await self._stat_or_none(_repository(name))
        return info is not None and info.is_dir

    # -- tags --------------------------------------------------------------------------------

    async def tag_target(self, name: str, tag: str) -> Digest | None:
        return await self._read_link(f"{_tag(name, tag)}/current/link")

    async def set_tag(self, name: str, tag: str, digest: Digest) -> None:
        """Index entry first, then ``current``: a reader never sees a tag without its history."""
        await self._write_link(f"{_tag(name, tag)}/index/{digest.algorithm}/{digest.hex}/link", digest)
        await self._write_link(f"{_tag(name, tag)}/current/link", digest)

    async def delete_tag(self, name: str, tag: str) -> bool:
        return await self._delete(_tag(name, tag))

    async def list_tags(self, name: str, start: str = "") -> list[str] | None:
        """Tag names from ``start`` on, sorted; None when the repository has no tag folder at all."""
        return await self._names_or_none(_tags(name), start)

    # -- uploads -----------------------------------------------------------------------------

    async def create_upload(self, name: str, upload_id: str, started_at: datetime) -> None:
        base = _upload(name, upload_id)
        await self.driver.put_content(f"{base}/startedat", format_started_at(started_at).encode())
        writer = await self.driver.writer(f"{base}/data", fresh=True)  # the id is new: nothing to replace
        await writer.close()

    async def upload_started_at(self, name: str, upload_id: str) -> datetime | None:
        """When the upload began, or None when there is no such upload (its ``startedat`` is its mark)."""
        content = await self._content_or_none(f"{_upload(name, upload_id)}/startedat")
        if content is None:
            return None
        text = content.decode()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return datetime.now(UTC)  # damaged, yet the upload exists: purging counts from its folder

    async def upload_size(self, name: str, upload_id: str) -> int | None:
        """Bytes received so far: what an appending writer would continue from (on S3, the sum of the
        multipart upload's parts; there is no object to stat until it is sealed)."""
        try:
            writer = await self.driver.writer(f"{_upload(name, upload_id)}/data", append=True)
        except PathNotFound:
            return None
        size = writer.size
        await writer.close()
        return size

    async def upload_writer(self, name: str, upload_id: str) -> UploadWriter:
        return await self.driver.writer(f"{_upload(name, upload_id)}/data", append=True)

    def upload_reader(self, name: str, upload_id: str, offset: int = 0) -> AsyncIterator[bytes]:
        return self.driver.reader(f"{_upload(name, upload_id)}/data", offset)

    async def commit_upload(self, name: str, upload_id: str, digest: Digest) -> None:
        """Move the upload's bytes into the blob store, young (a move leaves the destination modified now).
        A blob already there is replaced by the same bytes instead of asked for first: on S3 that question
        is a HEAD and a listing, and making the old one young cost a copy anyway."""
        await self.driver.move(f"{_upload(name, upload_id)}/data", _blob_data(digest))

    async def delete_upload(self, name: str, upload_id: str) -> bool:
        """Remove the upload's folder: its data, ``startedat`` and saved hash states."""
        return await self._delete(_upload(name, upload_id))

    async def hash_state_offsets(self, name: str, upload_id: str, algorithm: str) -> list[int]:
        """The offsets at which the upload's running hash was saved, ascending (the reference writes
        ``hashstates/<alg>/<offset>`` after each chunk; a name that is no decimal offset is skipped)."""
        names = await self._names_or_none(_hash_states(name, upload_id, algorithm)) or []
        return sorted(int(entry) for entry in names if entry.isascii() and entry.isdigit())

    async def read_hash_state(self, name: str, upload_id: str, algorithm: str, offset: int) -> bytes | None:
        return await self._content_or_none(f"{_hash_states(name, upload_id, algorithm)}/{offset}")

    async def write_hash_state(
        self, name: str, upload_id: str, algorithm: str, offset: int, state: bytes
    ) -> None:
        await self.driver.put_content(f"{_hash_states(name, upload_id, algorithm)}/{offset}", state)

    async def uploads(self) -> AsyncIterator[tuple[str, str, datetime]]:
        """Every upload in progress, as (repository, id, start time).

        An upload whose ``startedat`` is missing or unreadable counts from its folder's last change.
        """
        async for name in self._repositories_below(REPOSITORIES, "", "", frozenset({"_uploads"})):
            uploads = f"{_repository(name)}/_uploads"
            for upload_id in await self._names_or_none(uploads) or []:
                yield name, upload_id, await self._started_at(f"{uploads}/{upload_id}")

    async def _started_at(self, upload_path: str) -> datetime:
        try:
            text = (await self.driver.get_content(f"{upload_path}/startedat")).decode()
            return datetime.fromisoformat(text)
        except (PathNotFound, ValueError, UnicodeDecodeError):
            info = await self._stat_or_none(upload_path)
            if info is None:
                return datetime.now(UTC)  # vanished meanwhile: nothing to purge
            return datetime.fromtimestamp(info.mtime, UTC)

    # -- referrers (dockyard's own index) ----------------------------------------------------

    async def add_referrer(self, name: str, subject: Digest, referrer: Digest) -> None:
        path = f"{_referrers(name, subject)}/{referrer.algorithm}/{referrer.hex}/link"
        await self._write_link(path, referrer)

    async def remove_referrer(self, name: str, subject: Digest, referrer: Digest) -> None:
        await self._delete(f"{_referrers(name, subject)}/{referrer.algorithm}/{referrer.hex}")

    async def referrers(self, name: str, subject: Digest) -> list[Digest]:
        found: list[Digest] = []
        async for entry in self._digest_dirs(_referrers(name, subject)):
            digest = await self._read_link(f"{entry}/link")
            if digest is not None:
                found.append(digest)
        return found

    async def referrer_links(self, name: str) -> AsyncIterator[tuple[Digest, Link]]:
        """Every entry of the repository's referrers index, as (subject, link to the referrer)."""
        base = f"{_repository(name)}/_referrers"
        async for subject_dir in self._digest_dirs(base):
            subject = _digest_from(*subject_dir.split("/")[-2:])
            if subject is None:
                continue
            async for link in self._links_below(subject_dir):
                yield subject, link

    async def prune_referrers(self, name: str, subject: Digest) -> None:
        """Remove the subject's folder in the referrers index once no entry is left in it."""
        base = _referrers(name, subject)
        algorithms = await self._names_or_none(base)
        if algorithms is None:
            return
        for algorithm in algorithms:
            if await self._names_or_none(f"{base}/{algorithm}"):
                return
        await self._delete(base)

    # -- maintenance walks (garbage collection, fsck, inventory) ------------------------------

    async def collectable_repositories(self) -> AsyncIterator[str]:
        """Repositories as the reference's garbage collector walks them: folders holding ``_layers``,
        in sorted path order (a nested repository whose name sorts before ``_layers`` comes first)."""
        async for name in self._layer_folders(REPOSITORIES, ""):
            yield name

    async def _layer_folders(self, path: str, prefix: str) -> AsyncIterator[str]:
        for child_name in await self._names_or_none(path) or []:
            child = f"{path}/{child_name}"
            if child_name == "_layers" and prefix:
                yield prefix[:-1]
            elif not child_name.startswith("_"):
                info = await self._stat_or_none(child)
                if info is None or not info.is_dir:
                    continue
                async for name in self._layer_folders(child, prefix + child_name + "/"):
                    yield name

    async def _digest_dirs(self, base: str) -> AsyncIterator[str]:
        """``base/<alg>/<hex>`` folders, sorted."""
        for algorithm in await self._names_or_none(base) or []:
            for hex_name in await self._names_or_none(f"{base}/{algorithm}") or []:
                yield f"{base}/{algorithm}/{hex_name}"

    async def _links_below(self, base: str) -> AsyncIterator[Link]:
        """``base/<alg>/<hex>/link`` files, sorted; a folder without a link (a deleted entry) is skipped."""
        async for entry in self._digest_dirs(base):
            path = f"{entry}/link"
            info = await self._stat_or_none(path)
            if info is None:
                continue
            algorithm, encoded = entry.split("/")[-2:]
            yield Link(path, await self._read_link(path), _digest_from(algorithm, encoded), info.mtime)

    async def scan_repository(self, name: str) -> RepositoryScan:
        """The repository's revisions and referrers, each part by one walk (one listing on S3); its
        ``_layers`` and ``_uploads`` are not read, its tags only by ``scan_tags``."""
        scan = RepositoryScan(name)
        await self._scan(scan, _revisions(name))
        await self._scan(scan, f"{_repository(name)}/_referrers")
        return scan

    async def scan_tags(self, scan: RepositoryScan) -> None:
        """Add the repository's tags (``current`` links, histories) to its scan: one walk, done once."""
        if not scan.tags_read:
            scan.tags_read = True
            await self._scan(scan, _tags(scan.name))

    async def _scan(self, scan: RepositoryScan, folder: str) -> None:
        cut = len(_repository(scan.name)) + 1
        try:
            async for info in self.driver.walk(folder):
                _scan_entry(scan, info.path[cut:].split("/"), info)
        except PathNotFound:
            return

    async def read_links(self, files: Sequence[LinkFile]) -> list[Link]:
        """The digests many link files name (None for one gone, empty or damaged), read concurrently."""
        digests = await concurrent.each(files, lambda file: self._read_link(file.path))
        return [
            Link(file.path, digest, file.expected, file.mtime)
            for file, digest in zip(files, digests, strict=True)
        ]

    def revision_links(self, name: str) -> AsyncIterator[Link]:
        return self._links_below(_revisions(name))

    def layer_links(self, name: str) -> AsyncIterator[Link]:
        return self._links_below(f"{_repository(name)}/_layers")

    async def tag_links(self, name: str) -> AsyncIterator[tuple[str, Link]]:
        """Each tag's ``current/link`` (``expected`` is None: a tag may name any manifest)."""
        for tag in await self.list_tags(name) or []:
            path = f"{_tag(name, tag)}/current/link"
            info = await self._stat_or_none(path)
            if info is None:
                continue
            yield tag, Link(path, await self._read_link(path), None, info.mtime)

    async def stored_blobs(self) -> AsyncIterator[StoredBlob]:
        """Every ``blobs/<alg>/<xx>/<hex>/data`` file, in sorted path order."""
        if not await self._exists(BLOBS):
            return
        async for info in self.driver.walk(BLOBS):
            if info.is_dir or not info.path.endswith("/data"):
                continue
            parts = info.path.split("/")
            digest = _digest_from(parts[-4], parts[-2])
            if digest is not None:
                yield StoredBlob(digest, info.path, info.size, info.mtime)

    async def tree(self) -> AsyncIterator[tuple[str, FileInfo]]:
        """Everything under ``docker/registry/v2``, depth first and sorted, as (path below it, info)."""
        if not await self._exists(ROOT):
            return
        async for info in self.driver.walk(ROOT):
            yield info.path[len(ROOT) + 1 :], info

    async def _exists(self, path: str) -> bool:
        return await self._stat_or_none(path) is not None

    async def delete_blob(self, digest: Digest) -> str | None:
        """Remove the blob's folder; the path removed, or None when it was already gone.

        Its one ``data`` file goes in one step (unlinked on a disk, one object deleted on S3), so a reader
        finds the whole blob or none; no copy first (on S3 a move is a copy of every byte)."""
        path = _blob_dir(digest)
        return path if await self._delete(path) else None

    async def delete_revision(self, name: str, digest: Digest) -> str | None:
        """Remove the revision's whole folder (not just its link), as the reference's collector does."""
        path = f"{_revisions(name)}/{digest.algorithm}/{digest.hex}"
        return path if await self._delete(path) else None

    async def delete_tag_index_entry(self, name: str, tag: str, digest: Digest) -> str | None:
        path = f"{_tag(name, tag)}/index/{digest.algorithm}/{digest.hex}"
        return path if await self._delete(path) else None

    # -- quarantine (fsck --repair) ------------------------------------------------------------

    async def quarantine(self, path: str, batch: str) -> str:
        """Move ``path`` (a file or folder a walk reported) to ``/dockyard-quarantine/<batch><path>``.

        A folder moves file by file where the store has no folders to rename (S3), then goes."""
        destination = f"{_QUARANTINE}/{batch}{path}"
        if not (await self.driver.stat(path)).is_dir or self.driver.local_path(path) is not None:
            await self.driver.move(path, destination)  # one rename on a local disk
            return destination
        files = [info.path async for info in self.driver.walk(path) if not info.is_dir]
        for file in files:
            await self.driver.move(file, destination + file[len(path) :])
        await self._delete(path)
        return destination

    async def quarantine_tag(self, name: str, tag: str, batch: str) -> str:
        return await self.quarantine(_tag(name, tag), batch)

    async def quarantine_upload(self, name: str, upload_id: str, batch: str) -> str:
        return await self.quarantine(_upload(name, upload_id), batch)

    # -- coordination of garbage collection (outside the reference's tree) -------------------

    async def read_gc_lock(self) -> bytes | None:
        return await self._content_or_none(_GC_LOCK)

    async def write_gc_lock(self, content: bytes) -> None:
        await self.driver.put_content(_GC_LOCK, content)

    async def remove_gc_lock(self) -> None:
        await self._delete(_GC_LOCK)

    async def read_gc_generation(self) -> bytes | None:
        return await self._content_or_none(_GC_GENERATION)

    async def write_gc_generation(self, content: bytes) -> None:
        await self.driver.put_content(_GC_GENERATION, content)

    async def write_lease(self, lease_id: str, content: bytes) -> None:
        await self.driver.put_content(f"{_LEASES}/{lease_id}", content)

    async def remove_lease(self, lease_id: str) -> None:
        await self._delete(f"{_LEASES}/{lease_id}")

    async def leases(self) -> AsyncIterator[tuple[str, bytes]]:
        for lease_id in await self._names_or_none(_LEASES) or []:
            content = await self._content_or_none(f"{_LEASES}/{lease_id}")
            if content is not None:
                yield lease_id, content

    # -- catalog -----------------------------------------------------------------------------

    async def repositories(self, after: str = "") -> AsyncIterator[str]:
        """Repository names in the reference's catalog order, skipping those up to ``after``."""
        async for name in self._repositories_below(REPOSITORIES, "", after, _CONTENT_MARKERS):
            yield name

    async def _repositories_below(
        self, path: str, prefix: str, after: str, markers: frozenset[str]
    ) -> AsyncIterator[str]:
        """Folders holding one of ``markers``, depth first: repositories nest inside others.

        Where ``after`` lies below this folder, the listing starts at its next component: the folder itself
        and everything before that sort before ``after`` in the catalog's order.
        """
        start = after[len(prefix) :].split("/", 1)[0] if after.startswith(prefix) else ""
        names = await self._names_or_none(path, start)
        if names is None:
            return
        if prefix and markers.intersection(names) and _catalog_less(after, prefix[:-1]):
            yield prefix[:-1]
        for child_name in names:
            if child_name.startswith("_"):
                continue
            candidate = prefix + child_name
            # prune subtrees that sort wholly before ``after``
            if after and _catalog_less(candidate, after) and not after.startswith(candidate + "/"):
                continue
            async for name in self._repositories_below(
                f"{path}/{child_name}", candidate + "/", after, markers
            ):
                yield name


def _scan_entry(scan: RepositoryScan, parts: list[str], info: FileInfo) -> None:
    """File what a walk found below the repository's folder (``parts``: its path below it)."""
    kind, rest = parts[0], parts[1:]
    if kind == "_manifests" and len(rest) >= 2:
        if rest[0] == "revisions" and len(rest) == 4 and rest[3] == "link" and not info.is_dir:
            scan.revisions.append(LinkFile(info.path, _digest_from(rest[1], rest[2]), info.mtime))
        elif rest[0] == "tags" and len(rest) == 2 and info.is_dir:
            scan.tag_names.append(rest[1])
        elif rest[0] == "tags" and rest[2:] == ["current", "link"] and not info.is_dir:
            scan.tags[rest[1]] = LinkFile(info.path, None, info.mtime)
        elif rest[0] == "tags" and len(rest) == 5 and rest[2] == "index" and info.is_dir:
            digest = _digest_from(rest[3], rest[4])
            if digest is not None:
                scan.tag_index.setdefault(digest, []).append(rest[1])
    elif kind == "_referrers" and len(rest) == 5 and rest[4] == "link" and not info.is_dir:
        subject = _digest_from(rest[0], rest[1])
        if subject is not None:
            scan.referrers.append((subject, LinkFile(info.path, _digest_from(rest[2], rest[3]), info.mtime)))


def _catalog_less(left: str, right: str) -> bool:
    """Path order with '/' sorting before every other character, as the reference's catalog."""
    return left.replace("/", "\x00") < right.replace("/", "\x00")
