"""The conformance suite's Content Discovery workflow (``03_discovery_test.go``): tag listing and the
referrers API, one test per spec, in the suite's order."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests

from tests.support.servers import RegistryServer

from . import _conformance as c
from ._http import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Api,
    assert_status,
    describe,
    digest_of,
)
from .test_conformance_pull import populate_blob

NAMESPACE = "conformance/discovery"


@dataclass
class State:
    data: c.ConformanceData
    tags: list[str] = field(default_factory=list)
    num_tags: int = 4


@pytest.fixture(scope="module")
def st(srv: RegistryServer) -> State:
    return State(c.build())


def tag_list(resp: requests.Response) -> list[str]:
    try:
        return list(resp.json().get("tags") or [])
    except ValueError:
        return []


def put_ok(api: Api, ref: str, blob: c.Blob, media_type: str = OCI_MANIFEST) -> requests.Response:
    resp = api.put_manifest(NAMESPACE, ref, blob.data, media_type)
    assert 200 <= resp.status_code < 300, describe(resp)
    return resp


def put_referrer(api: Api, blob: c.Blob, subject: str, media_type: str = OCI_MANIFEST) -> None:
    resp = put_ok(api, blob.digest, blob, media_type)
    assert resp.headers.get("OCI-Subject") == subject, f"OCI-Subject missing or wrong: {describe(resp)}"


def referrers_index(resp: requests.Response) -> dict[str, object]:
    assert_status(resp, 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
    doc = resp.json()
    assert isinstance(doc, dict) and isinstance(doc.get("manifests"), list), describe(resp)
    return doc


# -- Setup ---------------------------------------------------------------------------------------------
def test_setup_populate_registry_with_test_blob(api: Api, st: State) -> None:
    """Setup: Populate registry with test blob (config 2)."""
    populate_blob(api, NAMESPACE, st.data.configs[2])


def test_setup_populate_registry_with_test_layer(api: Api, st: State) -> None:
    """Setup: Populate registry with test layer."""
    populate_blob(api, NAMESPACE, st.data.layer)


def test_setup_populate_registry_with_test_tags(api: Api, st: State) -> None:
    """Setup: Populate registry with test tags (manifest 2 at test0..test3)."""
    for i in range(st.num_tags):
        put_ok(api, f"test{i}", st.data.manifests[2])
    st.tags = tag_list(api.tags(NAMESPACE))


@pytest.mark.reference_bug("no referrers support: PUT of a manifest with a subject has no OCI-Subject header")
def test_setup_references(api: Api, st: State) -> None:
    """Setup: References setup — the empty JSON blob, artifacts referring to manifest 4 pushed before and
    after manifest 4 itself (each answered with ``OCI-Subject: <manifest 4 digest>``), an artifact index
    with a subject, and an artifact whose subject (manifest 3) is never pushed."""
    d = st.data
    assert digest_of(EMPTY_JSON) == EMPTY_JSON_DIGEST
    populate_blob(api, NAMESPACE, c.Blob(EMPTY_JSON))
    populate_blob(api, NAMESPACE, d.ref_blob_a)
    subject4, subject3 = d.manifests[4].digest, d.manifests[3].digest
    put_referrer(api, d.refs["a_config"], subject4)
    put_referrer(api, d.refs["a_layer"], subject4)
    put_referrer(api, d.refs["index"], subject4, OCI_INDEX)
    populate_blob(api, NAMESPACE, d.configs[4])
    populate_blob(api, NAMESPACE, d.layer)
    put_ok(api, c.TEST_TAG, d.manifests[4])
    populate_blob(api, NAMESPACE, d.ref_blob_b)
    put_referrer(api, d.refs["b_config"], subject4)
    put_referrer(api, d.refs["b_layer"], subject4)
    put_referrer(api, d.refs["c_layer"], subject3)


# -- Test content discovery endpoints (listing tags) ---------------------------------------------------
def test_get_request_to_list_tags_should_yield_200(api: Api, st: State) -> None:
    """Listing tags: GET request to list tags should yield 200 response."""
    resp = assert_status(api.tags(NAMESPACE), 200)
    st.tags = tag_list(resp)
    st.num_tags = len(st.tags)


@pytest.mark.reference_bug("tags/list ignores n")
def test_get_number_of_tags_should_be_limitable_by_n_query_parameter(api: Api, st: State) -> None:
    """Listing tags: GET number of tags should be limitable by `n` query parameter."""
    n = st.num_tags // 2
    resp = assert_status(api.tags(NAMESPACE, n=str(n)), 200)
    assert len(tag_list(resp)) == n, describe(resp)


def test_get_start_of_tag_is_set_by_last_query_parameter(api: Api, st: State) -> None:
    """Listing tags: GET start of tag is set by `last` query parameter (as the Go suite checks it: the
    second page's request succeeds; the strict pagination checks are in test_listing.py)."""
    n = st.num_tags // 2
    first = tag_list(api.tags(NAMESPACE, n=str(n)))
    assert len(first) >= n, f"first page has {first}"
    resp = assert_status(api.tags(NAMESPACE, n=str(n), last=first[n - 1]), 200)
    assert len(tag_list(resp)) <= max(n, len(first)), describe(resp)


# -- Test content discovery endpoints (listing references) ---------------------------------------------
@pytest.mark.reference_bug("no referrers API (404 page not found)")
def test_referrers_get_request_to_nonexistent_blob_should_result_in_empty_200(api: Api) -> None:
    """Listing references: GET request to nonexistent blob should result in empty 200 response."""
    doc = referrers_index(api.referrers(NAMESPACE, c.DUMMY_DIGEST))
    assert doc["manifests"] == []


@pytest.mark.reference_bug("no referrers API (404 page not found)")
def test_referrers_get_request_to_existing_blob_should_yield_200(api: Api, st: State) -> None:
    """Listing references: GET request to existing blob should yield 200 (five referrers of manifest 4,
    distinct, each with exactly its one annotation)."""
    doc = referrers_index(api.referrers(NAMESPACE, st.data.manifests[4].digest))
    manifests = doc["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 5, doc
    assert manifests[0]["digest"] != manifests[1]["digest"]
    for entry in manifests:
        assert entry.get("annotations") == {c.ANNOTATION_KEY: st.data.annotations[entry["digest"]]}, entry


@pytest.mark.reference_bug("no referrers API (404 page not found)")
def test_referrers_get_request_to_existing_blob_with_filter_should_yield_200(api: Api, st: State) -> None:
    """Listing references: GET request to existing blob with filter should yield 200 (a full-featured
    registry applies the artifactType filter: two referrers and ``OCI-Filters-Applied: artifactType``)."""
    resp = api.referrers(NAMESPACE, st.data.manifests[4].digest, artifactType=c.REF_TYPE_A)
    doc = referrers_index(resp)
    assert resp.headers.get("OCI-Filters-Applied") == "artifactType", describe(resp)
    manifests = doc["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 2, doc
    for entry in manifests:
        assert entry.get("annotations") == {c.ANNOTATION_KEY: st.data.annotations[entry["digest"]]}, entry


@pytest.mark.reference_bug("no referrers API (404 page not found)")
def test_referrers_get_request_to_missing_manifest_should_yield_200(api: Api, st: State) -> None:
    """Listing references: GET request to missing manifest should yield 200 (the one artifact whose
    subject, manifest 3, was never pushed)."""
    doc = referrers_index(api.referrers(NAMESPACE, st.data.manifests[3].digest))
    manifests = doc["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 1, doc
    assert manifests[0]["digest"] == st.data.refs["c_layer"].digest


# -- Teardown ------------------------------------------------------------------------------------------
@pytest.mark.reference_bug("DELETE /manifests/<tag> answers 400 DIGEST_INVALID")
def test_teardown_delete_created_manifest_and_associated_tags(api: Api, st: State) -> None:
    """Teardown: Delete created manifest & associated tags (each answer 2xx, or 404 when already gone;
    the list includes the tag ``tagtest0``, deleted by tag)."""
    d = st.data
    refs = [
        d.refs["index"].digest,
        d.manifests[2].digest,
        d.manifests[4].digest,
        d.refs["a_config"].digest,
        d.refs["a_layer"].digest,
        c.TEST_TAG,
        d.refs["b_config"].digest,
        d.refs["b_layer"].digest,
        d.refs["c_layer"].digest,
    ]
    for ref in refs:
        resp = api.delete(f"/v2/{NAMESPACE}/manifests/{ref}")
        assert 200 <= resp.status_code < 300 or resp.status_code == 404, describe(resp)


@pytest.mark.parametrize("what", ["config", "layer"])
def test_teardown_delete_blob_created_in_setup(api: Api, st: State, what: str) -> None:
    """Teardown: Delete config blob created in tests / Delete layer blob created in setup."""
    blob = st.data.configs[2] if what == "config" else st.data.layer
    resp = api.delete(f"/v2/{NAMESPACE}/blobs/{blob.digest}")
    assert 200 <= resp.status_code < 300 or resp.status_code == 404, describe(resp)


def test_teardown_references(api: Api, st: State) -> None:
    """Teardown: References teardown (config 4, the reference blobs and the empty JSON blob)."""
    d = st.data
    for digest in (d.configs[4].digest, d.ref_blob_a.digest, d.ref_blob_b.digest, EMPTY_JSON_DIGEST):
        resp = api.delete(f"/v2/{NAMESPACE}/blobs/{digest}")
        assert 200 <= resp.status_code < 300 or resp.status_code == 404, describe(resp)
