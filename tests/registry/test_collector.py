"""One collector at a time (gc.lock) and the leases that tell the ``garbage-collect`` command whether
servers use the storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.grammar import Digest
from dockyard.registry import collector
from dockyard.registry.collector import CollectorBusy, GcLock, Lease, collect_from_command, live_leases
from dockyard.registry.gc import GcOptions
from dockyard.registry.service import Registry
from tests.support.inprocess import HOUR, blob_exists


async def test_collectors_exclude_each_other(registry: Registry) -> None:
    first = GcLock(registry.layout)
    await first.acquire()
    with pytest.raises(CollectorBusy):
        await collector.collect_locked(registry.layout, GcOptions())
    await first.release()
    await collector.collect_locked(registry.layout, GcOptions())  # free again


async def test_the_command_spares_young_garbage_only_while_a_server_holds_a_lease(
    registry: Registry, tmp_path: Path
) -> None:
    orphan = Digest.of(b"young")
    await registry.layout.put_blob(orphan, b"young")
    lease = Lease(registry.layout, grace_seconds=HOUR)
    await lease.renew()
    assert [item.lease_id for item in await live_leases(registry.layout)] == [lease.lease_id]
    result = await collect_from_command(registry.layout, GcOptions(), lambda line: None)
    assert result.options.grace_seconds == HOUR and blob_exists(tmp_path, orphan)
    await registry.layout.remove_lease(lease.lease_id)
    result = await collect_from_command(registry.layout, GcOptions(), lambda line: None)
    assert result.options.grace_seconds == 0 and not blob_exists(tmp_path, orphan)
