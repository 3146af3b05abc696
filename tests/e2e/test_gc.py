"""``dockyard garbage-collect`` against ``docker-registry garbage-collect`` on one tree built by real pushes.

The tree (pushed with skopeo to dockyard): busybox 1.29.2 (OCI), busybox latest re-pointed from v2 to v1
(v2 left untagged), the three-platform hello index (children untagged), a Docker schema2 conversion, a
repository whose manifest was deleted, a referrer of a tagged image and one of an untagged image. The tree
is copied; the reference collects one copy, dockyard the other.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api._http import Api, artifact
from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients
from tests.support.images import OciImage, blob_path, build_busybox, read_index
from tests.support.servers import base_config, free_port
from tests.support.tree import file_hashes


def _reference_gc(root: Path, *flags: str) -> str:
    config = root.parent / f"{root.name}.yml"
    config.write_text(yaml.safe_dump(base_config(root, free_port(), "s")))
    run = subprocess.run(
        ["docker-registry", "garbage-collect", *flags, str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _dockyard_gc(root: Path, *flags: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "dockyard", "garbage-collect", "--root", str(root), *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _tree(root: Path) -> dict[str, str]:
    """Files and folders under v2 (folders as ``/``), without dockyard's own ``_referrers`` index."""
    v2 = root / "docker" / "registry" / "v2"
    tree = {path: digest for path, digest in file_hashes(v2).items() if "/_referrers/" not in path}
    tree.update(
        {
            p.relative_to(v2).as_posix() + "/": ""
            for p in v2.rglob("*")
            if p.is_dir() and "_referrers" not in str(p)
        }
    )
    return tree


def _descriptor(image: OciImage) -> dict[str, Any]:
    size = len(image.blob_path(image.digest).read_bytes())
    return {"mediaType": image.media_type, "digest": image.digest, "size": size}


class Built:
    def __init__(self, root: Path, digests: dict[str, str], images: SeedImages) -> None:
        self.root = root
        self.digests = digests
        self.images = images

    def copy(self, tmp_path: Path, name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(self.root, target, symlinks=True)
        return target


@pytest.fixture
def built(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> Built:
    server = registry_factory("dockyard", root=tmp_path / "built")
    clients.mark_insecure(server.host)
    host = server.host
    v1, v2, hello = seed_images.busybox_v1, seed_images.busybox_v2, seed_images.hello
    clients.copy(v1.transport, f"docker://{host}/busybox:1.29.2")
    clients.copy(v2.transport, f"docker://{host}/busybox:latest")
    clients.copy(v1.transport, f"docker://{host}/busybox:latest")  # v2 stays as an untagged revision
    clients.copy(hello.transport, f"docker://{host}/hello:latest", "--all")
    clients.copy(v2.transport, f"docker://{host}/schema2/busybox:v2s2", "--format", "v2s2")
    clients.copy(v2.transport, f"docker://{host}/gone/busybox:x")
    clients.skopeo("delete", "--tls-verify=false", f"docker://{host}/gone/busybox:x")
    gone = build_busybox(tmp_path / "gone-layout", "gone")  # its blobs are garbage once it is deleted
    clients.copy(gone.transport, f"docker://{host}/gone/other:x")
    clients.skopeo("delete", "--tls-verify=false", f"docker://{host}/gone/other:x")
    api = Api(server.url)
    on_tagged = artifact(subject=_descriptor(v1))
    on_untagged = artifact(subject=_descriptor(v2))
    on_tagged.push(api, "busybox")
    on_untagged.push(api, "busybox")
    assert len(list((server.root / "dockyard" / "leases").iterdir())) == 1  # the running server's lease
    server.stop()
    assert not list((server.root / "dockyard" / "leases").iterdir())  # removed at a clean stop
    digests = {"on_tagged": on_tagged.digest, "on_untagged": on_untagged.digest}
    return Built(server.root, digests, seed_images)


def _summary(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if line)


def test_plain_gc_removes_what_the_reference_removes(built: Built, tmp_path: Path) -> None:
    for flags in (("--dry-run",), ()):
        reference = built.copy(tmp_path, f"reference{len(flags)}")
        dockyard = built.copy(tmp_path, f"dockyard{len(flags)}")
        before = _tree(reference)
        expected_out = _reference_gc(reference, *flags)
        actual_out = _dockyard_gc(dockyard, *flags)
        assert _summary(actual_out) == _summary(expected_out)
        assert (
            "3 blobs and 0 manifests eligible for deletion" in expected_out
        )  # the deleted image's manifest, config, layer
        after = _tree(reference)
        assert _tree(dockyard) == after
        if flags:
            assert after == before
        else:
            assert after != before  # the deleted manifest's own blobs went
    # the referrers index keeps both referrers: their subjects are revisions still
    index = dockyard / "docker/registry/v2/repositories/busybox/_referrers"
    links = sorted(p.read_text() for p in index.rglob("link"))
    assert links == sorted(built.digests.values())


def _revision(root: Path, repo: str, digest: str) -> Path:
    return (
        root / "docker/registry/v2/repositories" / repo / "_manifests/revisions/sha256" / digest.split(":")[1]
    )


def _blob(root: Path, digest: str) -> Path:
    hexdigest = digest.split(":")[1]
    return root / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest


def test_delete_untagged_differs_only_where_the_reference_is_wrong(
    built: Built, tmp_path: Path, registry_factory: RegistryFactory, clients: Clients
) -> None:
    reference = built.copy(tmp_path, "reference")
    dockyard = built.copy(tmp_path, "dockyard")
    expected_out = _reference_gc(reference, "--delete-untagged")
    actual_out = _dockyard_gc(dockyard, "--delete-untagged")
    expected, actual = _tree(reference), _tree(dockyard)
    assert set(expected) <= set(actual)  # dockyard removes a subset of what the reference removes
    assert all(actual[path] == digest for path, digest in expected.items())

    hello = built.images.hello
    children = [descriptor["digest"] for descriptor in hello.manifest()["manifests"]]
    kept_manifests = {("hello", child) for child in children} | {("busybox", built.digests["on_tagged"])}
    # what only dockyard keeps: the hello children (#3178) and the referrer of the tagged busybox,
    # each with its revision folder and the blobs nothing else references
    extra = set(actual) - set(expected)
    allowed: set[str] = set()
    for repo, digest in kept_manifests:
        revision = _revision(dockyard, repo, digest)
        assert revision.is_dir(), (repo, digest)
        assert not _revision(reference, repo, digest).exists()
        allowed.update(
            p.relative_to(dockyard / "docker/registry/v2").as_posix() + ("/" if p.is_dir() else "")
            for p in [revision, *revision.rglob("*")]
        )
    manifests = {built.digests["on_tagged"]: None, **{child: None for child in children}}
    for digest in manifests:
        document: dict[str, Any] = json.loads((_blob(dockyard, digest) / "data").read_bytes())
        for blob in [
            digest,
            document["config"]["digest"],
            *(layer["digest"] for layer in document["layers"]),
        ]:
            path = _blob(dockyard, blob)
            if not _blob(reference, blob).exists():
                allowed.update(
                    p.relative_to(dockyard / "docker/registry/v2").as_posix() + ("/" if p.is_dir() else "")
                    for p in [path, *path.rglob("*"), path.parent]
                )
    assert extra <= allowed
    assert extra, "the reference deleted the hello children, dockyard did not"
    # the referrer of the untagged busybox went with its subject, and left the referrers index
    assert not _revision(dockyard, "busybox", built.digests["on_untagged"]).exists()
    index = dockyard / "docker/registry/v2/repositories/busybox/_referrers"
    assert sorted(p.read_text() for p in index.rglob("link")) == [built.digests["on_tagged"]]
    summary = next(line for line in actual_out.splitlines() if "blobs marked" in line)
    assert summary != next(line for line in expected_out.splitlines() if "blobs marked" in line)

    # every tagged image still pulls fully from the dockyard-collected tree, served by dockyard
    server = registry_factory("dockyard", root=dockyard)
    clients.mark_insecure(server.host)
    images = built.images
    (tmp_path / "pulled").mkdir()
    for ref, image in (
        ("busybox:1.29.2", images.busybox_v1),
        ("busybox:latest", images.busybox_v1),
        ("hello:latest", images.hello),
    ):
        layout = tmp_path / "pulled" / ref.replace(":", "-")
        clients.copy(f"docker://{server.host}/{ref}", f"oci:{layout}:x", "--all")
        (descriptor,) = read_index(layout)["manifests"]
        assert descriptor["digest"] == image.digest
        for digest in image.blob_digests():
            assert blob_path(layout, digest).read_bytes() == image.blob_path(digest).read_bytes()
    clients.copy(f"docker://{server.host}/schema2/busybox:v2s2", f"oci:{tmp_path / 'pulled' / 's2'}:x")
