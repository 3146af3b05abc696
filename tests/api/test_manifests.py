"""Manifest pushes, pulls and deletes beyond the conformance suite: every manifest type by tag and by
digest, content negotiation, validation errors (with nothing written) and tag/digest deletion."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ._http import (
    DOCKER_LIST,
    EMPTY_JSON,
    EXAMPLE_TYPE_1,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Api,
    Image,
    artifact,
    assert_error,
    assert_nothing_written,
    assert_status,
    describe,
    digest_of,
    docker_image,
    dumps,
    location_path,
    oci_image,
    oci_index,
    snapshot,
)

BUILDERS: dict[str, Callable[[], Image]] = {
    "oci-manifest": lambda: oci_image(layers=2),
    "oci-index": lambda: oci_index([oci_image(), oci_image()]),
    "docker-manifest": lambda: docker_image(layers=2),
    "docker-list": lambda: oci_index([docker_image(), docker_image()], media_type=DOCKER_LIST),
    "artifact": lambda: artifact(artifact_type=EXAMPLE_TYPE_1),
    "artifact-empty-config-no-artifact-type": lambda: oci_image(
        config=EMPTY_JSON, config_type=OCI_EMPTY, layer_blobs=[os.urandom(64)], layer_type=EXAMPLE_TYPE_1
    ),
    "artifact-typed-config": lambda: oci_image(config=b'{"x":1}', config_type=EXAMPLE_TYPE_1,
                                               layer_blobs=[os.urandom(64)], layer_type=OCTET_TYPE),
}  # fmt: skip
OCTET_TYPE = "application/octet-stream"


def push_parts(api: Api, repo: str, image: Image) -> None:
    """Push an image's blobs and children (not the image itself)."""
    for child in image.children:
        child.push(api, repo)
    for data in image.blobs.values():
        api.push_blob(repo, data)


@pytest.mark.parametrize("by", ["tag", "digest"])
@pytest.mark.parametrize("kind", list(BUILDERS))
def test_manifest_put_and_get(api: Api, repo: str, kind: str, by: str) -> None:
    """PUT of each manifest type by tag and by digest answers 201 with the manifest's Location and
    Docker-Content-Digest; GET and HEAD (Accept: that type) answer 200 with Content-Type the manifest's
    media type, Docker-Content-Digest, an ETag and (GET) the exact bytes."""
    image = BUILDERS[kind]()
    push_parts(api, repo, image)
    ref = "v1" if by == "tag" else image.digest
    resp = assert_status(api.put_manifest(repo, ref, image.manifest, image.media_type), 201)
    assert location_path(resp) == f"/v2/{repo}/manifests/{image.digest}", describe(resp)
    assert resp.headers.get("Docker-Content-Digest") == image.digest, describe(resp)
    for method in ("GET", "HEAD"):
        got = assert_status(
            api.request(method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": image.media_type}), 200
        )
        assert got.headers.get("Content-Type") == image.media_type, describe(got)
        assert got.headers.get("Docker-Content-Digest") == image.digest, describe(got)
        assert image.digest in got.headers.get("ETag", ""), describe(got)
        assert got.headers.get("Content-Length") == str(len(image.manifest)), describe(got)
        assert got.content == (image.manifest if method == "GET" else b"")


def test_manifest_get_with_several_accepted_types(api: Api, repo: str) -> None:
    """With an Accept header naming several types (and q-values), the stored type is served as is."""
    image = oci_index([oci_image()])
    image.push(api, repo, "multi")
    accept = f"{OCI_MANIFEST};q=0.5, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json;q=0.9"
    got = assert_status(api.get(f"/v2/{repo}/manifests/multi", headers={"Accept": accept}), 200)
    assert got.headers.get("Content-Type") == OCI_INDEX and got.content == image.manifest


def test_manifest_put_by_mismatching_digest(api: Api, repo: str, root: Path) -> None:
    """PUT at a digest the body does not hash to: 400 DIGEST_INVALID, nothing written."""
    image = oci_image()
    push_parts(api, repo, image)
    before = snapshot(root)
    wrong = digest_of(image.manifest + b" ")
    assert_error(api.put_manifest(repo, wrong, image.manifest), 400, "DIGEST_INVALID")
    assert_nothing_written(root, before)
    assert_status(api.get_manifest(repo, image.digest), 404)


@pytest.mark.parametrize("missing", ["config", "layer"])
def test_manifest_naming_a_missing_blob(api: Api, repo: str, root: Path, missing: str) -> None:
    """A manifest whose config or layer was never pushed: 400 MANIFEST_BLOB_UNKNOWN, nothing written."""
    image = oci_image(layers=1)
    doc = image.doc
    skip = doc["config"]["digest"] if missing == "config" else doc["layers"][0]["digest"]
    for digest, data in image.blobs.items():
        if digest != skip:
            api.push_blob(repo, data)
    before = snapshot(root)
    assert_error(api.put_manifest(repo, "v1", image.manifest), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_nothing_written(root, before)


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_naming_a_missing_child_manifest(api: Api, repo: str, root: Path, media_type: str) -> None:
    """An index (or manifest list) naming a manifest never pushed: 400 MANIFEST_BLOB_UNKNOWN, nothing
    written."""
    present, absent = oci_image(), oci_image()
    present.push(api, repo)
    for data in absent.blobs.values():
        api.push_blob(repo, data)
    index = oci_index([present, absent], media_type=media_type)
    before = snapshot(root)
    assert_error(api.put_manifest(repo, "v1", index.manifest, media_type), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_nothing_written(root, before)


@pytest.mark.parametrize(
    "body",
    [b"blablabla", b"{", b"[]", b'{"schemaVersion": 2, "mediaType": 5}'],
    ids=["text", "cut", "list", "type"],
)
def test_invalid_manifest_json(api: Api, repo: str, root: Path, body: bytes) -> None:
    """A body that is not a manifest: 400 MANIFEST_INVALID, nothing written."""
    api.push_blob(repo, os.urandom(8))
    before = snapshot(root)
    assert_error(api.put_manifest(repo, "v1", body), 400, "MANIFEST_INVALID")
    assert_nothing_written(root, before)


def test_manifest_over_4_mib_is_refused(api: Api, repo: str, root: Path) -> None:
    """A manifest over 4 MiB: a 4xx (413 preferred) with a JSON error body, never a 5xx; nothing
    written."""
    image = oci_image(layers=1, annotations={f"a{i}": "B" * 65_536 for i in range(66)})
    assert len(image.manifest) > 4 * 1024 * 1024
    push_parts(api, repo, image)
    before = snapshot(root)
    resp = api.put_manifest(repo, "big", image.manifest)
    assert_error(resp, range(400, 500), "SIZE_INVALID", "MANIFEST_INVALID", "UNSUPPORTED", "TOOMANYREQUESTS",
                 "DENIED")  # fmt: skip
    assert_nothing_written(root, before)


def test_manifest_of_4_mib_is_accepted(api: Api, repo: str) -> None:
    """A manifest just under 4 MiB is accepted (registries must take manifests up to 4 MiB)."""
    image = oci_image(layers=1, annotations={f"a{i}": "B" * 65_536 for i in range(63)})
    assert 4 * 1024 * 1024 - 100_000 < len(image.manifest) <= 4 * 1024 * 1024
    image.push(api, repo, "big")
    assert api.get_manifest(repo, "big").content == image.manifest


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_manifest_answers_404(api: Api, repo: str, method: str) -> None:
    """GET/HEAD of an unknown tag or digest: 404 (GET with MANIFEST_UNKNOWN)."""
    oci_image().push(api, repo, "known")
    for ref in ("unknown", digest_of(os.urandom(8))):
        resp = api.request(method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        if method == "GET":
            assert_error(resp, 404, "MANIFEST_UNKNOWN")
        else:
            assert_status(resp, 404)


def test_delete_by_digest_untags_every_tag(api: Api, repo: str) -> None:
    """DELETE by digest answers 202 and removes every tag pointing at the manifest (other tags stay)."""
    image, other = oci_image(), oci_image()
    for tag in ("t1", "t2", "t3"):
        image.push(api, repo, tag)
    other.push(api, repo, "keep")
    assert_status(api.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    assert api.tag_list(repo) == ["keep"]
    for ref in ("t1", "t2", "t3", image.digest):
        assert_error(api.get_manifest(repo, ref), 404, "MANIFEST_UNKNOWN")
    assert_status(api.get_manifest(repo, "keep"), 200)


@pytest.mark.reference_bug("DELETE /manifests/<tag> answers 400 DIGEST_INVALID")
def test_delete_by_tag_removes_just_the_tag(api: Api, repo: str) -> None:
    """DELETE by tag answers 202 and removes only that tag: the other tag and the manifest by digest
    are still served."""
    image = oci_image()
    image.push(api, repo, "a")
    image.push(api, repo, "b")
    assert_status(api.delete(f"/v2/{repo}/manifests/a"), 202)
    assert_error(api.get_manifest(repo, "a"), 404, "MANIFEST_UNKNOWN")
    assert_status(api.get_manifest(repo, "b"), 200)
    assert_status(api.get_manifest(repo, image.digest), 200)
    assert api.tag_list(repo) == ["b"]


def test_delete_of_unknown_manifest(api: Api, repo: str) -> None:
    """DELETE of an unknown digest: 404 MANIFEST_UNKNOWN."""
    oci_image().push(api, repo, "x")
    assert_error(api.delete(f"/v2/{repo}/manifests/{digest_of(os.urandom(8))}"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.reference_bug("no OCI-Subject header")
@pytest.mark.parametrize("subject_pushed", [True, False], ids=["subject-present", "subject-absent"])
def test_oci_subject_header_on_put_with_subject(api: Api, repo: str, subject_pushed: bool) -> None:
    """PUT of a manifest with a ``subject`` (pushed or not) answers 201 with ``OCI-Subject: <subject
    digest>``; a manifest without one gets no such header."""
    subject = oci_image()
    resp = subject.push(api, repo, "subject") if subject_pushed else None
    if resp is not None:
        assert "OCI-Subject" not in resp.headers, describe(resp)
    ref = artifact(subject=subject)
    resp = ref.push(api, repo)
    assert resp.headers.get("OCI-Subject") == subject.digest, describe(resp)


def test_manifest_put_keeps_the_exact_bytes(api: Api, repo: str) -> None:
    """The stored manifest is byte-for-byte what was pushed (whitespace and key order kept)."""
    image = oci_image()
    body = b"  " + dumps(image.doc).replace(b",", b" ,\n ") + b"\n"
    for data in image.blobs.values():
        api.push_blob(repo, data)
    assert_status(api.put_manifest(repo, "ws", body), 201)
    got = assert_status(api.get_manifest(repo, "ws"), 200)
    assert got.content == body and got.headers.get("Docker-Content-Digest") == digest_of(body)


def test_empty_bodies_in_a_row_each_get_an_answer(api: Api, repo: str) -> None:
    """aiohttp shares one reader between every request without a body; a body loop that trusted it spun for
    ever (and grew without bound) from the second empty request on."""
    for content_type in (OCI_MANIFEST, OCI_INDEX, "application/x-unknown", OCI_MANIFEST):
        headers = {"Content-Type": content_type}
        resp = api.put(f"/v2/{repo}/manifests/empty", data=b"", headers=headers, timeout=30)
        assert_error(resp, 400, "MANIFEST_INVALID")
