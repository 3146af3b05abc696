"""The conformance suite's Push workflow (``02_push_test.go``), one test per spec, in the suite's order.

Settings of a full-featured registry: cross-mount namespace ``conformance-<random>``, automatic cross-mount
enabled (``OCI_AUTOMATIC_CROSSMOUNT=1``), manifests deleted before blobs, delete enabled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.servers import RegistryServer

from . import _conformance as c
from ._http import OCI_MANIFEST, OCTET, Api, assert_status, describe

NAMESPACE = "conformance/push"


@dataclass
class State:
    data: c.ConformanceData
    crossmount: str
    last: requests.Response | None = None
    prev: requests.Response | None = None
    chunks: tuple[bytes, bytes] = (b"", b"")
    mount: requests.Response | None = None
    empty_layer_pushed: bool = False
    responses: dict[str, requests.Response] = field(default_factory=dict)


@pytest.fixture(scope="module")
def st(srv: RegistryServer) -> State:
    return State(c.build(), crossmount=f"conformance-{uuid.uuid4()}")


def relative_location(resp: requests.Response) -> str:
    loc = urlsplit(resp.headers.get("Location", ""))
    return loc.path + (f"?{loc.query}" if loc.query else "")


def chunk_range(start: int, chunk: bytes) -> str:
    return f"{start}-{start + len(chunk) - 1}"


# -- Blob Upload Streamed ------------------------------------------------------------------------------
def test_streamed_patch_request_with_blob_in_body_should_yield_202(api: Api, st: State) -> None:
    """Blob Upload Streamed: PATCH request with blob in body should yield 202 response."""
    resp = api.post(f"/v2/{NAMESPACE}/blobs/uploads/")
    assert resp.headers.get("Location"), describe(resp)
    resp = api.patch(relative_location(resp), data=st.data.blob_a.data, headers={"Content-Type": OCTET})
    st.last = assert_status(resp, 202)


def test_streamed_put_request_to_session_url_with_digest_should_yield_201(api: Api, st: State) -> None:
    """Blob Upload Streamed: PUT request to session URL with digest should yield 201 response."""
    assert st.last is not None, "the PATCH spec did not run"
    resp = api.put(
        relative_location(st.last),
        params={"digest": st.data.blob_a.digest},
        data=b"",
        headers={"Content-Type": OCTET},
    )
    assert_status(resp, 201)
    assert resp.headers.get("Location"), describe(resp)


# -- Blob Upload Monolithic ----------------------------------------------------------------------------
def test_monolithic_get_nonexistent_blob_should_result_in_404(api: Api) -> None:
    """Blob Upload Monolithic: GET nonexistent blob should result in 404 response."""
    assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{c.DUMMY_DIGEST}"), 404)


def test_monolithic_post_request_with_digest_and_blob_should_yield_201_or_202(api: Api, st: State) -> None:
    """Blob Upload Monolithic: POST request with digest and blob should yield a 201 or 202."""
    cfg = st.data.configs[1]
    resp = api.post(
        f"/v2/{NAMESPACE}/blobs/uploads/",
        params={"digest": cfg.digest},
        data=cfg.data,
        headers={"Content-Type": OCTET},
    )
    assert resp.headers.get("Location"), describe(resp)
    st.last = assert_status(resp, 201, 202)


def test_monolithic_get_request_to_blob_url_from_prior_request_should_yield_200_or_404(
    api: Api, st: State
) -> None:
    """Blob Upload Monolithic: GET request to blob URL from prior request should yield 200 or 404 based
    on response code (200 after a 201, 404 after a 202)."""
    assert st.last is not None
    resp = api.get(f"/v2/{NAMESPACE}/blobs/{st.data.configs[1].digest}")
    assert_status(resp, 404 if st.last.status_code == 202 else 200)


def test_monolithic_post_request_should_yield_a_session_id(api: Api, st: State) -> None:
    """Blob Upload Monolithic: POST request should yield a session ID."""
    st.last = assert_status(api.post(f"/v2/{NAMESPACE}/blobs/uploads/"), 202)


def test_monolithic_put_upload_of_a_blob_should_yield_201(api: Api, st: State) -> None:
    """Blob Upload Monolithic: PUT upload of a blob should yield a 201 Response."""
    assert st.last is not None
    cfg = st.data.configs[1]
    resp = api.put(
        relative_location(st.last),
        params={"digest": cfg.digest},
        data=cfg.data,
        headers={"Content-Type": OCTET},
    )
    assert_status(resp, 201)
    assert resp.headers.get("Location"), describe(resp)


def test_monolithic_get_request_to_existing_blob_should_yield_200(api: Api, st: State) -> None:
    """Blob Upload Monolithic: GET request to existing blob should yield 200 response."""
    assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{st.data.configs[1].digest}"), 200)


def test_monolithic_put_upload_of_a_layer_blob_should_yield_201(api: Api, st: State) -> None:
    """Blob Upload Monolithic: PUT upload of a layer blob should yield a 201 Response."""
    start = api.post(f"/v2/{NAMESPACE}/blobs/uploads/")
    resp = api.put(
        relative_location(start),
        params={"digest": st.data.layer.digest},
        data=st.data.layer.data,
        headers={"Content-Type": OCTET},
    )
    assert_status(resp, 201)
    assert resp.headers.get("Location"), describe(resp)


def test_monolithic_get_request_to_existing_layer_should_yield_200(api: Api, st: State) -> None:
    """Blob Upload Monolithic: GET request to existing layer should yield 200 response."""
    assert_status(api.get(f"/v2/{NAMESPACE}/blobs/{st.data.layer.digest}"), 200)


# -- Blob Upload Chunked -------------------------------------------------------------------------------
@pytest.mark.reference_bug("accepts a chunk that does not start at the current offset (202)")
def test_chunked_out_of_order_blob_upload_should_return_416(api: Api, st: State) -> None:
    """Blob Upload Chunked: Out-of-order blob upload should return 416 (the second chunk sent first)."""
    start = api.post(f"/v2/{NAMESPACE}/blobs/uploads/", data=b"")
    assert start.headers.get("Location"), describe(start)
    st.chunks = st.data.chunks_of_b(int(start.headers.get("OCI-Chunk-Min-Length") or 0))
    first, second = st.chunks
    resp = api.patch(
        relative_location(start),
        data=second,
        headers={"Content-Type": OCTET, "Content-Range": chunk_range(len(first), second)},
    )
    assert_status(resp, 416)


def test_chunked_patch_request_with_first_chunk_should_return_202(api: Api, st: State) -> None:
    """Blob Upload Chunked: PATCH request with first chunk should return 202 (Range: 0-<end of chunk>)."""
    start = api.post(f"/v2/{NAMESPACE}/blobs/uploads/", data=b"")
    assert start.headers.get("Location"), describe(start)
    if st.chunks == (b"", b""):
        st.chunks = st.data.chunks_of_b(int(start.headers.get("OCI-Chunk-Min-Length") or 0))
    st.prev = start
    first = st.chunks[0]
    resp = api.patch(
        relative_location(start),
        data=first,
        headers={"Content-Type": OCTET, "Content-Range": chunk_range(0, first)},
    )
    assert_status(resp, 202)
    assert resp.headers.get("Range") == chunk_range(0, first), describe(resp)
    st.last = resp


@pytest.mark.reference_bug("a stale upload URL (old _state) answers 404 BLOB_UPLOAD_INVALID, not 416")
def test_chunked_retry_previous_blob_chunk_should_return_416(api: Api, st: State) -> None:
    """Blob Upload Chunked: Retry previous blob chunk should return 416 (the first chunk again, at the URL
    the POST returned)."""
    assert st.prev is not None
    first = st.chunks[0]
    resp = api.patch(
        relative_location(st.prev),
        data=first,
        headers={"Content-Type": OCTET, "Content-Range": chunk_range(0, first)},
    )
    assert_status(resp, 416)


@pytest.mark.reference_bug("a stale upload URL (old _state) answers 404 BLOB_UPLOAD_INVALID, not 204")
def test_chunked_get_on_stale_blob_upload_should_return_204_with_range_and_location(
    api: Api, st: State
) -> None:
    """Blob Upload Chunked: Get on stale blob upload should return 204 with a range and location."""
    assert st.prev is not None
    resp = assert_status(api.get(relative_location(st.prev)), 204)
    assert resp.headers.get("Location"), describe(resp)
    assert resp.headers.get("Range") == chunk_range(0, st.chunks[0]), describe(resp)
    st.last = resp


def test_chunked_patch_request_with_second_chunk_should_return_202(api: Api, st: State) -> None:
    """Blob Upload Chunked: PATCH request with second chunk should return 202."""
    assert st.last is not None
    first, second = st.chunks
    resp = api.patch(
        relative_location(st.last),
        data=second,
        headers={"Content-Type": OCTET, "Content-Range": chunk_range(len(first), second)},
    )
    assert_status(resp, 202)
    assert resp.headers.get("Location"), describe(resp)
    st.last = resp


def test_chunked_put_request_with_digest_should_return_201(api: Api, st: State) -> None:
    """Blob Upload Chunked: PUT request with digest should return 201."""
    assert st.last is not None
    resp = api.put(
        relative_location(st.last),
        params={"digest": st.data.blob_b.digest},
        data=b"",
        headers={"Content-Type": OCTET},
    )
    assert_status(resp, 201)
    assert resp.headers.get("Location"), describe(resp)


# -- Cross-Repository Blob Mount -----------------------------------------------------------------------
def test_cross_mounting_of_a_blob_without_the_from_argument_should_yield_session_id(
    api: Api, st: State
) -> None:
    """Cross-Repository Blob Mount: Cross-mounting of a blob without the from argument should yield session
    id (an unknown digest: 202 and a Location)."""
    resp = api.post(f"/v2/{st.crossmount}/blobs/uploads/", params={"mount": c.DUMMY_DIGEST})
    assert_status(resp, 202)
    assert resp.headers.get("Location"), describe(resp)


def test_post_request_to_mount_another_repositorys_blob_should_return_201_or_202(api: Api, st: State) -> None:
    """Cross-Repository Blob Mount: POST request to mount another repository's blob should return 201 or
    202."""
    resp = api.post(
        f"/v2/{st.crossmount}/blobs/uploads/", params={"mount": st.data.blob_a.digest, "from": NAMESPACE}
    )
    st.mount = assert_status(resp, 201, 202)


def test_get_request_to_test_digest_within_cross_mount_namespace_should_return_200(
    api: Api, st: State
) -> None:
    """Cross-Repository Blob Mount: GET request to test digest within cross-mount namespace should return
    200 (when the mount answered 201, at the Location it returned)."""
    assert st.mount is not None
    if st.mount.status_code != 201:
        pytest.skip("the mount fell back to an upload (202)")
    assert urlsplit(st.mount.headers["Location"]).path == f"/v2/{st.crossmount}/blobs/{st.data.blob_a.digest}"
    assert_status(api.get(relative_location(st.mount)), 200)


def test_cross_mounting_of_nonexistent_blob_should_yield_session_id(api: Api, st: State) -> None:
    """Cross-Repository Blob Mount: Cross-mounting of nonexistent blob should yield session id (when the
    mount answered 202, its Location is an upload URL)."""
    assert st.mount is not None
    if st.mount.status_code != 202:
        pytest.skip("the mount succeeded (201)")
    assert urlsplit(st.mount.headers["Location"]).path.startswith(f"/v2/{st.crossmount}/blobs/uploads/")


@pytest.mark.reference_bug("no automatic cross-mount: a mount without from answers 202")
def test_cross_mounting_without_from_and_automatic_content_discovery_enabled_should_return_201(
    api: Api, st: State
) -> None:
    """Cross-Repository Blob Mount: Cross-mounting without from, and automatic content discovery enabled
    should return a 201 (OCI_AUTOMATIC_CROSSMOUNT=1)."""
    assert st.mount is not None and st.mount.status_code == 201, "the mount with from did not answer 201"
    resp = api.post(f"/v2/{st.crossmount}/blobs/uploads/", params={"mount": st.data.blob_a.digest})
    assert_status(resp, 201)


# -- Manifest Upload -----------------------------------------------------------------------------------
def test_manifest_upload_get_nonexistent_manifest_should_return_404(api: Api) -> None:
    """Manifest Upload: GET nonexistent manifest should return 404."""
    assert_status(api.get(f"/v2/{NAMESPACE}/manifests/{c.NONEXISTENT_MANIFEST}"), 404)


def test_manifest_upload_put_should_accept_a_manifest_upload(api: Api, st: State) -> None:
    """Manifest Upload: PUT should accept a manifest upload (manifest 1 at tags test0..test3)."""
    for i in range(4):
        resp = api.put_manifest(NAMESPACE, f"test{i}", st.data.manifests[1].data, OCI_MANIFEST)
        assert_status(resp, 201)
        assert resp.headers.get("Location"), describe(resp)


def test_manifest_upload_registry_should_accept_a_manifest_upload_with_no_layers(api: Api, st: State) -> None:
    """Manifest Upload: Registry should accept a manifest upload with no layers (a full-featured registry
    does, so 201 is required here where the Go suite only warns)."""
    resp = api.put_manifest(NAMESPACE, c.EMPTY_LAYER_TAG, st.data.empty_layer_manifest.data, OCI_MANIFEST)
    assert_status(resp, 201)
    assert resp.headers.get("Location"), describe(resp)
    st.empty_layer_pushed = True


def test_manifest_upload_get_request_to_manifest_url_digest_should_yield_200(api: Api, st: State) -> None:
    """Manifest Upload: GET request to manifest URL (digest) should yield 200 response."""
    m = st.data.manifests[1]
    resp = api.get(f"/v2/{NAMESPACE}/manifests/{m.digest}", headers={"Accept": OCI_MANIFEST})
    assert_status(resp, 200)


# -- Teardown ------------------------------------------------------------------------------------------
def test_teardown_delete_manifest_created_in_tests(api: Api, st: State) -> None:
    """Teardown: Delete manifest created in tests (manifest 1 and the no-layers manifest; delete enabled:
    202)."""
    assert_status(api.delete(f"/v2/{NAMESPACE}/manifests/{st.data.manifests[1].digest}"), 202)
    if st.empty_layer_pushed:
        assert_status(api.delete(f"/v2/{NAMESPACE}/manifests/{st.data.empty_layer_manifest.digest}"), 202)


def test_teardown_delete_config_blob_created_in_tests(api: Api, st: State) -> None:
    """Teardown: Delete config blob created in tests."""
    assert_status(api.delete(f"/v2/{NAMESPACE}/blobs/{st.data.configs[1].digest}"), 202, 404)


def test_teardown_delete_layer_blob_created_in_setup(api: Api, st: State) -> None:
    """Teardown: Delete layer blob created in setup."""
    assert_status(api.delete(f"/v2/{NAMESPACE}/blobs/{st.data.layer.digest}"), 202, 404)
