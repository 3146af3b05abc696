"""The blob-descriptor cache: in memory and on a real Redis; invalidation, and life without Redis."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import (
    BlobDescriptorCache,
    Descriptor,
    MemoryCache,
    RedisCache,
    RedisOptions,
)
from tests.conftest import RegistryFactory
from tests.support.redis_server import RedisServer
from tests.support.servers import RegistryServer

A = Digest.of(b"a")
B = Digest.of(b"b")


@pytest.fixture(params=["inmemory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[BlobDescriptorCache]:
    made: BlobDescriptorCache
    if request.param == "redis":
        made = RedisCache(RedisOptions(addr=request.getfixturevalue("redis_server").addr))
    else:
        made = MemoryCache()
    yield made
    await made.close()


async def test_descriptors_are_per_repository(cache: BlobDescriptorCache) -> None:
    assert await cache.get("team/app", A) is None
    await cache.put("team/app", A, Descriptor(A, 10))
    assert await cache.get("team/app", A) == Descriptor(A, 10)
    assert await cache.get("team/other", A) is None
    await cache.put("team/app", B, Descriptor(A, 10))  # linked under another digest
    assert await cache.get("team/app", B) == Descriptor(A, 10)


async def test_unlinking_forgets_one_repository_collecting_forgets_all(cache: BlobDescriptorCache) -> None:
    for repository in ("one", "two", "three"):
        await cache.put(repository, A, Descriptor(A, 1))
    await cache.forget("one", A)
    assert await cache.get("one", A) is None
    assert await cache.get("two", A) == Descriptor(A, 1)
    await cache.forget_blob(A)  # garbage collection removed the bytes
    assert await cache.get("two", A) is None
    assert await cache.get("three", A) is None


async def test_without_redis_every_lookup_is_a_miss_and_nothing_raises(redis_server: RedisServer) -> None:
    cache = RedisCache(RedisOptions(addr=redis_server.addr, dial_timeout=0.5, read_timeout=0.5))
    await cache.put("r", A, Descriptor(A, 3))
    redis_server.stop()
    assert await cache.get("r", A) is None
    await cache.put("r", B, Descriptor(B, 3))
    await cache.forget("r", A)
    await cache.forget_blob(A)
    redis_server.start()  # empty again (no persistence), and usable once the quiet second has passed
    await cache.put("r", A, Descriptor(A, 3))
    await cache.close()


def _push_blob(server: RegistryServer, name: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    answer = requests.post(f"{server.url}/v2/{name}/blobs/uploads/?digest={digest}", data=data, timeout=30)
    assert answer.status_code == 201, answer.text
    return digest


def _redis_config(redis_server: RedisServer) -> dict[str, object]:
    return {
        "storage": {"cache": {"blobdescriptor": "redis"}, "delete": {"enabled": True}},
        "redis": {"addr": redis_server.addr, "dialtimeout": "500ms", "readtimeout": "500ms"},
    }


def test_a_blob_deleted_on_one_replica_is_gone_on_the_other(
    registry_factory: RegistryFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    root = tmp_path / "shared-root"
    one = registry_factory("dockyard", root=root, extra_config=_redis_config(redis_server))
    two = registry_factory("dockyard", root=root, extra_config=_redis_config(redis_server))
    digest = _push_blob(one, "cached/app", b"cached bytes")
    for server in (one, two):  # both look it up: now it is in Redis
        assert requests.head(f"{server.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 200
    assert redis_server.client().exists(f"repository::cached/app::{digest}", f"blobs::{digest}") == 2
    deleted = requests.delete(f"{two.url}/v2/cached/app/blobs/{digest}", timeout=30)
    assert deleted.status_code == 202
    assert requests.head(f"{one.url}/v2/cached/app/blobs/{digest}", timeout=30).status_code == 404
    assert redis_server.client().exists(f"repository::cached/app::{digest}") == 0


def test_requests_carry_on_while_redis_restarts(
    registry_factory: RegistryFactory, redis_server: RedisServer
) -> None:
    server = registry_factory("dockyard", extra_config=_redis_config(redis_server))
    first = _push_blob(server, "steady/app", b"before")
    assert requests.head(f"{server.url}/v2/steady/app/blobs/{first}", timeout=30).status_code == 200
    redis_server.stop()
    second = _push_blob(server, "steady/app", b"while redis is away")
    for digest in (first, second):
        got = requests.get(f"{server.url}/v2/steady/app/blobs/{digest}", timeout=30)
        assert got.status_code == 200, got.text
    redis_server.start()
    third = _push_blob(server, "steady/app", b"after")
    for digest in (first, second, third):
        assert requests.head(f"{server.url}/v2/steady/app/blobs/{digest}", timeout=30).status_code == 200
