"""The blob-descriptor cache (``storage.cache.blobdescriptor``): which blobs a repository holds, how big.

A blob ``HEAD``/``GET`` otherwise reads the repository's ``_layers`` link and stats the blob's data: two
storage round trips, costly on S3. The cache answers from memory (``inmemory``, per process) or from Redis
(``redis``, shared by every replica), in two levels as the reference's: a repository's link
(``repository::<name>::<digest>``) and the blob's descriptor (``blobs::<digest>``). An entry is good only
while both are present, so removing the descriptor (garbage collection) hides the blob in every repository.

The cache is never the truth: a failed lookup or fill of Redis is logged and treated as a miss, so requests
fall back to storage while Redis is away. An invalidation is different: a delete whose entry cannot be
removed would leave the deleted blob reported present, so :meth:`BlobDescriptorCache.forget` raises
:class:`CacheUnavailable` and the delete is refused before it touches storage.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dockyard.grammar import Digest, GrammarError
from dockyard.registry.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

_MEMORY_ENTRIES = 65536
_REDIS_QUIET_SECONDS = 1.0  # after a failure, don't ask Redis again for this long
_REDIS_TTL_SECONDS = 3600
# redis-py's default retries a refused connection for ~3.5 s; a cache is asked on the request path and
# has storage to fall back on, so it gives up within a fraction of a second
_REDIS_RETRIES = 2
_REDIS_BACKOFF = (0.02, 0.2)  # base, cap (seconds)


class CacheUnavailable(RegistryError):
    """The cache could not be invalidated: ``503 UNAVAILABLE``, the client retries the delete."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, detail=detail)


@dataclass(frozen=True, slots=True)
class Descriptor:
    stored: Digest  # where the bytes live (the repository's link target)
    size: int


class BlobDescriptorCache(Protocol):
    async def get(self, repository: str, digest: Digest) -> Descriptor | None: ...

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None: ...

    async def forget(self, repository: str, digest: Digest) -> None:
        """The blob is being unlinked from ``repository`` (blob or manifest delete); raises
        :class:`CacheUnavailable` when the entry may still be there."""

    async def forget_blob(self, digest: Digest) -> None:
        """The blob's bytes are gone (garbage collection): no repository holds it any more. A failure is
        logged (the bytes are gone already; the entry expires within the hour)."""

    async def close(self) -> None: ...


class NoCache:
    """No ``storage.cache``: every lookup goes to storage."""

    async def get(self, repository: str, digest: Digest) -> Descriptor | None:
        return None

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None:
        return None

    async def forget(self, repository: str, digest: Digest) -> None:
        return None

    async def forget_blob(self, digest: Digest) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryCache:
    """``inmemory``: one process's LRU; other processes' deletes are not seen (use Redis for replicas)."""

    def __init__(self, entries: int = _MEMORY_ENTRIES) -> None:
        self._entries = entries
        self._members: OrderedDict[tuple[str, Digest], Digest] = OrderedDict()
        self._sizes: OrderedDict[Digest, int] = OrderedDict()

    async def get(self, repository: str, digest: Digest) -> Descriptor | None:
        stored = self._members.get((repository, digest))
        size = None if stored is None else self._sizes.get(stored)
        if stored is None or size is None:
            return None
        self._members.move_to_end((repository, digest))
        return Descriptor(stored, size)

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None:
        self._members[(repository, digest)] = descriptor.stored
        self._sizes[descriptor.stored] = descriptor.size
        for table in (self._members, self._sizes):
            while len(table) > self._entries:
                table.popitem(last=False)

    async def forget(self, repository: str, digest: Digest) -> None:
        self._members.pop((repository, digest), None)

    async def forget_blob(self, digest: Digest) -> None:
        self._sizes.pop(digest, None)

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """The reference's ``redis:`` block."""

    addr: str = "localhost:6379"
    password: str | None = None
    db: int = 0
    dial_timeout: float = 1.0
    read_timeout: float = 1.0
    write_timeout: float = 1.0
    max_connections: int = 64


class RedisCache:
    """``redis``: shared by every replica and worker. Entries expire after an hour, which bounds what an
    invalidation lost while Redis was unreachable can do."""

    def __init__(self, options: RedisOptions) -> None:
        import redis.asyncio as aioredis  # loaded only where Redis is configured: MiBs in every worker
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)
        host, _, port = options.addr.rpartition(":")
        self._redis = aioredis.Redis(
            host=host.strip("[]") or "localhost",
            port=int(port or 6379),
            db=options.db,
            password=options.password,
            socket_connect_timeout=options.dial_timeout,
            socket_timeout=max(options.read_timeout, options.write_timeout),
            max_connections=options.max_connections,
            retry=Retry(
                ExponentialWithJitterBackoff(base=_REDIS_BACKOFF[0], cap=_REDIS_BACKOFF[1]), _REDIS_RETRIES
            ),
        )
        self._quiet_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._quiet_until

    def _failed(self, operation: str, exc: Exception) -> None:
        if self._available():
            log.warning("redis %s failed (%s); falling back to storage", operation, exc)
        self._quiet_until = time.monotonic() + _REDIS_QUIET_SECONDS

    async def get(self, repository: str, digest: Digest) -> Descriptor | None:
        if not self._available():
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(f"repository::{repository}::{digest}", ["digest", "size"])
                pipe.hget(f"blobs::{digest}", "size")
                (stored_text, size), global_size = await pipe.execute()
            if stored_text is None or size is None:
                return None
            stored = Digest.parse(stored_text.decode())
            if stored != digest:  # linked under another digest: its own descriptor decides
                global_size = await self._redis.hget(f"blobs::{stored}", "size")
        except self._errors as exc:
            self._failed("read", exc)
            return None
        except (GrammarError, UnicodeDecodeError, ValueError):
            return None  # a damaged entry is a miss
        return None if global_size is None else Descriptor(stored, int(global_size))

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None:
        if not self._available():
            return
        entry: dict[FieldT, EncodableT] = {"digest": str(descriptor.stored), "size": descriptor.size}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(f"blobs::{descriptor.stored}", mapping=entry)
                pipe.expire(f"blobs::{descriptor.stored}", _REDIS_TTL_SECONDS)
                pipe.hset(f"repository::{repository}::{digest}", mapping=entry)
                pipe.expire(f"repository::{repository}::{digest}", _REDIS_TTL_SECONDS)
                await pipe.execute()
        except self._errors as exc:
            self._failed("write", exc)

    async def forget(self, repository: str, digest: Digest) -> None:
        key = f"repository::{repository}::{digest}"
        if not await self._delete(key):
            raise CacheUnavailable(f"the blob-descriptor cache (redis) could not invalidate {key}")

    async def forget_blob(self, digest: Digest) -> None:
        key = f"blobs::{digest}"
        if not await self._delete(key):
            raise CacheUnavailable(f"the blob-descriptor cache (redis) could not invalidate {key}")

    async def _delete(self, key: str) -> bool:
        """Whether the key is surely gone; tried even in a quiet period (Redis may be back)."""
        try:
            await self._redis.delete(key)
        except self._errors as exc:
            self._failed("invalidate", exc)
            return False
        return True

    async def close(self) -> None:
        await self._redis.aclose()
