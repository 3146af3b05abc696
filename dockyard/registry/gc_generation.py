"""A per-process blob-descriptor cache kept correct across processes by a garbage-collection generation.

An ``inmemory`` cache lives in one process, so a collection run by another process (the
``garbage-collect`` command, another worker's or replica's collector) cannot drop what it deleted from it.
Instead every collection announces itself in ``<root>/dockyard/gc.generation`` (outside the reference's
tree), a seqlock:

* before its first blob deletion the collector writes a new token marked *sweeping*, then waits
  ``ANNOUNCE_SECONDS`` (longer than ``CHECK_SECONDS``); after its last one it writes another new token,
  not sweeping;
* a process uses its cache only while it has read the marker within the last ``CHECK_SECONDS``
  (one small read per interval, shared by all requests; on a filesystem a cached ``stat``), never while
  the marker says *sweeping*, and starts an empty cache whenever the token changes;
* an entry is kept only when the token has not changed since the lookup that missed began, so bytes read
  from storage before a sweep never enter the cache after it.

Why that suffices: a blob deleted at time *d* was announced at *d - ANNOUNCE_SECONDS* or earlier. A lookup
at *t ≥ d* may use the cache only with a marker read begun after *t - CHECK_SECONDS*, hence after the
announcement: that read says *sweeping* (no cache) or names a later token (a fresh, empty cache).

The collector waits only when a server may hold such a cache: every ``dockyard serve`` that writes keeps
a lease (see ``registry.collector``). A read-only server keeps none (it writes nothing), so its cache reads
the marker on every lookup (``check_seconds`` 0): a read begun after the lookup sees any sweep announced
before it. A collector that dies mid-sweep leaves the marker *sweeping*: caches stay off (requests go to
storage, still correct) until the next collection finishes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import Descriptor, MemoryCache
from dockyard.storage.drivers.base import StorageError
from dockyard.storage.layout import StorageLayout

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # a cache is used only with a marker read begun at most this long ago
ANNOUNCE_SECONDS = CHECK_SECONDS + 1.0  # between announcing a sweep and deleting: longer, with a margin
_PENDING_KEPT = 65536  # misses waiting for their put (one that never comes, for an unknown blob, is dropped)


class Sweep:
    """The collector's side: announce a sweep before deleting blobs, and its end after."""

    def __init__(self, layout: StorageLayout, wait_seconds: float) -> None:
        self._layout = layout
        self._wait = wait_seconds  # 0 when no server can hold a cache (no live lease)

    async def _write(self, sweeping: bool) -> None:
        content = {"token": uuid.uuid4().hex, "sweeping": sweeping, "at": time.time()}
        await self._layout.write_gc_generation(json.dumps(content).encode())

    async def begin(self) -> None:
        await self._write(sweeping=True)
        await asyncio.sleep(self._wait)

    async def end(self) -> None:
        await self._write(sweeping=False)


class GenerationCheckedCache:
    """``inmemory``: a process's own cache, never naming a blob a collection anywhere deleted."""

    def __init__(self, layout: StorageLayout, check_seconds: float = CHECK_SECONDS) -> None:
        self._layout = layout
        self._check_seconds = check_seconds
        self._cache = MemoryCache()
        self._token: str | None = None  # None: not read yet (or unreadable)
        self._sweeping = True
        self._checked = float("-inf")  # monotonic time the last successful read began
        self._reading: asyncio.Future[bool] | None = None
        self._pending: dict[tuple[str, Digest], str] = {}  # a miss -> the token when it began

    async def _usable(self) -> str | None:
        """The current token when the cache may be used now, else None."""
        if self._check_seconds <= 0:  # no lease, so no announcement ahead: read the marker every time
            if not await self._read():
                return None
        elif time.monotonic() - self._checked > self._check_seconds:
            if self._reading is None or self._reading.done():
                self._reading = asyncio.ensure_future(self._read())
            await asyncio.shield(self._reading)
            if time.monotonic() - self._checked > self._check_seconds:
                return None  # the read failed, or took longer than the interval
        return None if self._sweeping else self._token

    async def _read(self) -> bool:
        began = time.monotonic()
        try:
            content = await self._layout.read_gc_generation()
            fields = json.loads(content) if content is not None else {"token": "", "sweeping": False}
            token, sweeping = str(fields["token"]), bool(fields["sweeping"])
        except (StorageError, OSError) as exc:
            log.warning("cannot read the garbage collection generation (%s): cache unused meanwhile", exc)
            return False
        except (ValueError, KeyError, TypeError):
            token, sweeping = "damaged", True  # cannot tell: no cache until a collection rewrites it
        if token != self._token:
            self._cache = MemoryCache()
            self._pending.clear()
        self._token, self._sweeping, self._checked = token, sweeping, began
        return True

    async def get(self, repository: str, digest: Digest) -> Descriptor | None:
        token = await self._usable()
        if token is None:
            return None
        found = await self._cache.get(repository, digest)
        if found is None:
            if len(self._pending) >= _PENDING_KEPT:
                self._pending.clear()
            self._pending.setdefault((repository, digest), token)
        return found

    async def put(self, repository: str, digest: Digest, descriptor: Descriptor) -> None:
        began = self._pending.pop((repository, digest), None)
        if began is not None and began == self._token and not self._sweeping:
            await self._cache.put(repository, digest, descriptor)

    async def forget(self, repository: str, digest: Digest) -> None:
        await self._cache.forget(repository, digest)

    async def forget_blob(self, digest: Digest) -> None:
        await self._cache.forget_blob(digest)

    async def close(self) -> None:
        await self._cache.close()
