"""Garbage collection on S3 (SeaweedFS): ``dockyard garbage-collect`` and ``docker-registry garbage-collect``
with its s3 driver, each on its own copy of one root in the bucket, leave the same objects; every tagged
image still pulls with skopeo from the collected root, served by dockyard and by the reference.

The content, pushed by skopeo to dockyard on S3: busybox v1 as ``1.29.2`` and ``latest``, v2 pushed as
``latest`` first (so left untagged when ``latest`` moved on), and a repository whose manifest was deleted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from tests.e2e.conftest import S3RegistryFactory, SeedImages
from tests.support.clients import Clients
from tests.support.seaweed import BUCKET, SeaweedServer
from tests.support.servers import RegistryServer


def _objects(seaweedfs: SeaweedServer, root: str) -> dict[str, str]:
    """Every object under the root's ``docker/registry/v2``, relative, with its ETag (its content)."""
    client = seaweedfs.client()
    prefix = f"{root.strip('/')}/docker/registry/v2/"
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if "/_referrers/" not in relative:
                found[relative] = item["ETag"]
    return found


def _copy_root(seaweedfs: SeaweedServer, source: str, target: str) -> None:
    client = seaweedfs.client()
    for key in seaweedfs.keys(source.strip("/") + "/"):
        destination = target.strip("/") + key[len(source.strip("/")) :]
        client.copy_object(Bucket=BUCKET, Key=destination, CopySource={"Bucket": BUCKET, "Key": key})


def _collect(server: RegistryServer, *flags: str) -> str:
    if server.kind == "dockyard":
        command = [sys.executable, "-m", "dockyard", "garbage-collect", *flags, str(server.config_path)]
    else:
        command = ["docker-registry", "garbage-collect", *flags, str(server.config_path)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _summary(output: str) -> str:
    return next(line for line in output.splitlines() if "blobs marked" in line)


def test_gc_on_s3_removes_what_the_reference_removes(
    s3_registry_factory: S3RegistryFactory,
    seaweedfs: SeaweedServer,
    seed_images: SeedImages,
    clients: Clients,
    tmp_path: Path,
) -> None:
    built = seaweedfs.make_root("gc-built")
    pusher = s3_registry_factory("dockyard", built)
    clients.mark_insecure(pusher.host)
    v1, v2 = seed_images.busybox_v1, seed_images.busybox_v2
    host = pusher.host
    clients.copy(v2.transport, f"docker://{host}/busybox:latest")
    clients.copy(v1.transport, f"docker://{host}/busybox:latest")  # v2 stays, untagged
    clients.copy(v1.transport, f"docker://{host}/busybox:1.29.2")
    clients.copy(v2.transport, f"docker://{host}/gone/busybox:x")
    clients.skopeo("delete", "--tls-verify=false", f"docker://{host}/gone/busybox:x")
    pusher.stop()  # no server holds a lease: both collectors give the reference's result at once

    servers = {}
    for kind in ("reference", "dockyard"):
        root = seaweedfs.make_root(f"gc-{kind}")
        _copy_root(seaweedfs, built, root)
        servers[kind] = s3_registry_factory(kind, root, start=False)
    roots = {kind: server.config["storage"]["s3"]["rootdirectory"] for kind, server in servers.items()}
    before = _objects(seaweedfs, roots["dockyard"])
    assert before == _objects(seaweedfs, roots["reference"])

    for flags in ((), ("--delete-untagged",)):
        expected = _collect(servers["reference"], *flags)
        actual = _collect(servers["dockyard"], *flags)
        assert _summary(actual) == _summary(expected)
        assert _objects(seaweedfs, roots["dockyard"]) == _objects(seaweedfs, roots["reference"])
    after = _objects(seaweedfs, roots["dockyard"])
    assert set(after) < set(before)
    assert not any(key.startswith("repositories/gone/busybox/_manifests/revisions/") for key in after)
    untagged = f"repositories/busybox/_manifests/revisions/sha256/{v2.digest.split(':')[1]}/link"
    assert untagged in before and untagged not in after

    for kind, server in servers.items():
        server.start()
        clients.mark_insecure(server.host)
        for tag in ("1.29.2", "latest"):
            clients.copy(f"docker://{server.host}/busybox:{tag}", f"oci:{tmp_path / kind}:{tag}")
        gone = requests.get(f"{server.url}/v2/busybox/manifests/{v2.digest}", timeout=10)
        assert gone.status_code == 404, kind
