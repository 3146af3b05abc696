"""``dockyard fsck --repair`` on S3 (SeaweedFS), through the driver: a root pushed by skopeo and damaged on
purpose is repaired by moving objects aside; dockyard then serves all that is left, and the reference
registry's s3 driver the image that was repaired."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import S3RegistryFactory, SeedImages, push_seed
from tests.e2e.test_fsck import ACCEPT, serves_everything
from tests.support.clients import Clients
from tests.support.seaweed import BUCKET, SeaweedServer
from tests.support.servers import RegistryServer


def _fsck(server: RegistryServer, *flags: str) -> tuple[int, dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "dockyard", "fsck", str(server.config_path), "--json", *flags],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(run.stdout)
    return run.returncode, report


def test_fsck_repair_on_s3_moves_broken_objects_aside_and_the_rest_serves(
    s3_registry_factory: S3RegistryFactory,
    seaweedfs: SeaweedServer,
    seed_images: SeedImages,
    clients: Clients,
    tmp_path: Path,
) -> None:
    root = seaweedfs.make_root("fsck")
    server = s3_registry_factory("dockyard", root)
    push_seed(clients, server, seed_images)
    server.stop()
    assert _fsck(server)[0] == 0

    client = seaweedfs.client()
    v2 = f"{root.strip('/')}/docker/registry/v2"

    def data_key(digest: str) -> str:
        return f"{v2}/blobs/sha256/{digest[7:9]}/{digest[7:]}/data"

    v1, v2_image, hello = seed_images.busybox_v1, seed_images.busybox_v2, seed_images.hello
    layer = v2_image.manifest()["layers"][0]["digest"]  # truncated
    whole = client.get_object(Bucket=BUCKET, Key=data_key(layer))["Body"].read()
    client.put_object(Bucket=BUCKET, Key=data_key(layer), Body=whole[:100])
    client.delete_object(Bucket=BUCKET, Key=data_key(v1.manifest()["config"]["digest"]))  # gone
    hello_layer = hello.read_json(hello.manifest()["manifests"][0]["digest"])["layers"][0]["digest"]
    empty_link = f"{v2}/repositories/hello/_layers/sha256/{hello_layer[7:]}/link"
    client.put_object(Bucket=BUCKET, Key=empty_link, Body=b"")  # empty: written again from its folder
    stray = f"{v2}/repositories/hello/_uploads/0b5a5e0e-0000-4000-8000-000000000002"
    client.put_object(Bucket=BUCKET, Key=f"{stray}/data", Body=b"half")
    client.put_object(Bucket=BUCKET, Key=f"{stray}/startedat", Body=b"2000-01-01T00:00:00Z")

    code, report = _fsck(server)
    assert code == 1
    kinds = {problem["kind"] for problem in report["problems"]}
    assert {"corrupt-blob", "invalid-link", "stale-upload"} <= kinds
    assert sum("tag busybox:" in problem["detail"] for problem in report["problems"]) == 2

    code, repaired = _fsck(server, "--repair")
    assert code == 0, repaired
    quarantine = f"{root.strip('/')}/{repaired['quarantine']}"
    moved = seaweedfs.keys(quarantine + "/")
    assert f"{quarantine}/docker/registry/v2{data_key(layer)[len(v2) :]}" in moved  # moved, not deleted
    assert f"{quarantine}/docker/registry/v2{stray[len(v2) :]}/data" in moved
    assert not seaweedfs.keys(stray + "/")
    assert client.get_object(Bucket=BUCKET, Key=empty_link)["Body"].read() == hello_layer.encode()
    code, after = _fsck(server)
    assert code == 0 and [p for p in after["problems"] if p["kind"] != "orphan-blob"] == []

    assert not seaweedfs.keys(f"{v2}/repositories/busybox/_manifests/")  # both tags were broken: set aside
    served = s3_registry_factory("dockyard", root)
    assert serves_everything(served.url) > 0
    # The reference's s3 driver lists the folders SeaweedFS keeps after their objects went (the busybox
    # tags): what is left of hello, the image that was repaired, it pulls whole.
    reference = s3_registry_factory("reference", root)
    clients.mark_insecure(reference.host)
    clients.copy(f"docker://{reference.host}/hello:latest", f"oci:{tmp_path / 'hello'}:latest", "--all")
    digest = requests.head(
        f"{reference.url}/v2/hello/manifests/latest", headers={"Accept": ACCEPT}, timeout=10
    ).headers["Docker-Content-Digest"]
    assert digest == hello.digest
