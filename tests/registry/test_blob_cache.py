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
    CacheUnavailable,
    Descriptor,
    MemoryCache,
    RedisCache,
    RedisOptions,
)
from dockyard.registry.errors import ErrorCode
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


async def test_without_redis_lookups_miss_and_only_an_unlink_raises(redis_server: RedisServer) -> None:
    cache = RedisCache(RedisOptions(addr=redis_server.addr, dial_timeout=0.5, read_timeout=0.5))
    await cache.put("r", A, Descriptor(A, 3))
    redis_server.stop()
    assert await cache.get("r", A) is None
    await cache.put("r", B, Descriptor(B, 3))
    with pytest.raises(CacheUnavailable) as refused:  # the entry may still be there: the delete must wait
        await cache.forget("r", A)
    assert refused.value.code is ErrorCode.UNAVAILABLE
    with pytest.raises(CacheUnavailable):  # garbage collection then keeps the blob for its next run
        await cache.forget_blob(A)
    redis_server.start()  # empty again (no persistence); an invalidation is tried at once
    await cache.forget("r", A)
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


def test_a_delete_is_refused_while_redis_is_unreachable(
    registry_factory: RegistryFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """With Redis stopped a blob or manifest delete answers 503 UNAVAILABLE with the spec's body and leaves
    storage as it was; once Redis is back the same delete goes through and no replica reports the blob."""
    root = tmp_path / "shared-root"
    one = registry_factory("dockyard", root=root, extra_config=_redis_config(redis_server))
    two = registry_factory("dockyard", root=root, extra_config=_redis_config(redis_server))
    name = "guarded/app"
    digest = _push_blob(one, name, b"guarded bytes")
    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' + (
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":13,"digest":"'
        + digest.encode()
        + b'"},"layers":[]}'
    )
    put = requests.put(
        f"{one.url}/v2/{name}/manifests/v1",
        data=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        timeout=30,
    )
    assert put.status_code == 201, put.text
    manifest_digest = put.headers["Docker-Content-Digest"]
    for server in (one, two):  # both look it up: now it is in Redis
        assert requests.head(f"{server.url}/v2/{name}/blobs/{digest}", timeout=30).status_code == 200
    layer_link = one.v2 / "repositories" / name / "_layers/sha256" / digest[7:] / "link"
    revision_link = (
        one.v2 / "repositories" / name / "_manifests/revisions/sha256" / manifest_digest[7:] / "link"
    )

    redis_server.stop()
    for path in (f"blobs/{digest}", f"manifests/{manifest_digest}"):
        refused = requests.delete(f"{two.url}/v2/{name}/{path}", timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Content-Type"].startswith("application/json")
        assert [error["code"] for error in refused.json()["errors"]] == ["UNAVAILABLE"]
    assert layer_link.read_bytes() == digest.encode()  # storage untouched
    assert revision_link.read_bytes() == manifest_digest.encode()
    assert requests.get(f"{one.url}/v2/{name}/manifests/v1", timeout=30).status_code == 200

    redis_server.start()
    assert requests.delete(f"{two.url}/v2/{name}/blobs/{digest}", timeout=30).status_code == 202
    for server in (one, two):
        assert requests.head(f"{server.url}/v2/{name}/blobs/{digest}", timeout=30).status_code == 404
    assert not layer_link.exists()
