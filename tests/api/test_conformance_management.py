"""The conformance suite's Content Management workflow (``04_management_test.go``): deleting tags,
manifests and blobs, one test per spec, in the suite's order, with delete enabled (so where the Go suite
also accepts "delete is disallowed" answers, a full-featured registry must give the 202 / 404 of a
successful delete)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.servers import RegistryServer

from . import _conformance as c
from ._http import Api, assert_error, assert_status, describe
from .test_conformance_pull import populate_blob

NAMESPACE = "conformance/management"


@dataclass
class State:
    data: c.ConformanceData
    tag: str = ""
    num_tags: int = 0


@pytest.fixture(scope="module")
def st(srv: RegistryServer) -> State:
    return State(c.build())


# -- Setup ---------------------------------------------------------------------------------------------
def test_setup_populate_registry_with_test_config_blob(api: Api, st: State) -> None:
    """Setup: Populate registry with test config blob (config 3)."""
    populate_blob(api, NAMESPACE, st.data.configs[3])


def test_setup_populate_registry_with_test_layer(api: Api, st: State) -> None:
    """Setup: Populate registry with test layer."""
    populate_blob(api, NAMESPACE, st.data.layer)


def test_setup_populate_registry_with_test_tag(api: Api, st: State) -> None:
    """Setup: Populate registry with test tag (manifest 3 at ``tagtest0``)."""
    st.tag = c.TEST_TAG
    resp = api.put_manifest(NAMESPACE, st.tag, st.data.manifests[3].data)
    assert 200 <= resp.status_code < 300, describe(resp)


def test_setup_check_how_many_tags_there_are_before_anything_gets_deleted(api: Api, st: State) -> None:
    """Setup: Check how many tags there are before anything gets deleted."""
    resp = assert_status(api.tags(NAMESPACE), 200)
    st.num_tags = len(resp.json().get("tags") or [])


# -- Manifest delete -----------------------------------------------------------------------------------
@pytest.mark.reference_bug("DELETE /manifests/<tag> answers 400 DIGEST_INVALID")
def test_delete_request_to_manifest_tag_should_return_202(api: Api, st: State) -> None:
    """Manifest delete: DELETE request to manifest tag should return 202, unless tag deletion is
    disallowed (400 UNSUPPORTED / 405) — tag deletion is allowed here, so 202."""
    resp = api.delete(f"/v2/{NAMESPACE}/manifests/{st.tag}")
    if resp.status_code == 400:
        assert_error(resp, 400, "UNSUPPORTED")
    assert_status(resp, 202)


def test_delete_request_to_manifest_digest_should_yield_202_unless_already_deleted(
    api: Api, st: State
) -> None:
    """Manifest delete: DELETE request to manifest (digest) should yield 202 response unless already
    deleted (deleting the tag removed just the tag, so the manifest is still there: 202)."""
    resp = api.delete(f"/v2/{NAMESPACE}/manifests/{st.data.manifests[3].digest}")
    assert_status(resp, 202)


def test_get_request_to_deleted_manifest_url_should_yield_404(api: Api, st: State) -> None:
    """Manifest delete: GET request to deleted manifest URL should yield 404 response, unless delete is
    disallowed (it is allowed here)."""
    assert_status(api.get(f"/v2/{NAMESPACE}/manifests/{st.data.manifests[3].digest}"), 404)


def test_get_request_to_tags_list_should_reflect_manifest_deletion(api: Api, st: State) -> None:
    """Manifest delete: GET request to tags list should reflect manifest deletion."""
    resp = assert_status(api.tags(NAMESPACE), 200)
    assert len(resp.json().get("tags") or []) < st.num_tags, describe(resp)


# -- Blob delete ---------------------------------------------------------------------------------------
def test_delete_request_to_blob_url_should_yield_202(api: Api, st: State) -> None:
    """Blob delete: DELETE request to blob URL should yield 202 response (config and layer)."""
    assert_status(api.delete(f"/v2/{NAMESPACE}/blobs/{st.data.configs[3].digest}"), 202)
    assert_status(api.delete(f"/v2/{NAMESPACE}/blobs/{st.data.layer.digest}"), 202)


def test_get_request_to_deleted_blob_url_should_yield_404(api: Api, st: State) -> None:
    """Blob delete: GET request to deleted blob URL should yield 404 response."""
    assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{st.data.configs[3].digest}"), 404)
