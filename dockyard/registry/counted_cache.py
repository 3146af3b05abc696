"""Hit and miss counts of the blob-descriptor cache, for the metrics: a wrapper around any cache."""

from __future__ import annotations

from dockyard.grammar import Digest
from dockyard.metrics import Metrics
from dockyard.registry.blob_cache import BlobDescriptorCache, Descriptor


class CountedCache:
    def __init__(self, inner: BlobDescriptorCache, name: str, metrics: Metrics) -> None:
        self._inner = inner
        self._hits = metrics.cache_requests.labels(name, "hit")
        self._misses = metrics.cache_requests.labels(name, "miss")

    async def get(self, repository: str, digest: Digest) -> Descriptor | None:
        found = await self._inner.get(repository, digest)
        (self._misses if found is None else self._hits).inc()
        return found

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None:
        await self._inner.put(repository, digest, descriptor)

    async def forget(self, repository: str, digest: Digest) -> None:
        await self._inner.forget(repository, digest)

    async def forget_blob(self, digest: Digest) -> None:
        await self._inner.forget_blob(digest)

    async def close(self) -> None:
        await self._inner.close()
