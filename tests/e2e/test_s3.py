"""The registry on S3 (SeaweedFS): real clients push and pull, and the reference registry's s3 driver reads
and writes the same bucket and root, uploads included."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import S3RegistryFactory, SeedImages, podman_round_trip, push_seed
from tests.e2e.test_cross_server_upload import location_path, observed, patch, upload_reads
from tests.support.clients import Clients
from tests.support.images import seeded_bytes
from tests.support.seaweed import SeaweedServer
from tests.support.servers import Kind, s3_config


def pull_and_compare(clients: Clients, host: str, images: SeedImages, dest: Path) -> None:
    """Pull the seed images back from ``host`` (every platform) and check they are the very bytes pushed."""
    clients.mark_insecure(host)
    for image, ref in [
        (images.busybox_v1, "busybox:1.29.2"),
        (images.busybox_v2, "busybox:latest"),
        (images.hello, "hello:latest"),
    ]:
        raw = clients.inspect_raw(f"docker://{host}/{ref}")
        assert hashlib.sha256(raw).hexdigest() == image.digest.split(":", 1)[1], (host, ref)
        clients.copy(f"docker://{host}/{ref}", f"oci:{dest}:{ref.replace(':', '-')}", "--all")
    pulled = sorted(p.name for p in (dest / "blobs" / "sha256").iterdir())
    pushed = set()
    for image in (images.busybox_v1, images.busybox_v2, images.hello):
        pushed |= {digest.split(":", 1)[1] for digest in image.blob_digests()}
    assert pushed <= set(pulled)
    for name in pulled:
        assert hashlib.sha256((dest / "blobs" / "sha256" / name).read_bytes()).hexdigest() == name


@pytest.mark.parametrize(("pusher", "puller"), [("dockyard", "reference"), ("reference", "dockyard")])
def test_images_pushed_by_one_are_served_by_the_other_on_one_bucket(
    s3_registry_factory: S3RegistryFactory,
    seaweedfs: SeaweedServer,
    seed_images: SeedImages,
    clients: Clients,
    tmp_path: Path,
    pusher: Kind,
    puller: Kind,
) -> None:
    root = seaweedfs.make_root("images")
    first = s3_registry_factory(pusher, root)
    push_seed(clients, first, seed_images)
    second = s3_registry_factory(puller, root)
    pull_and_compare(clients, second.host, seed_images, tmp_path / "pulled")
    tags = requests.get(f"{second.url}/v2/busybox/tags/list", timeout=30).json()
    assert tags == {"name": "busybox", "tags": ["1.29.2", "latest"]}
    catalog = requests.get(f"{second.url}/v2/_catalog", timeout=30).json()
    assert catalog == {"repositories": ["busybox", "hello"]}


def test_podman_pushes_and_pulls_through_dockyard_on_s3(
    s3_registry_factory: S3RegistryFactory,
    seaweedfs: SeaweedServer,
    seed_images: SeedImages,
    clients_factory: Callable[[str], Clients],
    tmp_path: Path,
) -> None:
    server = s3_registry_factory("dockyard", seaweedfs.make_root("podman"))
    pushed, pulled = clients_factory("pusher"), clients_factory("puller")
    podman_round_trip(pushed, pulled, seed_images.busybox_v1, f"{server.host}/p/busybox:1", tmp_path)


@pytest.mark.parametrize(
    ("first", "second", "last_in_put"),
    [("dockyard", "reference", True), ("reference", "dockyard", True), ("dockyard", "dockyard", False)],
)
def test_an_upload_moves_between_implementations_on_s3(
    registry_factory: RegistryFactory, seaweedfs: SeaweedServer, first: Kind, second: Kind, last_in_put: bool
) -> None:
    """Chunks land on both (a multipart upload in progress under ``_uploads/<id>/data``), over and under
    S3's 5 MiB part minimum, and the one that did not take the last chunk finishes it (with the last chunk
    in its PUT, or with none). Each continues the hash state the other saved under
    ``_uploads/<id>/hashstates/sha256/``: no chunk and no commit reads the upload back."""
    parameters = seaweedfs.parameters(seaweedfs.make_root("cross"))
    config = s3_config(dict(parameters))
    a = registry_factory(first, extra_config=observed(first, config))
    b = registry_factory(second, extra_config=observed(second, config))
    name = "cross/upload"
    chunks = [seeded_bytes(f"{first}-{i}", size) for i, size in enumerate([6 << 20, 1 << 20, 3 << 20, 4099])]
    whole = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(whole).hexdigest()
    started = requests.post(f"{a.url}/v2/{name}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    location, offset = location_path(started), 0
    patched = chunks[:-1] if last_in_put else chunks
    for index, chunk in enumerate(patched):
        server = (a, b)[index % 2]
        location = location_path(patch(server, location, chunk, offset))
        offset += len(chunk)
        status = requests.get(f"{(b, a)[index % 2].url}{location}", timeout=30)
        assert status.status_code == 204, (server.kind, status.text)
        assert status.headers["Range"] == f"0-{offset - 1}"
    committer = (b, a)[(len(patched) - 1) % 2]
    done = requests.put(
        f"{committer.url}{location}&digest={digest}",
        data=chunks[-1] if last_in_put else b"",
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert done.status_code == 201, (committer.kind, done.status_code, done.text)
    upload_id = started.headers["Docker-Upload-UUID"]
    assert (upload_reads(a, upload_id), upload_reads(b, upload_id)) == (0, 0)
    root = parameters["rootdirectory"].lstrip("/")
    assert f"{root}/docker/registry/v2/blobs/sha256/{digest[7:9]}/{digest[7:]}/data" in seaweedfs.keys(root)
    for server in (a, b):
        got = requests.get(f"{server.url}/v2/{name}/blobs/{digest}", timeout=60)
        assert got.status_code == 200, (server.kind, got.status_code)
        assert got.content == whole, server.kind
    assert not [key for key in seaweedfs.keys(root) if "/_uploads/" in key]


@pytest.mark.parametrize("redirect", [True, False])
def test_blob_reads_with_and_without_redirects(
    s3_registry_factory: S3RegistryFactory, seaweedfs: SeaweedServer, redirect: bool
) -> None:
    server = s3_registry_factory("dockyard", seaweedfs.make_root("redirect"), redirect=redirect)
    data = seeded_bytes("redirected", 300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = requests.post(f"{server.url}/v2/r/blobs/uploads/?digest={digest}", data=data, timeout=30)
    assert pushed.status_code == 201, pushed.text
    url = f"{server.url}/v2/r/blobs/{digest}"

    first = requests.get(url, allow_redirects=False, timeout=30)
    if redirect:
        assert first.status_code == 307
        assert first.headers["Location"].startswith(seaweedfs.endpoint + "/")
    else:
        assert first.status_code == 200
        assert first.content == data
    assert requests.get(url, timeout=30).content == data
    ranged = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
    assert (ranged.status_code, ranged.content) == (206, data[1000:2000])
    head = requests.head(url, timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
