"""Blob pulls and deletes beyond the conformance suite: the ping, headers on GET/HEAD, ranges, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from ._http import OCTET, Api, assert_error, assert_status, describe, digest_of, snapshot


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_answers_200_with_api_version_header(api: Api, method: str) -> None:
    """GET and HEAD /v2/ answer 200 with ``Docker-Distribution-API-Version: registry/2.0`` (clients probe
    with either)."""
    resp = assert_status(api.request(method, "/v2/"), 200)
    assert resp.headers.get("Docker-Distribution-API-Version") == "registry/2.0", describe(resp)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_blob_get_and_head_headers(api: Api, repo: str, method: str) -> None:
    """GET/HEAD of a blob: 200 with Content-Length, Docker-Content-Digest, Content-Type
    application/octet-stream and an ETag; GET carries the bytes, HEAD none."""
    data = os.urandom(3000)
    digest = api.push_blob(repo, data)
    resp = assert_status(api.request(method, f"/v2/{repo}/blobs/{digest}"), 200)
    assert resp.headers.get("Content-Length") == str(len(data)), describe(resp)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe(resp)
    assert resp.headers.get("Content-Type") == OCTET, describe(resp)
    assert digest in resp.headers.get("ETag", ""), describe(resp)
    assert resp.content == (data if method == "GET" else b"")


def test_blob_get_unknown_answers_404_blob_unknown(api: Api, repo: str) -> None:
    """GET of a blob the repository lacks: 404 BLOB_UNKNOWN."""
    api.push_blob(repo, os.urandom(8))
    assert_error(api.get(f"/v2/{repo}/blobs/{digest_of(os.urandom(8))}"), 404, "BLOB_UNKNOWN")


def test_blob_of_another_repository_is_not_served(api: Api, repo: str, repo2: str) -> None:
    """A blob pushed to one repository is not served through another (404 BLOB_UNKNOWN)."""
    digest = api.push_blob(repo, os.urandom(64))
    api.push_blob(repo2, os.urandom(8))
    assert_error(api.get(f"/v2/{repo2}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(("spec", "first", "last"), [("0-0", 0, 0), ("10-99", 10, 99), ("100-", 100, 999)])
def test_blob_range_answers_206_with_content_range(
    api: Api, repo: str, spec: str, first: int, last: int
) -> None:
    """``Range: bytes=a-b`` answers 206 with exactly those bytes and ``Content-Range: bytes a-b/size``."""
    data = os.urandom(1000)
    digest = api.push_blob(repo, data)
    resp = assert_status(api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={spec}"}), 206)
    assert resp.content == data[first : last + 1]
    assert resp.headers.get("Content-Range") == f"bytes {first}-{last}/1000", describe(resp)
    assert resp.headers.get("Content-Length") == str(last - first + 1), describe(resp)


@pytest.mark.reference_bug("an unsatisfiable Range breaks the connection (no 416)")
@pytest.mark.parametrize("spec", ["bytes=1000-2000", "bytes=50-10", "bytes=5000-"])
def test_blob_unsatisfiable_range_answers_416(api: Api, repo: str, spec: str) -> None:
    """An unsatisfiable or inverted range answers 416 with a JSON error body (RANGE_INVALID or the
    like), never a 5xx or a broken connection."""
    data = os.urandom(1000)
    digest = api.push_blob(repo, data)
    try:
        resp = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": spec})
    except requests.ConnectionError as exc:
        raise AssertionError(f"Range {spec}: connection broken: {exc}") from exc
    assert_error(resp, 416, "RANGE_INVALID", "BLOB_UNKNOWN", "SIZE_INVALID", "UNSUPPORTED")


def test_blob_delete_answers_202_then_404(api: Api, repo: str) -> None:
    """DELETE of a blob (delete enabled) answers 202; then GET answers 404 BLOB_UNKNOWN and a second
    DELETE 404 BLOB_UNKNOWN."""
    digest = api.push_blob(repo, os.urandom(128))
    assert_status(api.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    assert_error(api.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(api.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_blob_delete_of_unknown_blob_writes_nothing(api: Api, repo: str, root: Path) -> None:
    """DELETE of a blob never pushed: 404 BLOB_UNKNOWN and nothing written."""
    api.push_blob(repo, os.urandom(8))
    before = snapshot(root)
    assert_error(api.delete(f"/v2/{repo}/blobs/{digest_of(os.urandom(8))}"), 404, "BLOB_UNKNOWN")
    assert snapshot(root) == before
