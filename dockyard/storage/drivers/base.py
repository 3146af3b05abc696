"""The driver interface every storage backend implements.

Paths are absolute, slash-separated driver paths such as
``/docker/registry/v2/blobs/sha256/ab/ab.../data`` — the same keys the reference registry uses, so a
backend maps them one to one onto files or objects.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# The reference registry's own path grammar: no empty components, no "." or ".." components (one regex:
# every driver call checks its path).
_PATH_RE = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._:-]+)+")


class StorageError(Exception):
    """A storage operation failed for a reason other than bad input."""


class PathNotFound(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


class StorageUnavailable(StorageError):
    """The backend could not be reached, or failed on its side: the request may succeed later."""


class InvalidPath(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"invalid path: {path!r}")
        self.path = path


def check_path(path: str) -> str:
    """Refuse any path that could escape the root before it reaches a backend."""
    if path != "/" and not _PATH_RE.fullmatch(path):
        raise InvalidPath(path)
    return path


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


class UploadWriter(Protocol):
    """An append-only writer for upload data; the bytes become a blob only through ``move``."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes | bytearray | memoryview) -> None: ...

    async def write_chunks(self, chunks: Sequence[bytes]) -> None:
        """Append ``chunks`` in order, as one write where the backend can (no joining copy)."""

    async def close(self) -> None:
        """Flush and release; the written bytes stay for a later append."""

    async def commit(self) -> None:
        """Flush and finish: the bytes become a readable file at the writer's path, no more appends."""


@runtime_checkable
class LocalUploadWriter(UploadWriter, Protocol):
    """An upload writer over a local file, whose bytes the kernel can move in without passing through
    Python (``splice`` from a socket); the filesystem driver's writer is one."""

    def fileno(self) -> int:
        """The file's descriptor, positioned at its end: what is written there is appended."""

    def appended(self, count: int) -> None:
        """``count`` bytes were written through :meth:`fileno`."""

    def read_back(self, offset: int, buffer: memoryview) -> int:
        """Read what was written at ``offset`` into ``buffer`` (from the page cache); returns the count."""

    def modified(self) -> float:
        """When the file last changed (seconds since the epoch)."""


class StorageDriver(Protocol):
    """Async, streaming access to a tree of files or objects."""

    name: str

    async def get_content(self, path: str) -> bytes:
        """Read a small file whole (links, start times, manifests)."""

    async def put_content(self, path: str, data: bytes) -> None:
        """Write a small file atomically: readers see the old bytes or the new, never a part."""

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream a file's bytes from ``offset``; raises PathNotFound when iterated."""

    async def writer(self, path: str, append: bool = False, *, fresh: bool = False) -> UploadWriter:
        """Start a file anew, or append to one (PathNotFound when there is none). ``fresh``: the caller
        knows nothing was ever written at ``path`` (a new upload's random id), so there is nothing to
        replace (S3 then does not look for an upload in progress there)."""

    async def stat(self, path: str) -> FileInfo: ...

    async def list_names(self, path: str, start: str = "") -> list[str]:
        """The names of a directory's direct children that sort at or after ``start``, sorted (names, not
        paths: callers mostly want the name, and a listing of thousands of tags is cheaper without the
        prefix); PathNotFound when the directory does not exist. ``start`` lets a paged listing skip what
        it already showed without reading it (S3's StartAfter)."""

    async def move(self, source: str, destination: str) -> None:
        """Atomically put ``source`` at ``destination``, replacing it; the destination counts as modified
        now (garbage collection spares a blob just published without another round trip to touch it)."""

    async def delete(self, path: str) -> None:
        """Remove a file, or a directory and everything below it."""

    async def touch(self, path: str) -> None:
        """Set a file's modification time to now (garbage collection spares young files)."""

    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file and directory below ``path``, depth first, in sorted order."""

    def local_path(self, path: str) -> str | None:
        """A local filesystem path for zero-copy sends, or None where the backend is not a local disk."""

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A URL clients can fetch the file from directly (a presigned S3 URL), or None."""

    async def close(self) -> None:
        """Release connections; the driver is not used afterwards."""
