"""``dockyard fsck`` on a tree pushed by skopeo and damaged on purpose; after ``--repair`` the reference
registry serves everything that is left without an error."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages, push_seed
from tests.support.clients import Clients

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def fsck(root: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "dockyard", "fsck", "--root", str(root), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(run.stdout)
    return run.returncode, report


def blob_data(v2: Path, digest: str) -> Path:
    hexdigest = digest.split(":")[1]
    return v2 / "blobs/sha256" / hexdigest[:2] / hexdigest / "data"


def serves_everything(url: str) -> int:
    """Every repository, tag, manifest (children included) and blob answers 200 with the right digest;
    returns how many blobs were fetched."""
    fetched = 0
    catalog = requests.get(f"{url}/v2/_catalog", timeout=10)
    assert catalog.status_code == 200, catalog.text
    for name in catalog.json()["repositories"]:
        tags = requests.get(f"{url}/v2/{name}/tags/list", timeout=10)
        assert tags.status_code == 200, tags.text
        pending = list(tags.json()["tags"] or [])
        while pending:
            reference = pending.pop()
            manifest = requests.get(
                f"{url}/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT}, timeout=10
            )
            assert manifest.status_code == 200, (name, reference, manifest.text)
            document = manifest.json()
            pending += [child["digest"] for child in document.get("manifests", [])]
            for descriptor in [document.get("config"), *document.get("layers", [])]:
                if descriptor is None:
                    continue
                blob = requests.get(f"{url}/v2/{name}/blobs/{descriptor['digest']}", timeout=30)
                assert blob.status_code == 200, (name, descriptor, blob.status_code)
                assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == descriptor["digest"]
                fetched += 1
    return fetched


def test_fsck_finds_each_problem_and_repair_leaves_a_tree_the_reference_serves(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    server = registry_factory("dockyard", root=root)
    push_seed(clients, server, seed_images)
    server.stop()
    v2 = server.v2
    assert fsck(root) == (0, fsck(root)[1])
    assert [p["kind"] for p in fsck(root)[1]["problems"]] == []

    v1, v2_image, hello = seed_images.busybox_v1, seed_images.busybox_v2, seed_images.hello
    # a truncated layer of busybox:latest
    layer = v2_image.manifest()["layers"][0]["digest"]
    data = blob_data(v2, layer)
    data.write_bytes(data.read_bytes()[:100])
    # busybox:1.29.2's config is gone
    config = v1.manifest()["config"]["digest"]
    blob_data(v2, config).unlink()
    # an empty layer link in hello (the blob is fine: the link is written again)
    hello_child = hello.manifest()["manifests"][0]["digest"]
    hello_layer = hello.read_json(hello_child)["layers"][0]["digest"]
    empty_link = v2 / "repositories/hello/_layers/sha256" / hello_layer.split(":")[1] / "link"
    empty_link.write_bytes(b"")
    # a stray upload without startedat, and one abandoned long ago
    stray = v2 / "repositories/hello/_uploads/0b5a5e0e-0000-4000-8000-000000000001"
    stray.mkdir(parents=True)
    (stray / "data").write_bytes(b"half")
    old = v2 / "repositories/hello/_uploads/0b5a5e0e-0000-4000-8000-000000000002"
    old.mkdir(parents=True)
    (old / "data").write_bytes(b"")
    (old / "startedat").write_text("2000-01-01T00:00:00Z")

    code, report = fsck(root)
    assert code == 1
    kinds = {(p["kind"], p["path"].split("/v2/")[-1]) for p in report["problems"]}
    layer_path = str(data.relative_to(v2))
    assert ("corrupt-blob", layer_path) in kinds
    assert ("invalid-link", str(empty_link.relative_to(v2))) in kinds
    details = " ".join(p["detail"] for p in report["problems"])
    assert f"needs missing blob {config}" in details and f"needs missing blob {layer}" in details
    assert "tag busybox:1.29.2 points at" in details and "tag busybox:latest points at" in details
    assert sum(p["kind"] == "stale-upload" for p in report["problems"]) == 2
    assert data.exists() and stray.exists()  # without --repair nothing moves

    code, repaired = fsck(root, "--repair")
    assert code == 0
    quarantine = root / repaired["quarantine"]
    assert (quarantine / "docker/registry/v2" / layer_path).stat().st_size == 100  # moved, not deleted
    assert not stray.exists() and (quarantine / stray.relative_to(root)).is_dir()
    assert empty_link.read_text() == hello_layer  # written again: the blob is healthy
    assert fsck(root)[0] == 0
    assert [p["kind"] for p in fsck(root)[1]["problems"] if p["kind"] != "orphan-blob"] == []

    reference = registry_factory("reference", root=root)
    assert serves_everything(reference.url) > 0
    tags = requests.get(f"{reference.url}/v2/busybox/tags/list", timeout=10).json()["tags"]
    assert not tags  # both busybox tags named broken manifests: set aside
    hello_latest = requests.get(
        f"{reference.url}/v2/hello/manifests/latest", headers={"Accept": ACCEPT}, timeout=10
    )
    assert hello_latest.status_code == 200
