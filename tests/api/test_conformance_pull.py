"""The conformance suite's Pull workflow (``01_pull_test.go``), one test per spec, in the suite's order.

The specs share state like the Go suite does (setup pushes what the later specs pull), so they run in file
order against one server per kind. Teardown specs run with delete enabled, as a full-featured registry does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests

from tests.support.servers import RegistryServer

from . import _conformance as c
from ._http import OCI_MANIFEST, OCTET, Api, assert_status, describe

NAMESPACE = "conformance/pull"


@dataclass
class State:
    data: c.ConformanceData
    tag: str = ""
    responses: dict[str, requests.Response] = field(default_factory=dict)


@pytest.fixture(scope="module")
def st(srv: RegistryServer) -> State:
    return State(c.build())


def populate_blob(api: Api, repo: str, blob: c.Blob) -> None:
    resp = api.post(f"/v2/{repo}/blobs/uploads/")
    resp = api.put(
        resp.headers.get("Location", ""),
        params={"digest": blob.digest},
        data=blob.data,
        headers={"Content-Type": OCTET},
    )
    assert 200 <= resp.status_code < 300, describe(resp)


def accept_manifest() -> dict[str, str]:
    return {"Accept": OCI_MANIFEST}


# -- Setup ---------------------------------------------------------------------------------------------
def test_setup_populate_registry_with_test_blob_config0(api: Api, st: State) -> None:
    """Setup: Populate registry with test blob (config 0)."""
    populate_blob(api, NAMESPACE, st.data.configs[0])


def test_setup_populate_registry_with_test_blob_config1(api: Api, st: State) -> None:
    """Setup: Populate registry with test blob (config 1)."""
    populate_blob(api, NAMESPACE, st.data.configs[1])


def test_setup_populate_registry_with_test_layer(api: Api, st: State) -> None:
    """Setup: Populate registry with test layer."""
    populate_blob(api, NAMESPACE, st.data.layer)


def test_setup_populate_registry_with_test_manifest_by_tag(api: Api, st: State) -> None:
    """Setup: Populate registry with test manifest (manifest 0 at tag ``tagtest0``)."""
    st.tag = c.TEST_TAG
    resp = api.put_manifest(NAMESPACE, st.tag, st.data.manifests[0].data)
    assert 200 <= resp.status_code < 300, describe(resp)


def test_setup_populate_registry_with_test_manifest_by_digest(api: Api, st: State) -> None:
    """Setup: Populate registry with test manifest (manifest 1 by its digest)."""
    m = st.data.manifests[1]
    resp = api.put_manifest(NAMESPACE, m.digest, m.data)
    assert 200 <= resp.status_code < 300, describe(resp)


# -- Pull blobs ----------------------------------------------------------------------------------------
def test_head_request_to_nonexistent_blob_should_result_in_404(api: Api) -> None:
    """HEAD request to nonexistent blob should result in 404 response."""
    assert_status(api.head(f"/v2/{NAMESPACE}/blobs/{c.DUMMY_DIGEST}"), 404)


def test_head_request_to_existing_blob_should_yield_200(api: Api, st: State) -> None:
    """HEAD request to existing blob should yield 200 (and a Docker-Content-Digest, if any, matches)."""
    cfg = st.data.configs[0]
    resp = assert_status(api.head(f"/v2/{NAMESPACE}/blobs/{cfg.digest}"), 200)
    if h := resp.headers.get("Docker-Content-Digest"):
        assert h == cfg.digest, describe(resp)


def test_get_nonexistent_blob_should_result_in_404(api: Api) -> None:
    """GET nonexistent blob should result in 404 response."""
    assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{c.DUMMY_DIGEST}"), 404)


def test_get_request_to_existing_blob_url_should_yield_200(api: Api, st: State) -> None:
    """GET request to existing blob URL should yield 200 (with the blob's bytes)."""
    cfg = st.data.configs[0]
    resp = assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{cfg.digest}"), 200)
    assert resp.content == cfg.data


# -- Pull manifests ------------------------------------------------------------------------------------
def test_head_request_to_nonexistent_manifest_should_return_404(api: Api) -> None:
    """HEAD request to nonexistent manifest should return 404."""
    assert_status(api.head(f"/v2/{NAMESPACE}/manifests/{c.NONEXISTENT_MANIFEST}"), 404)


@pytest.mark.parametrize("index", [0, 1])
def test_head_request_to_manifest_path_digest_should_yield_200(api: Api, st: State, index: int) -> None:
    """HEAD request to manifest[0] / manifest[1] path (digest) should yield 200 response."""
    m = st.data.manifests[index]
    resp = assert_status(api.head(f"/v2/{NAMESPACE}/manifests/{m.digest}", headers=accept_manifest()), 200)
    if h := resp.headers.get("Docker-Content-Digest"):
        assert h == m.digest, describe(resp)


def test_head_request_to_manifest_path_tag_should_yield_200(api: Api, st: State) -> None:
    """HEAD request to manifest path (tag) should yield 200 response."""
    assert st.tag, "setup did not tag the manifest"
    resp = assert_status(api.head(f"/v2/{NAMESPACE}/manifests/{st.tag}", headers=accept_manifest()), 200)
    if h := resp.headers.get("Docker-Content-Digest"):
        assert h == st.data.manifests[0].digest, describe(resp)


def test_get_nonexistent_manifest_should_return_404(api: Api) -> None:
    """GET nonexistent manifest should return 404."""
    assert_status(api.get(f"/v2/{NAMESPACE}/manifests/{c.NONEXISTENT_MANIFEST}"), 404)


@pytest.mark.parametrize("index", [0, 1])
def test_get_request_to_manifest_path_digest_should_yield_200(api: Api, st: State, index: int) -> None:
    """GET request to manifest[0] / manifest[1] path (digest) should yield 200 response."""
    m = st.data.manifests[index]
    resp = assert_status(api.get(f"/v2/{NAMESPACE}/manifests/{m.digest}", headers=accept_manifest()), 200)
    assert resp.content == m.data


def test_get_request_to_manifest_path_tag_should_yield_200(api: Api, st: State) -> None:
    """GET request to manifest path (tag) should yield 200 response."""
    assert st.tag, "setup did not tag the manifest"
    resp = assert_status(api.get(f"/v2/{NAMESPACE}/manifests/{st.tag}", headers=accept_manifest()), 200)
    assert resp.content == st.data.manifests[0].data


# -- Error codes ---------------------------------------------------------------------------------------
@pytest.mark.reference_bug("GET /manifests/sha256:totallywrong answers 500 UNKNOWN")
def test_400_response_body_should_contain_oci_conforming_json_message(api: Api) -> None:
    """Error codes: 400 response body should contain OCI-conforming JSON message (a malformed digest as
    the reference gives 400 with a spec error code, or 404)."""
    resp = api.get(
        f"/v2/{NAMESPACE}/manifests/sha256:totallywrong",
        headers={"Content-Type": OCI_MANIFEST},
        data=c.INVALID_MANIFEST,
    )
    assert resp.status_code in (400, 404), describe(resp)
    if resp.status_code == 400:
        errors = resp.json()["errors"]
        assert errors and errors[0]["code"] in c.ERROR_CODES, describe(resp)


# -- Teardown (OCI_DELETE_MANIFEST_BEFORE_BLOBS=1, the default) ----------------------------------------
@pytest.mark.parametrize("index", [0, 1])
def test_teardown_delete_manifest_created_in_setup(api: Api, st: State, index: int) -> None:
    """Teardown: Delete manifest[0] / manifest[1] created in setup (delete enabled: 202)."""
    m = st.data.manifests[index]
    assert_status(api.delete(f"/v2/{NAMESPACE}/manifests/{m.digest}"), 202)


@pytest.mark.parametrize("what", ["config0", "config1", "layer"])
def test_teardown_delete_blob_created_in_setup(api: Api, st: State, what: str) -> None:
    """Teardown: Delete config[0] / config[1] / layer blob created in setup (202, or 404 if gone)."""
    blob = {"config0": st.data.configs[0], "config1": st.data.configs[1], "layer": st.data.layer}[what]
    assert_status(api.delete(f"/v2/{NAMESPACE}/blobs/{blob.digest}"), 202, 404)
