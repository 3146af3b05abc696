"""A driver that times every operation of the driver it wraps, for the storage latency metrics.

Only installed when metrics are on. Capabilities it does not time (``local_path`` and whatever a backend
adds) pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from dockyard.metrics import Metrics
from dockyard.storage.drivers.base import FileInfo, StorageDriver, UploadWriter

T = TypeVar("T")


class InstrumentedDriver:
    def __init__(self, inner: StorageDriver, metrics: Metrics) -> None:
        self.inner = inner
        self.name = inner.name
        self._latency = metrics.storage_latency
        self._errors = metrics.storage_errors

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def _record(self, operation: str, started: float, error: BaseException | None) -> None:
        self._latency.labels(self.name, operation).observe(time.perf_counter() - started)
        if error is not None:
            self._errors.labels(self.name, operation, type(error).__name__).inc()

    async def _timed(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except BaseException as error:
            self._record(operation, started, error)
            raise
        self._record(operation, started, None)
        return result

    async def get_content(self, path: str) -> bytes:
        return await self._timed("get_content", lambda: self.inner.get_content(path))

    async def put_content(self, path: str, data: bytes) -> None:
        await self._timed("put_content", lambda: self.inner.put_content(path, data))

    async def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Timed from the first read to the last chunk."""
        started = time.perf_counter()
        try:
            async for chunk in self.inner.reader(path, offset, length):
                yield chunk
        except BaseException as error:
            self._record("reader", started, error)
            raise
        self._record("reader", started, None)

    async def writer(self, path: str, append: bool = False, *, fresh: bool = False) -> UploadWriter:
        return await self._timed("writer", lambda: self.inner.writer(path, append, fresh=fresh))

    async def stat(self, path: str) -> FileInfo:
        return await self._timed("stat", lambda: self.inner.stat(path))

    async def list_names(self, path: str, start: str = "") -> list[str]:
        return await self._timed("list", lambda: self.inner.list_names(path, start))

    async def move(self, source: str, destination: str) -> None:
        await self._timed("move", lambda: self.inner.move(source, destination))

    async def delete(self, path: str) -> None:
        await self._timed("delete", lambda: self.inner.delete(path))

    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        return self.inner.walk(path)

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(path)

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return await self.inner.redirect_url(path, method)

    async def close(self) -> None:
        await self.inner.close()
