"""The referrers API beyond the conformance suite. The reference 2.8.2 has no referrers API at all, so
every test here is a known reference failure."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ._http import (
    EXAMPLE_TYPE_1,
    EXAMPLE_TYPE_2,
    OCI_INDEX,
    OCI_MANIFEST,
    Api,
    Image,
    artifact,
    assert_status,
    describe,
    digest_of,
    oci_image,
    oci_index,
)

pytestmark = pytest.mark.reference_bug("no referrers API (404 page not found)")


def referrers(api: Api, repo: str, digest: str, **params: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    resp = assert_status(api.referrers(repo, digest, **params), 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
    doc = resp.json()
    assert doc.get("schemaVersion") == 2 and doc.get("mediaType") == OCI_INDEX, doc
    assert isinstance(doc.get("manifests"), list), doc
    return doc["manifests"], dict(resp.headers)


def by_digest(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["digest"]: e for e in entries}


def test_referrers_list_descriptors_with_artifact_type_and_annotations(api: Api, repo: str) -> None:
    """The referrers of a manifest are an OCI index of descriptors (mediaType, digest, size,
    artifactType, annotations) of the manifests whose subject it is — and only those."""
    subject = oci_image()
    subject.push(api, repo, "v1")
    refs: list[Image] = [
        artifact(artifact_type=EXAMPLE_TYPE_1, subject=subject, annotations={"k": "one"}),
        artifact(artifact_type=EXAMPLE_TYPE_2, subject=subject, annotations={"k": "two", "x": "y"}),
        oci_image(subject=subject),  # no artifactType: the config media type stands in
        oci_index([oci_image()], subject=subject, artifact_type=EXAMPLE_TYPE_1, annotations={"k": "idx"}),
    ]
    for ref in refs:
        ref.push(api, repo)
    artifact(subject=oci_image()).push(api, repo)  # refers to something else
    entries = by_digest(referrers(api, repo, subject.digest)[0])
    assert set(entries) == {r.digest for r in refs}, entries
    for ref in refs:
        entry = entries[ref.digest]
        doc = ref.doc
        assert entry["mediaType"] == ref.media_type and entry["size"] == len(ref.manifest), entry
        want_type = doc.get("artifactType") or doc.get("config", {}).get("mediaType")
        assert entry.get("artifactType") == want_type, entry
        assert (entry.get("annotations") or {}) == (doc.get("annotations") or {}), entry


def test_referrers_artifact_type_filter(api: Api, repo: str) -> None:
    """``?artifactType=`` keeps only referrers of that type and the answer says so with
    ``OCI-Filters-Applied: artifactType``; a type nobody has gives an empty list."""
    subject = oci_image()
    subject.push(api, repo)
    one = [artifact(artifact_type=EXAMPLE_TYPE_1, subject=subject) for _ in range(2)]
    two = artifact(artifact_type=EXAMPLE_TYPE_2, subject=subject)
    for ref in [*one, two]:
        ref.push(api, repo)
    entries, headers = referrers(api, repo, subject.digest, artifactType=EXAMPLE_TYPE_1)
    assert headers.get("OCI-Filters-Applied") == "artifactType", headers
    assert {e["digest"] for e in entries} == {r.digest for r in one}
    entries, headers = referrers(api, repo, subject.digest, artifactType="application/vnd.nobody")
    assert entries == [] and headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_empty_index_not_404(api: Api, repo: str) -> None:
    """A subject without referrers — pushed, or never pushed at all — gives 200 and an empty index."""
    subject = oci_image()
    subject.push(api, repo, "v1")
    assert referrers(api, repo, subject.digest)[0] == []
    assert referrers(api, repo, digest_of(os.urandom(8)))[0] == []


def test_referrers_of_a_subject_not_yet_pushed(api: Api, repo: str) -> None:
    """A referrer pushed before its subject is listed, before and after the subject arrives."""
    subject = oci_image()
    ref = artifact(subject=subject)
    ref.push(api, repo)
    assert [e["digest"] for e in referrers(api, repo, subject.digest)[0]] == [ref.digest]
    subject.push(api, repo)
    assert [e["digest"] for e in referrers(api, repo, subject.digest)[0]] == [ref.digest]


def test_deleting_a_referrer_removes_it_from_the_list(api: Api, repo: str) -> None:
    """DELETE of a referrer manifest removes it from its subject's referrers; the others stay."""
    subject = oci_image()
    subject.push(api, repo, "v1")
    keep, gone = artifact(subject=subject), artifact(subject=subject)
    keep.push(api, repo)
    gone.push(api, repo, "sig")
    assert {e["digest"] for e in referrers(api, repo, subject.digest)[0]} == {keep.digest, gone.digest}
    assert_status(api.delete(f"/v2/{repo}/manifests/{gone.digest}"), 202)
    assert [e["digest"] for e in referrers(api, repo, subject.digest)[0]] == [keep.digest]


def test_referrers_are_per_repository(api: Api, repo: str, repo2: str) -> None:
    """A referrer pushed to another repository is not listed for the same subject here."""
    subject = oci_image()
    subject.push(api, repo)
    subject.push(api, repo2)
    artifact(subject=subject).push(api, repo2)
    assert referrers(api, repo, subject.digest)[0] == []


def test_subject_in_manifest_list_descriptor_media_type(api: Api, repo: str) -> None:
    """The referrer descriptor's mediaType is the referrer's own (image manifest or index)."""
    subject = oci_image()
    subject.push(api, repo)
    ref = oci_index([oci_image()], subject=subject, artifact_type=EXAMPLE_TYPE_1)
    ref.push(api, repo)
    img = artifact(subject=subject)
    img.push(api, repo)
    entries = by_digest(referrers(api, repo, subject.digest)[0])
    assert entries[ref.digest]["mediaType"] == OCI_INDEX
    assert entries[img.digest]["mediaType"] == OCI_MANIFEST
