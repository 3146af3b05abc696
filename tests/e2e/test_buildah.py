"""buildah builds images from scratch (no base image to pull), then pushes a multi-platform manifest list
with ``buildah manifest push --all`` — the real-client equivalent of the seed's ``docker buildx --push``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.clients import Clients
from tests.support.images import Platform
from tests.support.servers import RegistryServer
from tests.support.tree import read_tree

PLATFORMS = (Platform("linux", "amd64"), Platform("linux", "arm64"), Platform("linux", "arm", "v7"))


def build_from_scratch(clients: Clients, platform: Platform, workdir: Path) -> str:
    """A one-file image for ``platform``; returns its image ID."""
    payload = workdir / f"hello-{platform.architecture}{platform.variant or ''}"
    payload.write_bytes(f"hello from {platform}\n".encode() * 100)
    container = clients.buildah("from", "--arch", platform.architecture, "scratch").stdout.strip()
    clients.buildah("copy", container, str(payload), "/hello")
    config = ["config", "--arch", platform.architecture, "--os", platform.os, "--cmd", "/hello"]
    if platform.variant:
        config += ["--variant", platform.variant]
    clients.buildah(*config, container)
    image_id = clients.buildah("commit", "--rm", container).stdout.strip().splitlines()[-1]
    return image_id


def test_buildah_manifest_push_all(registry: RegistryServer, clients: Clients, tmp_path: Path) -> None:
    clients.mark_insecure(registry.host)
    clients.buildah("manifest", "create", "hello-list")
    for platform in PLATFORMS:
        image_id = build_from_scratch(clients, platform, tmp_path)
        clients.buildah("manifest", "add", "hello-list", image_id)
    ref = f"docker://{registry.host}/buildah/hello:latest"
    digestfile = tmp_path / "digest"
    clients.buildah("manifest", "push", "--all", "--tls-verify=false", "--digestfile", str(digestfile),
                    "hello-list", ref)  # fmt: skip
    pushed = digestfile.read_text().strip()

    raw = clients.inspect_raw(ref)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed
    listing = json.loads(raw)
    children = {m["digest"]: m["platform"] for m in listing["manifests"]}
    assert len(children) == 3
    repo = read_tree(registry.v2).repositories["buildah/hello"]
    assert repo.tags == {"latest": pushed}
    assert repo.revisions == {pushed, *children}

    for platform in PLATFORMS:
        config = clients.inspect_config(ref, *platform.skopeo_overrides())
        assert (config["os"], config["architecture"], config.get("variant")) == (
            platform.os, platform.architecture, platform.variant,
        )  # fmt: skip
        dest = tmp_path / f"pulled-{platform.architecture}{platform.variant or ''}"
        clients.copy(ref, f"dir:{dest}", *platform.skopeo_overrides())
        manifest = json.loads((dest / "manifest.json").read_bytes())
        (layer,) = manifest["layers"]
        assert (dest / layer["digest"].split(":")[1]).stat().st_size == layer["size"]
