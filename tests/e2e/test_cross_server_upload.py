"""A blob upload started on one server and finished on another on the same root (same ``http.secret``),
in raw HTTP: the ``_state`` token in the upload Location and the files under ``_uploads`` must mean the same
to dockyard and to the reference, as they do between replicas of the reference."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.e2e.test_metrics import scrape, total
from tests.support.images import seeded_bytes
from tests.support.servers import Kind, RegistryServer, deep_merge, free_port
from tests.support.tree import read_tree


def location_path(response: requests.Response) -> str:
    """The upload Location as path + query (it may be absolute, naming the server that answered)."""
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.path.startswith("/v2/"), location
    assert "_state=" in parts.query, f"no _state token in {location}"
    return f"{parts.path}?{parts.query}"


def patch(server: RegistryServer, location: str, data: bytes, offset: int) -> requests.Response:
    response = requests.patch(
        f"{server.url}{location}",
        data=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
            "Content-Length": str(len(data)),
        },
        timeout=30,
    )
    assert response.status_code == 202, (server.kind, response.status_code, response.text)
    assert response.headers["Range"] == f"0-{offset + len(data) - 1}"
    return response


@pytest.mark.parametrize(("first", "second"), [("dockyard", "reference"), ("reference", "dockyard")])
def test_upload_moves_between_servers(
    registry_factory: RegistryFactory, tmp_path: Path, first: Kind, second: Kind
) -> None:
    root = tmp_path / "shared-root"
    a = registry_factory(first, root=root)
    b = registry_factory(second, root=root)
    assert a.secret == b.secret
    name = "cross/upload"
    chunk1 = seeded_bytes(f"{first}-chunk1", 1024 * 1024 + 17)
    chunk2 = seeded_bytes(f"{first}-chunk2", 512 * 1024 + 3)
    chunk3 = seeded_bytes(f"{first}-chunk3", 4099)
    digest = "sha256:" + hashlib.sha256(chunk1 + chunk2 + chunk3).hexdigest()

    started = requests.post(f"{a.url}/v2/{name}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    upload_uuid = started.headers["Docker-Upload-UUID"]
    assert upload_uuid in started.headers["Location"]
    on_a = patch(a, location_path(started), chunk1, 0)

    # the rest goes to the other server, with the token the first one handed out
    status = requests.get(f"{b.url}{location_path(on_a)}", timeout=30)
    assert status.status_code == 204, (second, status.status_code, status.text)
    assert status.headers["Range"] == f"0-{len(chunk1) - 1}"
    on_b = patch(b, location_path(on_a), chunk2, len(chunk1))
    done = requests.put(
        f"{b.url}{location_path(on_b)}&digest={digest}",
        data=chunk3,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(chunk3))},
        timeout=30,
    )
    assert done.status_code == 201, (second, done.status_code, done.text)
    assert done.headers["Docker-Content-Digest"] == digest

    for server in (a, b):
        got = requests.get(f"{server.url}/v2/{name}/blobs/{digest}", timeout=30)
        assert got.status_code == 200, (server.kind, got.status_code)
        assert got.content == chunk1 + chunk2 + chunk3, server.kind
        assert got.headers["Docker-Content-Digest"] == digest

    tree = read_tree(a.v2)
    assert digest in tree.blobs
    assert tree.repositories[name].layers == {digest}
    assert list((a.v2 / "repositories" / name / "_uploads").iterdir()) == []
    # the finished upload is gone for both
    for server in (a, b):
        gone = requests.get(f"{server.url}{location_path(on_b)}", timeout=30)
        assert gone.status_code == 404, (server.kind, gone.status_code)


def observed(kind: Kind, extra_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config that shows a server's storage reads: dockyard's storage metrics, the reference's debug log
    (one line per storage driver call)."""
    if kind == "dockyard":
        debug = {"addr": f"127.0.0.1:{free_port()}", "prometheus": {"enabled": True, "path": "/metrics"}}
        watch: dict[str, Any] = {"http": {"debug": debug}}
    else:
        watch = {"log": {"level": "debug"}}
    return deep_merge(extra_config or {}, watch)


def upload_reads(server: RegistryServer, upload_id: str) -> int:
    """How often ``server`` opened a stream on the upload's data: dockyard counts every stream it opened
    (call it before any blob is read), the reference logs each one with its path."""
    if server.kind == "dockyard":
        metrics = scrape(f"http://{server.config['http']['debug']['addr']}/metrics")
        return int(total(metrics, "dockyard_storage_operation_duration_seconds_count", operation="reader"))
    pattern = re.compile(r'\.Reader\(\\"[^"\\]*/_uploads/' + re.escape(upload_id) + r'/data\\"')
    return len(pattern.findall(server.log_path.read_text(errors="replace")))


def hash_state_offsets(root: Path, name: str, upload_id: str) -> set[int]:
    folder = root / "docker/registry/v2/repositories" / name / "_uploads" / upload_id / "hashstates/sha256"
    return {int(path.name) for path in folder.iterdir()}


@pytest.mark.parametrize(("first", "second"), [("dockyard", "reference"), ("reference", "dockyard")])
def test_hash_states_cross_between_implementations(
    registry_factory: RegistryFactory, tmp_path: Path, first: Kind, second: Kind
) -> None:
    """Chunks alternate between dockyard and the reference, each continuing the hash state the other saved
    (Go's format at ``hashstates/sha256/<offset>``); the one that commits reads nothing back, and neither
    does any chunk."""
    root = tmp_path / "shared-root"
    a = registry_factory(first, root=root, extra_config=observed(first))
    b = registry_factory(second, root=root, extra_config=observed(second))
    name = "cross/hashstate"
    chunks = [seeded_bytes(f"hs-{first}-{i}", size) for i, size in enumerate([700_001, 65, 300_000])]
    whole = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(whole).hexdigest()
    started = requests.post(f"{a.url}/v2/{name}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    upload_id = started.headers["Docker-Upload-UUID"]
    location, offset, ends = location_path(started), 0, []
    for index, chunk in enumerate(chunks):
        location = location_path(patch((a, b)[index % 2], location, chunk, offset))
        offset += len(chunk)
        ends.append(offset)
    # both saved their states where the other looks for them (the reference also saves one at 0)
    assert set(ends) <= hash_state_offsets(root, name, upload_id)
    done = requests.put(f"{b.url}{location}&digest={digest}", timeout=30)
    assert done.status_code == 201, (second, done.status_code, done.text)
    assert (upload_reads(a, upload_id), upload_reads(b, upload_id)) == (0, 0)
    for server in (a, b):
        got = requests.get(f"{server.url}/v2/{name}/blobs/{digest}", timeout=30)
        assert got.status_code == 200 and got.content == whole, server.kind


@pytest.mark.parametrize(("first", "second"), [("dockyard", "reference"), ("reference", "dockyard")])
def test_other_secret_rejects_state(
    registry_factory: RegistryFactory, tmp_path: Path, first: Kind, second: Kind
) -> None:
    """With a different ``http.secret`` the other server must refuse the token (it cannot verify it): the
    reference answers 404 BLOB_UPLOAD_INVALID."""
    root = tmp_path / "shared-root"
    a = registry_factory(first, root=root, secret="secret-one")
    b = registry_factory(second, root=root, secret="secret-two")
    started = requests.post(f"{a.url}/v2/cross/secret/blobs/uploads/", timeout=30)
    assert started.status_code == 202
    on_a = patch(a, location_path(started), b"some bytes", 0)
    refused = requests.patch(
        f"{b.url}{location_path(on_a)}",
        data=b"more",
        headers={"Content-Type": "application/octet-stream", "Content-Range": "10-13"},
        timeout=30,
    )
    assert refused.status_code == 404, (second, refused.status_code, refused.text)
    assert refused.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"


def test_upload_survives_restart(registry: RegistryServer) -> None:
    """An upload's state lives on disk and in its token: a restarted server (same root, port and secret)
    carries on where it stopped."""
    name = "restart/upload"
    chunk1 = seeded_bytes("restart-1", 300 * 1024 + 1)
    chunk2 = seeded_bytes("restart-2", 200 * 1024 + 7)
    digest = "sha256:" + hashlib.sha256(chunk1 + chunk2).hexdigest()
    started = requests.post(f"{registry.url}/v2/{name}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    first = patch(registry, location_path(started), chunk1, 0)

    registry.stop()
    registry.start()
    second = patch(registry, location_path(first), chunk2, len(chunk1))
    done = requests.put(f"{registry.url}{location_path(second)}&digest={digest}", timeout=30)
    assert done.status_code == 201, (registry.kind, done.status_code, done.text)
    got = requests.get(f"{registry.url}/v2/{name}/blobs/{digest}", timeout=30)
    assert got.status_code == 200
    assert got.content == chunk1 + chunk2
    assert digest in read_tree(registry.v2).blobs
