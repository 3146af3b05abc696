"""One collector at a time (gc.lock) and the leases that tell the ``garbage-collect`` command whether
servers use the storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from dockyard.grammar import Digest
from dockyard.registry import collector
from dockyard.registry.collector import CollectorBusy, GcLock, Lease, collect_from_command, live_leases
from dockyard.registry.gc import GcOptions
from dockyard.registry.service import Registry
from tests.api._http import Api
from tests.conftest import RegistryFactory
from tests.support.inprocess import HOUR, age_everything, blob_exists
from tests.support.redis_server import RedisServer


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


def test_the_command_hides_what_it_deletes_from_every_replica_through_redis(
    registry_factory: RegistryFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    root = tmp_path / "shared-root"
    config = {"storage": {"cache": {"blobdescriptor": "redis"}}, "redis": {"addr": redis_server.addr}}
    one, two = (registry_factory("dockyard", root=root, extra_config=config) for _ in range(2))
    digest = Api(one.url).push_blob("cached/app", b"garbage nobody references")
    for server in (one, two):  # both look it up: now it is in Redis
        assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 200
    age_everything(root / "docker")
    command = subprocess.run(
        [sys.executable, "-m", "dockyard", "garbage-collect", str(one.config_path), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert command.returncode == 0, command.stderr
    result = json.loads(command.stdout)
    assert result["grace_seconds"] == HOUR and result["blobs_eligible"] == [digest]  # live servers: grace
    assert redis_server.client().exists(f"blobs::{digest}") == 0
    for server in (one, two):
        assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 404


def test_the_command_keeps_what_redis_cannot_forget_until_a_run_that_can(
    registry_factory: RegistryFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """With Redis unreachable a deletion could leave every replica's cache naming a deleted blob; the
    collection keeps the blob instead (reported), and the next run with Redis back deletes it."""
    root = tmp_path / "shared-root"
    config = {"storage": {"cache": {"blobdescriptor": "redis"}}, "redis": {"addr": redis_server.addr}}
    server = registry_factory("dockyard", root=root, extra_config=config)
    digest = Api(server.url).push_blob("cached/app", b"garbage Redis must forget first")
    assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 200
    age_everything(root / "docker")

    def collect() -> dict[str, Any]:
        command = subprocess.run(
            [sys.executable, "-m", "dockyard", "garbage-collect", str(server.config_path), "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert command.returncode == 0, command.stderr
        result: dict[str, Any] = json.loads(command.stdout)
        return result

    redis_server.stop()
    kept = collect()
    assert kept["blobs_eligible"] == [] and kept["blobs_kept_cache_unavailable"] == [digest]
    assert blob_exists(root, digest)
    redis_server.start()  # (empty: it keeps nothing across restarts) the blob is still served, and cached
    assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 200
    assert redis_server.client().exists(f"blobs::{digest}") == 1
    age_everything(root / "docker")  # (the HEAD refreshed the blob's age, as any use does while serving)
    deleted = collect()
    assert deleted["blobs_eligible"] == [digest] and deleted["blobs_kept_cache_unavailable"] == []
    assert not blob_exists(root, digest)
    assert redis_server.client().exists(f"blobs::{digest}") == 0
    assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 404
