"""Drop-in compatibility with the reference registry (docker-registry, Distribution 2.8.2) on disk:

* the same pushes leave byte-identical storage trees in both;
* either one serves a root the other wrote, every pull byte-identical.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages, push_seed
from tests.support.clients import Clients
from tests.support.images import OciImage, blob_path, read_index
from tests.support.servers import Kind, RegistryServer
from tests.support.tree import file_hashes, read_tree

SEED_REFS = (("busybox", "1.29.2"), ("busybox", "latest"), ("hello", "latest"))


def seed_image(images: SeedImages, name: str, tag: str) -> OciImage:
    return {
        ("busybox", "1.29.2"): images.busybox_v1,
        ("busybox", "latest"): images.busybox_v2,
        ("hello", "latest"): images.hello,
    }[(name, tag)]


def pull_and_compare(clients: Clients, server: RegistryServer, images: SeedImages, dest: Path) -> None:
    """Pull every seed image from ``server`` (all platforms) into an OCI layout; every manifest, config and
    layer must be byte-identical to what was pushed."""
    clients.mark_insecure(server.host)
    dest.mkdir(parents=True, exist_ok=True)
    for name, tag in SEED_REFS:
        image = seed_image(images, name, tag)
        ref = f"docker://{server.host}/{name}:{tag}"
        assert clients.inspect_raw(ref) == image.blob_path(image.digest).read_bytes(), ref
        layout = dest / f"{name}-{tag}"
        clients.copy(ref, f"oci:{layout}:{tag}", "--all")
        (descriptor,) = read_index(layout)["manifests"]
        assert descriptor["digest"] == image.digest, ref
        for digest in image.blob_digests():
            assert blob_path(layout, digest).read_bytes() == image.blob_path(digest).read_bytes(), (
                ref,
                digest,
            )


def api_view(server: RegistryServer) -> dict[str, object]:
    """What the read API says about the seed: catalog, tag lists, manifest digests and types."""
    view: dict[str, object] = {}
    catalog = requests.get(f"{server.url}/v2/_catalog", timeout=10)
    assert catalog.status_code == 200, catalog.text
    view["catalog"] = catalog.json()
    for name in ("busybox", "hello"):
        tags = requests.get(f"{server.url}/v2/{name}/tags/list", timeout=10)
        assert tags.status_code == 200, tags.text
        view[f"tags/{name}"] = {"name": tags.json()["name"], "tags": sorted(tags.json()["tags"])}
    for name, tag in SEED_REFS:
        head = requests.head(
            f"{server.url}/v2/{name}/manifests/{tag}",
            headers={
                "Accept": ",".join(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                    ]
                )
            },
            timeout=10,
        )
        assert head.status_code == 200, (name, tag, head.status_code)
        view[f"manifest/{name}:{tag}"] = (
            head.headers.get("Docker-Content-Digest"),
            head.headers.get("Content-Type"),
            head.headers.get("Content-Length"),
        )
    return view


def test_same_pushes_same_tree(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages
) -> None:
    reference = registry_factory("reference")
    dockyard = registry_factory("dockyard")
    push_seed(clients, reference, seed_images)
    push_seed(clients, dockyard, seed_images)

    expected = file_hashes(reference.v2)
    actual = file_hashes(dockyard.v2)
    assert len(expected) == 44
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differ = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
    assert (missing, extra, differ) == ([], [], [])
    # the directory skeletons match too (empty _uploads dirs included, their contents ignored)
    dirs = {
        kind: sorted(
            p.relative_to(server.v2).as_posix()
            for p in server.v2.rglob("*")
            if p.is_dir() and "_uploads/" not in p.relative_to(server.v2).as_posix()
        )
        for kind, server in (("reference", reference), ("dockyard", dockyard))
    }
    assert dirs["dockyard"] == dirs["reference"]
    assert api_view(dockyard) == api_view(reference)


@pytest.mark.parametrize(("writer", "reader"), [("dockyard", "reference"), ("reference", "dockyard")])
def test_serves_root_the_other_wrote(
    registry_factory: RegistryFactory,
    clients: Clients,
    seed_images: SeedImages,
    tmp_path: Path,
    writer: Kind,
    reader: Kind,
) -> None:
    root = tmp_path / "shared-root"
    first = registry_factory(writer, root=root)
    push_seed(clients, first, seed_images)
    view = api_view(first)
    first.stop()
    read_tree(first.v2)  # the writer left a well-formed tree

    second = registry_factory(reader, root=root)
    pull_and_compare(clients, second, seed_images, tmp_path / "pulled")
    assert api_view(second) == view

    # and the reader can add to it: a new tag on the same manifest, readable by the writer again
    raw = seed_images.busybox_v1.blob_path(seed_images.busybox_v1.digest).read_bytes()
    put = requests.put(
        f"{second.url}/v2/busybox/manifests/again",
        data=raw,
        headers={"Content-Type": seed_images.busybox_v1.media_type},
        timeout=10,
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == seed_images.busybox_v1.digest
    second.stop()
    first.start()
    got = requests.get(
        f"{first.url}/v2/busybox/manifests/again",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    assert got.status_code == 200
    assert got.content == raw


def mount_delete_gc(
    clients: Clients, server: RegistryServer, images: SeedImages
) -> dict[str, dict[str, str]]:
    """Seed pushes, then a copy inside the registry (skopeo mounts the blobs across repositories), a delete
    by tag (skopeo resolves it to the digest), and the reference's garbage-collect on the stopped tree.
    Returns the tree (path -> sha256) after each step."""
    push_seed(clients, server, images)
    host = server.host
    clients.copy(f"docker://{host}/busybox:1.29.2", f"docker://{host}/mirror/busybox:1.29.2")
    clients.copy(f"docker://{host}/hello:latest", f"docker://{host}/mirror/hello:latest", "--all")
    after_copy = file_hashes(server.v2)
    clients.skopeo("delete", "--tls-verify=false", f"docker://{host}/busybox:latest")
    after_delete = file_hashes(server.v2)
    server.stop()
    gc = subprocess.run(
        ["docker-registry", "garbage-collect", str(server.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gc.returncode == 0, gc.stdout + gc.stderr
    after_gc = file_hashes(server.v2)
    server.start()
    return {"copy": after_copy, "delete": after_delete, "gc": after_gc}


def test_mount_delete_gc_same_tree(
    registry_factory: RegistryFactory,
    clients_factory: Callable[[str], Clients],
    seed_images: SeedImages,
    tmp_path: Path,
) -> None:
    reference = registry_factory("reference")
    dockyard = registry_factory("dockyard")
    expected = mount_delete_gc(clients_factory("for-reference"), reference, seed_images)
    actual = mount_delete_gc(clients_factory("for-dockyard"), dockyard, seed_images)
    for step in ("copy", "delete", "gc"):
        missing = sorted(set(expected[step]) - set(actual[step]))
        extra = sorted(set(actual[step]) - set(expected[step]))
        differ = sorted(
            p for p in set(expected[step]) & set(actual[step]) if expected[step][p] != actual[step][p]
        )
        assert (step, missing, extra, differ) == (step, [], [], [])

    v1, v2 = seed_images.busybox_v1, seed_images.busybox_v2
    tree = read_tree(dockyard.v2, dangling_layer_links=True)
    # the mirror copies were mounted, not re-uploaded: same blobs, linked in the new repositories
    assert tree.repositories["mirror/busybox"].layers == v1.blob_digests() - {v1.digest}
    assert tree.repositories["mirror/hello"].tags == {"latest": seed_images.hello.digest}
    # busybox:latest's manifest is gone (tag and revision); its config and layer were collected
    assert tree.repositories["busybox"].tags == {"1.29.2": v1.digest}
    assert v2.digest not in tree.repositories["busybox"].revisions
    assert not (v2.blob_digests() & tree.blobs)

    # what is left still pulls, byte-identical, from dockyard after the reference's GC
    ref = f"docker://{dockyard.host}/mirror/hello:latest"
    clients = clients_factory("puller")
    clients.mark_insecure(dockyard.host)
    assert clients.inspect_raw(ref) == seed_images.hello.blob_path(seed_images.hello.digest).read_bytes()
    clients.copy(ref, f"oci:{tmp_path / 'pulled'}:latest", "--all")
    for digest in seed_images.hello.blob_digests():
        assert (
            blob_path(tmp_path / "pulled", digest).read_bytes()
            == seed_images.hello.blob_path(digest).read_bytes()
        )
