"""The counting wrapper of the blob-descriptor cache: every lookup is a hit or a miss, and the wrapped
cache still decides which."""

from __future__ import annotations

from dockyard.grammar import Digest
from dockyard.metrics import install
from dockyard.registry.blob_cache import Descriptor, MemoryCache
from dockyard.registry.counted_cache import CountedCache

DIGEST = Digest("sha256", "a" * 64)


def _count(result: str) -> float:
    return (
        install().registry.get_sample_value(
            "dockyard_cache_requests_total", {"cache": "inmemory", "result": result}
        )
        or 0.0
    )


async def test_lookups_are_counted_as_hits_and_misses() -> None:
    cache = CountedCache(MemoryCache(), "inmemory", install())
    hits, misses = _count("hit"), _count("miss")
    assert await cache.get("repo", DIGEST) is None
    await cache.put("repo", DIGEST, Descriptor(DIGEST, 10))
    assert await cache.get("repo", DIGEST) == Descriptor(DIGEST, 10)
    await cache.forget("repo", DIGEST)
    assert await cache.get("repo", DIGEST) is None
    assert (_count("hit"), _count("miss")) == (hits + 1, misses + 2)
    await cache.close()
