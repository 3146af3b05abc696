"""The seed scenario (shared/seeds/000): two busybox tags and a multi-platform hello pushed by a real
client, and the storage tree they leave behind, checked file by file."""

from __future__ import annotations

import json

from tests.e2e.conftest import SeedImages, push_seed
from tests.support.clients import Clients
from tests.support.images import HELLO_PLATFORMS, OCI_INDEX, blob_path, image_config
from tests.support.servers import RegistryServer
from tests.support.tree import read_tree


def test_seed_tree_shape(registry: RegistryServer, clients: Clients, seed_images: SeedImages) -> None:
    push_seed(clients, registry, seed_images)
    tree = read_tree(registry.v2)

    v1, v2, hello = seed_images.busybox_v1, seed_images.busybox_v2, seed_images.hello
    assert set(tree.repositories) == {"busybox", "hello"}
    # Exactly the blobs that were pushed: 2 manifests + 2 configs + 2 layers for busybox; the index,
    # 3 manifests, 3 configs and 6 layers for hello — 19 in all, as in the seed.
    expected_blobs = v1.blob_digests() | v2.blob_digests() | hello.blob_digests()
    assert len(expected_blobs) == 19
    assert tree.blobs == expected_blobs

    busybox = tree.repositories["busybox"]
    assert busybox.revisions == {v1.digest, v2.digest}
    assert busybox.tags == {"1.29.2": v1.digest, "latest": v2.digest}
    assert busybox.tag_index == {"1.29.2": {v1.digest}, "latest": {v2.digest}}
    # _layers links every config and layer, never a manifest
    assert busybox.layers == (v1.blob_digests() | v2.blob_digests()) - {v1.digest, v2.digest}
    assert len(busybox.layers) == 4
    assert busybox.has_uploads_dir

    repo = tree.repositories["hello"]
    children = {d["digest"] for d in hello.manifest()["manifests"]}
    assert len(children) == 3
    assert repo.revisions == {hello.digest} | children
    assert repo.tags == {"latest": hello.digest}
    assert repo.tag_index == {"latest": {hello.digest}}
    assert repo.layers == hello.blob_digests() - repo.revisions
    assert len(repo.layers) == 9
    assert repo.has_uploads_dir

    # 19 data files + busybox 4 layer links + 2 revisions + 2x2 tag links + hello 9 + 4 + 2 = 44 files
    files = [p for p in registry.v2.rglob("*") if p.is_file()]
    assert len(files) == 44, sorted(str(p.relative_to(registry.v2)) for p in files)
    # the upload scratch directories are left empty once every upload completed
    for name in ("busybox", "hello"):
        assert list((registry.v2 / "repositories" / name / "_uploads").iterdir()) == []

    # manifests are stored byte for byte as pushed
    for digest in repo.revisions | busybox.revisions:
        stored = (registry.v2 / "blobs/sha256" / digest[7:9] / digest[7:] / "data").read_bytes()
        assert stored == blob_path(seed_images.layout, digest).read_bytes()


def test_seed_pull_back_every_platform(
    registry: RegistryServer, clients: Clients, seed_images: SeedImages
) -> None:
    push_seed(clients, registry, seed_images)
    hello = seed_images.hello
    ref = f"docker://{registry.host}/hello:latest"

    raw = clients.inspect_raw(ref)
    assert raw == hello.blob_path(hello.digest).read_bytes()
    assert json.loads(raw)["mediaType"] == OCI_INDEX

    for platform in HELLO_PLATFORMS:
        (child,) = [d for d, p in hello.platforms.items() if p == platform]
        config = clients.inspect_config(ref, *platform.skopeo_overrides())
        assert (config["os"], config["architecture"], config.get("variant")) == (
            platform.os,
            platform.architecture,
            platform.variant,
        )
        assert config == image_config(hello.layout, child)

        dest = clients.workdir / f"pulled-{platform.architecture}{platform.variant or ''}"
        clients.copy(ref, f"oci:{dest}:pulled", *platform.skopeo_overrides())
        index = json.loads((dest / "index.json").read_text())
        (descriptor,) = index["manifests"]
        assert descriptor["digest"] == child
        for digest in hello.read_json(child)["layers"] + [hello.read_json(child)["config"]]:
            d = digest["digest"]
            pulled = dest / "blobs/sha256" / d.split(":")[1]
            assert pulled.read_bytes() == hello.blob_path(d).read_bytes()

    for image, tag in ((seed_images.busybox_v1, "1.29.2"), (seed_images.busybox_v2, "latest")):
        assert (
            clients.inspect_raw(f"docker://{registry.host}/busybox:{tag}")
            == image.blob_path(image.digest).read_bytes()
        )
