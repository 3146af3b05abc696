"""Blobs as a repository sees them: linked into ``_layers``, stored once, shared by all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import BlobDescriptorCache, Descriptor
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.storage.layout import StorageLayout


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest  # as the client named it
    stored: Digest  # where the bytes live (differs for a reference-written sha512 alias)
    size: int


_TOUCHES_KEPT = 65536


class BlobStore:
    def __init__(
        self,
        layout: StorageLayout,
        delete_enabled: bool,
        cache: BlobDescriptorCache,
        refresh_after: float | None = None,
    ) -> None:
        self._layout = layout
        self._delete_enabled = delete_enabled
        self._cache = cache
        # A blob a client is told exists may be named by its next manifest: one older than this is made
        # young again, so a garbage collection running meanwhile spares it (None: never, read-only).
        self._refresh_after = refresh_after
        self._touched: dict[Digest, float] = {}  # when this process last made a blob young

    async def _keep_young(self, stored: Digest, mtime: float | None) -> None:
        """Refresh the blob's age when it is old (``mtime``), or, when its age is unknown (a cache hit),
        when this process has not refreshed it within the interval."""
        if self._refresh_after is None:
            return
        now = time.time()
        if mtime is not None and now - mtime <= self._refresh_after:
            return
        if mtime is None and now - self._touched.get(stored, 0.0) <= self._refresh_after:
            return
        await self._layout.touch_blob(stored)
        if len(self._touched) >= _TOUCHES_KEPT:
            self._touched.clear()
        self._touched[stored] = now

    async def stat(self, name: str, digest: Digest) -> BlobInfo:
        cached = await self._cache.get(name, digest)
        if cached is not None:
            await self._keep_young(cached.stored, None)
            return BlobInfo(digest, cached.stored, cached.size)
        stored = await self._layout.layer_link(name, digest)
        blob = None if stored is None else await self._layout.blob_stat(stored)
        if stored is None or blob is None:
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": str(digest)})
        await self._keep_young(stored, blob.mtime)
        await self._cache.put(name, digest, Descriptor(stored, blob.size))
        return BlobInfo(digest, stored, blob.size)

    def open(self, info: BlobInfo, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self._layout.blob_reader(info.stored, offset, length)

    async def read(self, info: BlobInfo) -> bytes:
        """A small blob whole (callers check ``info.size`` first)."""
        data = await self._layout.blob_bytes(info.stored)
        if data is None:  # deleted since the stat
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": str(info.digest)})
        return data

    def local_path(self, info: BlobInfo) -> str | None:
        return self._layout.blob_local_path(info.stored)

    async def redirect_url(self, info: BlobInfo, method: str) -> str | None:
        """Where the client can fetch the bytes from storage directly, when the storage offers that."""
        return await self._layout.blob_redirect_url(info.stored, method)

    async def delete(self, name: str, digest: Digest) -> None:
        if not self._delete_enabled:
            raise RegistryError(ErrorCode.UNSUPPORTED, detail="blob deletion is disabled")
        await self.stat(name, digest)
        # the cache first: when it cannot be invalidated the delete stops before storage changes (503)
        await self._cache.forget(name, digest)
        await self._layout.unlink_layer(name, digest)
        await self._cache.forget(name, digest)  # a lookup meanwhile may have cached the link again

    async def mount(self, name: str, digest: Digest, source: str | None) -> bool:
        """Link an existing blob into ``name``; from any repository when no source is given."""
        if source is not None:
            stored = await self._layout.layer_link(source, digest)
        else:
            stored = digest
        if stored is None or await self._layout.blob_size(stored) is None:
            return False
        await self._layout.touch_blob(stored)
        await self._layout.link_layer(name, digest, stored)
        return True
