"""Configuration keys change what a running dockyard does, seen through skopeo and raw HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients


def test_inmemory_storage_serves_a_multi_arch_push(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> None:
    server = registry_factory("dockyard", start=False)
    server.config["storage"] = {"inmemory": {}, "delete": {"enabled": True}}
    server.write_config()
    server.start()
    clients.mark_insecure(server.host)
    ref = f"docker://{server.host}/mem/hello:latest"
    clients.copy(seed_images.hello.transport, ref, "--all")
    clients.copy(ref, f"oci:{tmp_path / 'back'}:hello", "--all")
    assert clients.inspect_raw(ref) == clients.inspect_raw(seed_images.hello.transport)
    assert not list(server.root.rglob("*")), "inmemory storage must not write to disk"


def test_prefix_and_extra_headers(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages
) -> None:
    server = registry_factory(
        "dockyard",
        extra_config={"http": {"prefix": "/mirror/", "headers": {"X-Content-Type-Options": ["nosniff"]}}},
    )
    base = f"{server.url}/mirror"
    response = requests.get(f"{base}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{server.url}/v2/", timeout=10).status_code == 404
    started = requests.post(f"{base}/v2/pre/fixed/blobs/uploads/", timeout=10)
    assert started.status_code == 202
    assert started.headers["Location"].startswith(f"{base}/v2/pre/fixed/blobs/uploads/")
    finished = requests.put(started.headers["Location"], params={"digest": _EMPTY}, timeout=10)
    assert finished.status_code == 201
    assert finished.headers["Location"] == f"{base}/v2/pre/fixed/blobs/{_EMPTY}"


def test_relative_urls(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard", extra_config={"http": {"relativeurls": True}})
    started = requests.post(f"{server.url}/v2/rel/blobs/uploads/", timeout=10)
    assert started.headers["Location"].startswith("/v2/rel/blobs/uploads/")


def test_read_only_mode_serves_pulls_and_refuses_writes(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> None:
    writable = registry_factory("dockyard")
    clients.mark_insecure(writable.host)
    clients.copy(seed_images.busybox_v1.transport, f"docker://{writable.host}/ro/busybox:1")
    writable.stop()
    frozen = registry_factory(
        "dockyard",
        root=writable.root,
        extra_config={"storage": {"maintenance": {"readonly": {"enabled": True}}}},
    )
    clients.mark_insecure(frozen.host)
    before = sorted(str(path) for path in frozen.root.rglob("*"))
    clients.copy(f"docker://{frozen.host}/ro/busybox:1", f"oci:{tmp_path / 'pulled'}:x")
    with pytest.raises(AssertionError, match="read-only mode"):
        clients.copy(seed_images.busybox_v2.transport, f"docker://{frozen.host}/ro/new:1")
    for method, path in (("POST", "/v2/ro/new/blobs/uploads/"), ("DELETE", "/v2/ro/busybox/manifests/1")):
        response = requests.request(method, f"{frozen.url}{path}", timeout=10)
        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert sorted(str(path) for path in frozen.root.rglob("*")) == before


def test_delete_disabled_answers_unsupported(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard", extra_config={"storage": {"delete": {"enabled": False}}})
    response = requests.delete(f"{server.url}/v2/any/blobs/{_EMPTY}", timeout=10)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_upload_purging_removes_abandoned_uploads(registry_factory: RegistryFactory) -> None:
    purging = {"enabled": True, "age": "1s", "interval": "1s", "dryrun": False}
    server = registry_factory(
        "dockyard", extra_config={"storage": {"maintenance": {"uploadpurging": purging}}}
    )
    started = requests.post(f"{server.url}/v2/purge/me/blobs/uploads/", timeout=10)
    upload = server.v2 / "repositories/purge/me/_uploads" / started.headers["Docker-Upload-UUID"]
    assert upload.is_dir()
    deadline = time.monotonic() + 30
    while upload.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not upload.exists()
    assert requests.get(started.headers["Location"], timeout=10).status_code == 404


_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
