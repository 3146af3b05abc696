"""Local-disk driver: the reference registry's ``filesystem`` driver, same files under the root.

Small metadata operations (links, stats, listings) run inline: they touch the page cache and finish in
microseconds, far less than a hop to a thread. Bulk data moves through worker threads.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import itertools
import os
import shutil
import stat
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from dockyard.storage.drivers.base import FileInfo, PathNotFound, StorageError, check_path

READ_CHUNK = 1 << 20
_IOV_MAX = 1024  # buffers one writev takes (Linux)
_SETTLED_NS = 1_000_000_000  # files and directories unchanged this long are cached (see StatCache)
_CACHED_FILE_BYTES = 4096  # small files (links, start times) are cached, blobs never
T = TypeVar("T")


class FilesystemDriver:
    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self._small_files: StatCache[bytes] = StatCache()
        self._listings: StatCache[list[str]] = StatCache(4096)  # sorted names of a folder's children

    def _full(self, path: str) -> str:
        check_path(path)
        return str(self.root) + path

    async def get_content(self, path: str) -> bytes:
        full = self._full(path)
        try:
            cached = self._small_files.get(full)
            if cached is not None:
                return cached
            with open(full, "rb") as handle:
                identity = os.fstat(handle.fileno())
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise PathNotFound(path) from exc
        if len(data) <= _CACHED_FILE_BYTES:
            self._small_files.put(full, identity, data)
        return data

    async def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        directory = os.path.dirname(full)
        os.makedirs(directory, exist_ok=True)
        temporary = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
            os.replace(temporary, full)
        except BaseException:
            _remove_quietly(temporary)
            raise

    async def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        full = self._full(path)
        try:
            handle = await asyncio.to_thread(open, full, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise PathNotFound(path) from exc
        try:
            handle.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def writer(self, path: str, append: bool = False, *, fresh: bool = False) -> FilesystemWriter:
        full = self._full(path)
        if append:
            if not os.path.isfile(full):
                raise PathNotFound(path)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        # read and write, no O_APPEND: the kernel's splice into a file takes neither a write-only nor an
        # appending descriptor; the writer starts at the end and each write advances from there
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (0 if append else os.O_TRUNC)
        return FilesystemWriter(await asyncio.to_thread(os.open, full, flags, 0o644))

    async def stat(self, path: str) -> FileInfo:
        try:
            result = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path) from exc
        is_dir = stat.S_ISDIR(result.st_mode)
        return FileInfo(path, 0 if is_dir else result.st_size, result.st_mtime, is_dir)

    async def list_names(self, path: str, start: str = "") -> list[str]:
        full = self._full(path)
        try:
            names = self._listings.get(full)
            if names is None:
                identity = os.stat(full)  # before the listing: a change while listing makes it stale at once
                names = os.listdir(full)
                names.sort()
                # temp files of atomic writes (".tmp-…") sort together: one cut instead of a test per name
                del names[bisect.bisect_left(names, ".tmp-") : bisect.bisect_left(names, ".tmp.")]
                self._listings.put(full, identity, names)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path) from exc
        return names[bisect.bisect_left(names, start) :] if start else list(names)  # copies: the cache stays

    async def move(self, source: str, destination: str) -> None:
        full_destination = self._full(destination)
        os.makedirs(os.path.dirname(full_destination), exist_ok=True)
        try:
            os.replace(self._full(source), full_destination)
            os.utime(full_destination)  # modified now, as an S3 copy is (a blob just published is young)
        except FileNotFoundError as exc:
            raise PathNotFound(source) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EISDIR):
                raise StorageError(f"cannot move {source} onto {destination}: {exc}") from exc
            raise

    async def delete(self, path: str) -> None:
        full = self._full(path)
        if os.path.isdir(full) and not os.path.islink(full):
            await asyncio.to_thread(shutil.rmtree, full)
            return
        try:
            os.remove(full)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path) from exc

    async def touch(self, path: str) -> None:
        try:
            os.utime(self._full(path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path) from exc

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """The tree is read by ``scandir`` in a worker thread, a batch at a time: a walk of a large tree
        (garbage collection, fsck) costs one ``stat`` per entry and no per-entry hop to the event loop."""
        full = self._full(path)
        if not os.path.isdir(full):
            raise PathNotFound(path)
        entries = _walk_below(full, "" if path == "/" else path)
        while batch := await asyncio.to_thread(_next_batch, entries):
            for info in batch:
                yield info

    def local_path(self, path: str) -> str | None:
        return self._full(path)

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return None

    async def close(self) -> None:
        return None


class StatCache(Generic[T]):
    """What was read from a file or directory (contents, a listing), checked with one ``stat`` per use.

    An entry is used only while the inode, size, mtime and ctime are those it was read with, so a file
    replaced or rewritten, or a directory that gained or lost an entry, by any process is read again.
    Nothing changed less than a second before it was read is kept: a rewrite within the timestamp
    granularity could leave every field the same (the reference rewrites links in place), while any
    change to an older file or directory moves them.
    """

    def __init__(self, entries: int = 65536) -> None:
        self._entries = entries
        self._items: OrderedDict[str, tuple[tuple[int, ...], T]] = OrderedDict()

    @staticmethod
    def _identity(result: os.stat_result) -> tuple[int, ...]:
        return (result.st_dev, result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns)

    def get(self, full: str) -> T | None:
        entry = self._items.get(full)
        if entry is None:
            return None
        if self._identity(os.stat(full)) != entry[0]:
            del self._items[full]
            return None
        self._items.move_to_end(full)
        return entry[1]

    def put(self, full: str, result: os.stat_result, value: T) -> None:
        """Keep ``value``, read from ``full`` while it was as ``result`` (stat before or during the read)."""
        settled = time.time_ns() - _SETTLED_NS
        if result.st_mtime_ns > settled or result.st_ctime_ns > settled:
            return
        self._items[full] = (self._identity(result), value)
        if len(self._items) > self._entries:
            self._items.popitem(last=False)


_WALK_BATCH = 4096


def _walk_below(full: str, path: str) -> Iterator[FileInfo]:
    """Depth first, sorted by name, with no generator per folder; entries removed meanwhile are skipped,
    and temp files hidden, as ``list`` does."""
    stack = [(iter(_sorted_entries(full)), path)]
    while stack:
        entries, prefix = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        try:
            result = entry.stat()
        except FileNotFoundError:
            continue
        child = f"{prefix}/{entry.name}"
        if stat.S_ISDIR(result.st_mode):
            yield FileInfo(child, 0, result.st_mtime, True)
            stack.append((iter(_sorted_entries(entry.path)), child))
        else:
            yield FileInfo(child, result.st_size, result.st_mtime, False)


def _sorted_entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as scan:
            return sorted((entry for entry in scan if not entry.name.startswith(".tmp-")), key=_entry_name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _next_batch(entries: Iterator[FileInfo]) -> list[FileInfo]:
    return list(itertools.islice(entries, _WALK_BATCH))


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


class FilesystemWriter:
    """Unbuffered appends to one file: each call is one ``write``/``writev`` in a worker thread, or bytes
    the kernel moved in through :meth:`fileno` (a :class:`LocalUploadWriter`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._size = os.lseek(fd, 0, os.SEEK_END)

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await self.write_chunks([data])

    async def write_chunks(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        await asyncio.to_thread(_write_all, self._fd, chunks)
        self._size += sum(len(chunk) for chunk in chunks)

    def fileno(self) -> int:
        return self._fd

    def appended(self, count: int) -> None:
        self._size += count

    def read_back(self, offset: int, buffer: memoryview) -> int:
        return os.preadv(self._fd, [buffer], offset)

    def modified(self) -> float:
        return os.fstat(self._fd).st_mtime

    async def close(self) -> None:
        os.close(self._fd)

    async def commit(self) -> None:
        await self.close()


def _write_all(fd: int, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
    """``writev`` of every chunk, carrying on after short writes."""
    views = [memoryview(chunk) for chunk in chunks if len(chunk)]
    start = 0
    while start < len(views):
        batch = views[start : start + _IOV_MAX]
        written = os.writev(fd, batch)
        for view in batch:
            if written < len(view):
                views[start] = view[written:]
                break
            written -= len(view)
            start += 1
