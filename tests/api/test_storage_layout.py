"""What a push leaves on disk: the reference's storage layout, link files holding bare digests, and a
tree the reference ``docker-registry`` can still serve (whatever extra folders, e.g. for referrers, the
server keeps beside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer

from ._http import Api, artifact, assert_status, oci_image, oci_index

DIGEST_BYTES = re.compile(rb"sha256:[0-9a-f]{64}")


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def read_link(path: Path) -> str:
    assert path.is_file(), f"missing link {path}"
    data = path.read_bytes()
    assert DIGEST_BYTES.fullmatch(data), f"{path} holds {data!r}, not a bare digest without newline"
    return data.decode()


def test_layout_after_push(registry: RegistryServer) -> None:
    """After pushing an image at a tag: each blob's bytes at ``blobs/sha256/<2 hex>/<hex>/data``; the
    repository links each layer/config (``_layers``), the manifest revision (``_manifests/revisions``) and
    the tag (``tags/<tag>/current/link`` and ``tags/<tag>/index/sha256/<hex>/link``); every link file holds
    the bare digest, no newline."""
    api = Api(registry.url)
    image = oci_image(layers=2)
    image.push(api, "lib/app", "v1")
    v2 = registry.v2
    for digest, data in image.blobs.items() | {image.digest: image.manifest}.items():
        blob = v2 / "blobs" / "sha256" / hex_of(digest)[:2] / hex_of(digest) / "data"
        assert blob.read_bytes() == data, f"{blob} does not hold {digest}"
    repo = v2 / "repositories" / "lib" / "app"
    for digest in image.blobs:
        assert read_link(repo / "_layers" / "sha256" / hex_of(digest) / "link") == digest
    assert (
        read_link(repo / "_manifests" / "revisions" / "sha256" / hex_of(image.digest) / "link")
        == image.digest
    )
    tag = repo / "_manifests" / "tags" / "v1"
    assert read_link(tag / "current" / "link") == image.digest
    assert read_link(tag / "index" / "sha256" / hex_of(image.digest) / "link") == image.digest
    for link in repo.rglob("link"):
        read_link(link)


def test_retag_keeps_index_of_both_revisions(registry: RegistryServer) -> None:
    """Moving a tag to a new manifest updates ``current/link`` and keeps both revisions in the tag's
    ``index``."""
    api = Api(registry.url)
    first, second = oci_image(), oci_image()
    first.push(api, "lib/app", "v1")
    second.push(api, "lib/app", "v1")
    tag = registry.v2 / "repositories" / "lib" / "app" / "_manifests" / "tags" / "v1"
    assert read_link(tag / "current" / "link") == second.digest
    for image in (first, second):
        assert read_link(tag / "index" / "sha256" / hex_of(image.digest) / "link") == image.digest


@pytest.mark.reference_bug("DELETE /manifests/<tag> answers 400 DIGEST_INVALID")
def test_delete_by_tag_removes_the_tag_folder(registry: RegistryServer) -> None:
    """After DELETE of a tag, its folder ``_manifests/tags/<tag>`` is gone; the revision stays."""
    api = Api(registry.url)
    image = oci_image()
    image.push(api, "lib/app", "v1")
    image.push(api, "lib/app", "v2")
    assert_status(api.delete("/v2/lib/app/manifests/v1"), 202)
    manifests = registry.v2 / "repositories" / "lib" / "app" / "_manifests"
    assert not (manifests / "tags" / "v1").exists()
    assert (manifests / "tags" / "v2" / "current" / "link").is_file()
    assert read_link(manifests / "revisions" / "sha256" / hex_of(image.digest) / "link") == image.digest


def test_reference_serves_the_tree(registry: RegistryServer, registry_factory: RegistryFactory) -> None:
    """A tree holding images, an index and referrers (whose bookkeeping lives wherever the server keeps
    it) is served by the reference ``docker-registry`` started on the same root: tags, manifests by tag
    and digest, blobs and the catalog."""
    api = Api(registry.url)
    image = oci_image(layers=2)
    image.push(api, "lib/app", "v1")
    index = oci_index([oci_image(), oci_image()])
    index.push(api, "lib/app", "multi")
    signature = artifact(subject=image)
    signature.push(api, "lib/app", "sig")
    registry.stop()
    reference = registry_factory("reference", root=registry.root)
    ref = Api(reference.url)
    assert_status(ref.get("/v2/"), 200)
    assert set(ref.tag_list("lib/app")) == {"v1", "multi", "sig"}
    for tag, pushed in (("v1", image), ("multi", index), ("sig", signature)):
        got = assert_status(ref.get_manifest("lib/app", tag), 200)
        assert got.content == pushed.manifest
        assert assert_status(ref.get_manifest("lib/app", pushed.digest), 200).content == pushed.manifest
    for digest, data in image.blobs.items():
        assert assert_status(ref.get(f"/v2/lib/app/blobs/{digest}"), 200).content == data
    assert "lib/app" in assert_status(ref.get("/v2/_catalog"), 200).json()["repositories"]
