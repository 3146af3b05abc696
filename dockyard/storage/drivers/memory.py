"""In-memory driver (``storage.inmemory``): for tests and throwaway registries; nothing survives a restart."""

from __future__ import annotations

import bisect
import time
from collections.abc import AsyncIterator, Sequence

from dockyard.storage.drivers.base import FileInfo, PathNotFound, check_path

READ_CHUNK = 1 << 20


class _File:
    __slots__ = ("data", "mtime")

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.mtime = time.time()


class MemoryDriver:
    name = "inmemory"

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._sorted: list[str] = []  # file paths, kept sorted for listings

    def _add(self, path: str, data: bytearray) -> None:
        if path not in self._files:
            bisect.insort(self._sorted, path)
        self._files[path] = _File(data)

    def _below(self, path: str) -> list[str]:
        prefix = "/" if path == "/" else path + "/"
        start = bisect.bisect_left(self._sorted, prefix)
        end = bisect.bisect_left(self._sorted, prefix[:-1] + "0")  # "0" sorts right after "/"
        return self._sorted[start:end]

    def _file(self, path: str) -> _File:
        try:
            return self._files[check_path(path)]
        except KeyError:
            raise PathNotFound(path) from None

    async def get_content(self, path: str) -> bytes:
        return bytes(self._file(path).data)

    async def put_content(self, path: str, data: bytes) -> None:
        self._add(check_path(path), bytearray(data))

    async def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        data = self._file(path).data
        end = len(data) if length is None else min(len(data), offset + length)
        for start in range(offset, end, READ_CHUNK):
            yield bytes(data[start : min(end, start + READ_CHUNK)])

    async def writer(self, path: str, append: bool = False, *, fresh: bool = False) -> MemoryWriter:
        check_path(path)
        if not append:
            self._add(path, bytearray())
        return MemoryWriter(self._file(path))

    async def stat(self, path: str) -> FileInfo:
        check_path(path)
        if path in self._files:
            entry = self._files[path]
            return FileInfo(path, len(entry.data), entry.mtime, False)
        below = self._below(path)
        if not below:
            raise PathNotFound(path)
        return FileInfo(path, 0, max(self._files[p].mtime for p in below), True)

    async def list_names(self, path: str, start: str = "") -> list[str]:
        check_path(path)
        below = self._below(path)
        if not below:
            raise PathNotFound(path)
        depth = 1 if path == "/" else path.count("/") + 1
        names: list[str] = []
        for file_path in below:
            name = file_path.split("/")[depth]
            if not names or names[-1] != name:
                names.append(name)
        return [name for name in names if name >= start]

    async def move(self, source: str, destination: str) -> None:
        entry = self._file(source)
        check_path(destination)
        self._delete_file(source)
        self._add(destination, entry.data)

    async def delete(self, path: str) -> None:
        check_path(path)
        if path in self._files:
            self._delete_file(path)
            return
        below = self._below(path)
        if not below:
            raise PathNotFound(path)
        for file_path in below:
            self._delete_file(file_path)

    async def touch(self, path: str) -> None:
        self._file(path).mtime = time.time()

    def _delete_file(self, path: str) -> None:
        del self._files[path]
        del self._sorted[bisect.bisect_left(self._sorted, path)]

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        for name in await self.list_names(path):
            info = await self.stat(f"{'' if path == '/' else path}/{name}")
            yield info
            if info.is_dir:
                async for below in self.walk(info.path):
                    yield below

    def local_path(self, path: str) -> str | None:
        return None

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return None

    async def close(self) -> None:
        return None


class MemoryWriter:
    def __init__(self, entry: _File) -> None:
        self._entry = entry

    @property
    def size(self) -> int:
        return len(self._entry.data)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self._entry.data += data
        self._entry.mtime = time.time()

    async def write_chunks(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            await self.write(chunk)

    async def close(self) -> None:
        return None

    async def commit(self) -> None:
        return None
