"""Garbage collection that is safe while registries serve the storage.

* One collector at a time: ``<root>/dockyard/gc.lock`` names the holder and an expiry. A collector writes
  it (atomically), waits a moment and reads it back: the last writer wins, the others back off. The holder
  renews it while it works and checks it is still the holder before deleting.
* Leases: every ``dockyard serve`` keeps ``<root>/dockyard/leases/<id>`` (with an expiry, renewed well
  before it) while it runs. A collection that finds a live lease spares everything younger than the
  grace period (manifests, blobs, including ones being pushed); with no live lease it gives the
  reference's result at once, young garbage included.
* Both files live outside ``docker/registry/v2``: the reference registry never sees them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace

from dockyard import metrics
from dockyard.grammar import Digest
from dockyard.registry.gc import Emit, Forget, GarbageCollector, GcOptions, GcResult
from dockyard.registry.gc_generation import ANNOUNCE_SECONDS, Sweep
from dockyard.storage.layout import StorageLayout

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a lease not renewed for this long belongs to a server that is gone
LEASE_RENEW_SECONDS = 10.0
LOCK_SECONDS = 60.0
LOCK_RENEW_SECONDS = 15.0
LOCK_SETTLE_SECONDS = 0.3  # between writing the lock and reading it back: longer than any write takes


class CollectorBusy(Exception):
    """Another collector holds the lock (or took it over)."""


def _identity() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


@dataclass(frozen=True, slots=True)
class LiveLease:
    lease_id: str
    grace_seconds: float


async def live_leases(layout: StorageLayout) -> list[LiveLease]:
    """Leases of servers that renewed them recently enough."""
    now = time.time()
    found = []
    async for lease_id, content in layout.leases():
        try:
            fields = json.loads(content)
            expires, grace = float(fields["expires"]), float(fields["grace_seconds"])
        except (ValueError, KeyError, TypeError):
            continue  # damaged: treated as gone
        if expires > now:
            found.append(LiveLease(lease_id, grace))
    return found


class Lease:
    """This server's lease on the storage, renewed until it stops."""

    def __init__(self, layout: StorageLayout, grace_seconds: float, lease_id: str | None = None) -> None:
        self._layout = layout
        self._grace = grace_seconds
        self.lease_id = lease_id or uuid.uuid4().hex

    async def renew(self) -> None:
        content = {"expires": time.time() + LEASE_SECONDS, "grace_seconds": self._grace, **_identity()}
        await self._layout.write_lease(self.lease_id, json.dumps(content).encode())

    async def keep(self) -> None:
        """Renew forever; on cancellation remove the lease so collectors stop waiting for this server."""
        try:
            while True:
                try:
                    await self.renew()
                except OSError:
                    log.exception("cannot renew the storage lease; retrying")
                await asyncio.sleep(LEASE_RENEW_SECONDS)
        finally:
            await self._layout.remove_lease(self.lease_id)


class GcLock:
    """The one-collector-at-a-time lock in the shared storage."""

    def __init__(self, layout: StorageLayout) -> None:
        self._layout = layout
        self._owner = uuid.uuid4().hex
        self._renewed = 0.0

    def _content(self) -> bytes:
        content = {"owner": self._owner, "expires": time.time() + LOCK_SECONDS, **_identity()}
        return json.dumps(content).encode()

    async def _holder(self) -> tuple[str, float] | None:
        content = await self._layout.read_gc_lock()
        if content is None:
            return None
        try:
            fields = json.loads(content)
            return str(fields["owner"]), float(fields["expires"])
        except (ValueError, KeyError, TypeError):
            return None  # damaged: free

    async def acquire(self) -> None:
        holder = await self._holder()
        if holder is not None and holder[1] > time.time():
            raise CollectorBusy("another garbage collection is running (see <root>/dockyard/gc.lock)")
        await self._layout.write_gc_lock(self._content())
        await asyncio.sleep(LOCK_SETTLE_SECONDS)
        holder = await self._holder()
        if holder is None or holder[0] != self._owner:
            raise CollectorBusy("another garbage collection started at the same time")
        self._renewed = time.monotonic()

    async def guard(self) -> None:
        """Before a deletion: still the holder? Renew when due."""
        if time.monotonic() - self._renewed < LOCK_RENEW_SECONDS:
            return
        holder = await self._holder()
        if holder is None or holder[0] != self._owner:
            raise CollectorBusy("the garbage collection lock was taken over; stopping")
        await self._layout.write_gc_lock(self._content())
        self._renewed = time.monotonic()

    async def release(self) -> None:
        holder = await self._holder()
        if holder is not None and holder[0] == self._owner:
            await self._layout.remove_gc_lock()


async def _no_cache(digest: Digest) -> None:
    return None


async def collect_locked(
    layout: StorageLayout,
    options: GcOptions,
    emit: Emit = lambda line: None,
    forget: Forget | None = None,
    announce_seconds: float = ANNOUNCE_SECONDS,
) -> GcResult:
    """One collection under the lock; CollectorBusy when another one runs. Its blob deletions are
    announced ``announce_seconds`` ahead to the servers' own caches (see ``registry.gc_generation``)."""
    lock = GcLock(layout)
    await lock.acquire()
    try:
        sweep = Sweep(layout, announce_seconds)
        return await GarbageCollector(layout, options, emit, lock.guard, forget or _no_cache, sweep).run()
    finally:
        await lock.release()


async def collect_from_command(
    layout: StorageLayout, options: GcOptions, emit: Emit, forget: Forget | None = None
) -> GcResult:
    """``dockyard garbage-collect``: the reference's result when no server uses the storage, else the
    largest grace period of the live servers applies (each keeps what it hands out younger than that)."""
    leases = await live_leases(layout)
    if leases:
        grace = max(lease.grace_seconds for lease in leases)
        log.info("%d live dockyard server(s) use this storage: sparing what is younger than %ss",
                 len(leases), grace)  # fmt: skip
        options = replace(options, grace_seconds=grace)
    return await collect_locked(layout, options, emit, forget, ANNOUNCE_SECONDS if leases else 0.0)


class OnlineCollector:
    """Collections inside ``dockyard serve``: on a schedule and on demand, one at a time."""

    def __init__(
        self,
        layout: StorageLayout,
        options: GcOptions,
        interval_seconds: float,
        forget: Forget,
    ) -> None:
        self._layout = layout
        self._options = options
        self._interval = interval_seconds
        self._forget = forget
        self._running = asyncio.Lock()

    async def run_once(self, dry_run: bool | None = None) -> GcResult:
        options = self._options if dry_run is None else replace(self._options, dry_run=dry_run)
        if self._running.locked():
            raise CollectorBusy("a garbage collection is already running in this server")
        async with self._running:
            try:
                result = await collect_locked(self._layout, options, forget=self._forget)
            except CollectorBusy:
                raise
            except Exception:
                metrics.count_gc_run("failure")
                raise
        metrics.count_gc_run("success")
        log.info("garbage collection: %s (%.1fs, %d bytes)", result.summary, result.seconds,
                 result.freed_bytes)  # fmt: skip
        return result

    async def forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except CollectorBusy as exc:
                log.info("garbage collection skipped: %s", exc)
            except Exception:
                log.exception("garbage collection failed; retrying at the next interval")
