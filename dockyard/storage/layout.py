"""The one module that knows the reference registry's storage tree.

::

    /docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
    /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_uploads/<uuid>/{data,startedat}
    /docker/registry/v2/repositories/<name>/_referrers/<alg>/<hex>/<alg>/<hex>/link   (dockyard only)

A ``link`` holds a bare digest with no newline. ``_referrers`` starts with an underscore, so the
reference registry's catalog walk skips it and never mistakes it for a repository.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from dockyard.grammar import Digest, GrammarError
from dockyard.storage.drivers.base import PathNotFound, StorageDriver, UploadWriter

ROOT = "/docker/registry/v2"
# A folder holding one of these is a repository in the catalog (an upload alone does not make one).
_CONTENT_MARKERS = frozenset({"_layers", "_manifests"})
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"


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


def _referrers(name: str, subject: Digest) -> str:
    return f"{_repository(name)}/_referrers/{subject.algorithm}/{subject.hex}"


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

    # -- links -------------------------------------------------------------------------------

    async def _read_link(self, path: str) -> Digest | None:
        try:
            content = await self.driver.get_content(path)
        except PathNotFound:
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

    async def blob_size(self, digest: Digest) -> int | None:
        try:
            info = await self.driver.stat(_blob_data(digest))
        except PathNotFound:
            return None
        return None if info.is_dir else info.size

    async def read_blob(self, digest: Digest) -> bytes:
        return await self.driver.get_content(_blob_data(digest))

    async def blob_bytes(self, digest: Digest) -> bytes | None:
        """A blob whole, or None when it is gone."""
        try:
            return await self.driver.get_content(_blob_data(digest))
        except PathNotFound:
            return None

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

    async def link_revision(self, name: str, digest: Digest) -> None:
        await self._write_link(_revision_link(name, digest), digest)

    async def unlink_revision(self, name: str, digest: Digest) -> bool:
        """Remove the link file only, leaving its folder, as the reference registry does."""
        return await self._delete(_revision_link(name, digest))

    async def repository_exists(self, name: str) -> bool:
        try:
            return (await self.driver.stat(_repository(name))).is_dir
        except PathNotFound:
            return False

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
        folder = _tags(name)
        try:
            children = await self.driver.list(folder, start)
        except PathNotFound:
            return None
        cut = len(folder) + 1
        return [child[cut:] for child in children]

    # -- uploads -----------------------------------------------------------------------------

    async def create_upload(self, name: str, upload_id: str, started_at: datetime) -> None:
        base = _upload(name, upload_id)
        await self.driver.put_content(f"{base}/startedat", format_started_at(started_at).encode())
        writer = await self.driver.writer(f"{base}/data")
        await writer.close()

    async def upload_started_at(self, name: str, upload_id: str) -> datetime | None:
        """When the upload began, or None when there is no such upload (its ``startedat`` is its mark)."""
        try:
            text = (await self.driver.get_content(f"{_upload(name, upload_id)}/startedat")).decode()
        except PathNotFound:
            return None
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

    async def seal_upload(self, name: str, upload_id: str) -> None:
        """Finish the upload's data so that it can be read and moved (completes an S3 multipart upload)."""
        writer = await self.driver.writer(f"{_upload(name, upload_id)}/data", append=True)
        await writer.commit()

    def upload_reader(self, name: str, upload_id: str) -> AsyncIterator[bytes]:
        return self.driver.reader(f"{_upload(name, upload_id)}/data")

    async def commit_upload(self, name: str, upload_id: str, digest: Digest) -> None:
        """Move the upload's bytes into the blob store; an existing blob is kept as it is."""
        if await self.blob_size(digest) is None:
            await self.driver.move(f"{_upload(name, upload_id)}/data", _blob_data(digest))

    async def delete_upload(self, name: str, upload_id: str) -> bool:
        return await self._delete(_upload(name, upload_id))

    async def uploads(self) -> AsyncIterator[tuple[str, str, datetime]]:
        """Every upload in progress, as (repository, id, start time).

        An upload whose ``startedat`` is missing or unreadable counts from its folder's last change.
        """
        async for name in self._repositories_below(REPOSITORIES, "", "", frozenset({"_uploads"})):
            try:
                entries = await self.driver.list(f"{_repository(name)}/_uploads")
            except PathNotFound:
                continue
            for entry in entries:
                upload_id = entry.rsplit("/", 1)[1]
                yield name, upload_id, await self._started_at(entry)

    async def _started_at(self, upload_path: str) -> datetime:
        try:
            text = (await self.driver.get_content(f"{upload_path}/startedat")).decode()
            return datetime.fromisoformat(text)
        except (PathNotFound, ValueError, UnicodeDecodeError):
            try:
                return datetime.fromtimestamp((await self.driver.stat(upload_path)).mtime, UTC)
            except PathNotFound:
                return datetime.now(UTC)  # vanished meanwhile: nothing to purge

    # -- referrers (dockyard's own index) ----------------------------------------------------

    async def add_referrer(self, name: str, subject: Digest, referrer: Digest) -> None:
        path = f"{_referrers(name, subject)}/{referrer.algorithm}/{referrer.hex}/link"
        await self._write_link(path, referrer)

    async def remove_referrer(self, name: str, subject: Digest, referrer: Digest) -> None:
        await self._delete(f"{_referrers(name, subject)}/{referrer.algorithm}/{referrer.hex}")

    async def referrers(self, name: str, subject: Digest) -> list[Digest]:
        found: list[Digest] = []
        try:
            algorithms = await self.driver.list(_referrers(name, subject))
        except PathNotFound:
            return found
        for algorithm_dir in algorithms:
            try:
                entries = await self.driver.list(algorithm_dir)
            except PathNotFound:
                continue
            for entry in entries:
                digest = await self._read_link(f"{entry}/link")
                if digest is not None:
                    found.append(digest)
        return found

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
        try:
            children = await self.driver.list(path, start)
        except PathNotFound:
            return
        names = [child.rsplit("/", 1)[1] for child in children]
        if prefix and markers.intersection(names) and _catalog_less(after, prefix[:-1]):
            yield prefix[:-1]
        for child, child_name in zip(children, names, strict=True):
            if child_name.startswith("_"):
                continue
            candidate = prefix + child_name
            # prune subtrees that sort wholly before ``after``
            if after and _catalog_less(candidate, after) and not after.startswith(candidate + "/"):
                continue
            async for name in self._repositories_below(child, candidate + "/", after, markers):
                yield name


def _catalog_less(left: str, right: str) -> bool:
    """Path order with '/' sorting before every other character, as the reference's catalog."""
    return left.replace("/", "\x00") < right.replace("/", "\x00")
