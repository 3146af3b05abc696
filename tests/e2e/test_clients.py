"""Round trips with the real clients: a Docker schema2 image (skopeo --format v2s2), podman push/pull,
and a large single-layer image."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients
from tests.support.images import OciImage, busybox_files, image_config, read_index, sha256_file
from tests.support.servers import RegistryServer
from tests.support.tree import read_tree

DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_docker_schema2_round_trip(
    registry: RegistryServer, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> None:
    clients.mark_insecure(registry.host)
    source = seed_images.busybox_v1
    ref = f"docker://{registry.host}/schema2/busybox:v1"
    clients.copy(source.transport, ref, "--format", "v2s2")

    raw = clients.inspect_raw(ref)
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_V2S2
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER]
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()

    # stored byte for byte, tag -> that revision
    tree = read_tree(registry.v2)
    repo = tree.repositories["schema2/busybox"]
    assert repo.tags == {"v1": digest}
    assert repo.revisions == {digest}
    assert repo.layers == {manifest["config"]["digest"], manifest["layers"][0]["digest"]}

    # pulled back as it is (dir: keeps the manifest bytes), by tag and by digest
    for pulled, src in (
        (tmp_path / "by-tag", ref),
        (tmp_path / "by-digest", ref.replace(":v1", f"@{digest}")),
    ):
        clients.copy(src, f"dir:{pulled}")
        assert (pulled / "manifest.json").read_bytes() == raw
        config = json.loads((pulled / manifest["config"]["digest"].split(":")[1]).read_bytes())
        # the conversion kept what the image is: platform and root filesystem
        original = image_config(source.layout, source.digest)
        assert (config["os"], config["architecture"]) == (original["os"], original["architecture"])
        assert config["rootfs"]["diff_ids"] == original["rootfs"]["diff_ids"]


def test_docker_manifest_list_round_trip(
    registry: RegistryServer, clients: Clients, seed_images: SeedImages
) -> None:
    """The multi-platform hello converted to a Docker manifest list (skopeo --all --format v2s2)."""
    clients.mark_insecure(registry.host)
    ref = f"docker://{registry.host}/schema2/hello:latest"
    clients.copy(seed_images.hello.transport, ref, "--all", "--format", "v2s2")
    raw = clients.inspect_raw(ref)
    listing = json.loads(raw)
    assert listing["mediaType"] == DOCKER_LIST
    platforms = {
        (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))
        for m in listing["manifests"]
    }
    assert platforms == {("linux", "amd64", None), ("linux", "arm64", None), ("linux", "arm", "v7")}
    for child in listing["manifests"]:
        child_raw = clients.inspect_raw(ref.replace(":latest", f"@{child['digest']}"))
        assert "sha256:" + hashlib.sha256(child_raw).hexdigest() == child["digest"]
        assert json.loads(child_raw)["mediaType"] == DOCKER_V2S2
    repo = read_tree(registry.v2).repositories["schema2/hello"]
    assert repo.revisions == {"sha256:" + hashlib.sha256(raw).hexdigest()} | {
        m["digest"] for m in listing["manifests"]
    }


def image_file(clients: Clients, image: str, path: str) -> bytes:
    """A file's bytes from an image in podman's (vfs) storage, read through ``podman image mount``."""
    mountpoint = clients.podman("image", "mount", image).stdout.strip()
    try:
        return (Path(mountpoint) / path).read_bytes()
    finally:
        clients.podman("image", "unmount", image)


def test_podman_push_pull(
    registry: RegistryServer,
    clients_factory: Callable[[str], Clients],
    seed_images: SeedImages,
    tmp_path: Path,
) -> None:
    pusher = clients_factory("pusher")
    puller = clients_factory("puller")
    for side in (pusher, puller):
        side.mark_insecure(registry.host)
    source = seed_images.busybox_v2
    name = f"{registry.host}/podman/busybox:v2"

    pusher.podman("pull", source.transport)
    image_id = pusher.podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()
    assert len(image_id) == 1
    pusher.podman("tag", image_id[0], name)
    digestfile = tmp_path / "pushed.digest"
    pusher.podman("push", "--tls-verify=false", "--digestfile", str(digestfile), name)
    pushed = digestfile.read_text().strip()
    tree = read_tree(registry.v2)
    assert tree.repositories["podman/busybox"].tags == {"v2": pushed}

    # a fresh storage pulls it (podman's --tls-verify=false plus the registries.conf drop-in)
    puller.podman("pull", "--tls-verify=false", name)
    pulled = json.loads(puller.podman("image", "inspect", name).stdout)[0]
    assert pulled["Digest"] == pushed
    pushed_id = json.loads(pusher.podman("image", "inspect", name).stdout)[0]["Id"]
    assert pulled["Id"] == pushed_id  # the same config blob
    expected = {f.path: f.data for f in busybox_files("latest")}
    assert image_file(puller, name, "bin/busybox") == expected["bin/busybox"]
    assert image_file(puller, name, "etc/os-release") == expected["etc/os-release"]


def test_large_layer_round_trip(
    registry: RegistryServer, clients: Clients, large_image: OciImage, tmp_path: Path
) -> None:
    clients.mark_insecure(registry.host)
    ref = f"docker://{registry.host}/large/image:v1"
    clients.copy(large_image.transport, ref, timeout=900)
    manifest = large_image.manifest()
    (layer,) = manifest["layers"]
    stored = registry.v2 / "blobs/sha256" / layer["digest"][7:9] / layer["digest"][7:] / "data"
    assert stored.stat().st_size == layer["size"]
    assert "sha256:" + sha256_file(stored) == layer["digest"]

    dest = tmp_path / "pulled"
    clients.copy(ref, f"oci:{dest}:v1", timeout=900)
    (descriptor,) = read_index(dest)["manifests"]
    assert descriptor["digest"] == large_image.digest
    pulled = dest / "blobs/sha256" / layer["digest"][7:]
    assert pulled.stat().st_size == layer["size"]
    assert "sha256:" + sha256_file(pulled) == layer["digest"]
