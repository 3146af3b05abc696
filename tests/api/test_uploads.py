"""Blob uploads beyond the conformance suite: session headers, monolithic and chunked pushes, mounts,
cancel, digest checks, sha512, restarts, truncated bodies and dropped connections."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.servers import RegistryServer

from ._http import (
    OCTET,
    Api,
    assert_error,
    assert_nothing_written,
    assert_status,
    committed_blobs,
    describe,
    digest_of,
    location_path,
    raw_send,
    repo_links,
    snapshot,
    upload_id,
    wait_until,
)


def test_upload_start_headers(api: Api, repo: str) -> None:
    """POST /blobs/uploads/ answers 202 with a Location under the repository, Docker-Upload-UUID and
    ``Range: 0-0``."""
    resp = api.start_upload(repo)
    assert location_path(resp).startswith(f"/v2/{repo}/blobs/uploads/"), describe(resp)
    assert resp.headers.get("Docker-Upload-UUID"), describe(resp)
    assert resp.headers.get("Range") == "0-0", describe(resp)


@pytest.mark.reference_bug("POST ?digest= ignores the body and answers 202")
def test_monolithic_post_with_digest_answers_201(api: Api, repo: str) -> None:
    """POST /blobs/uploads/?digest=<d> with the whole blob as body answers 201 with the blob's Location and
    Docker-Content-Digest; the blob is then served."""
    data = os.urandom(700)
    digest = digest_of(data)
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data,
                    headers={"Content-Type": OCTET})  # fmt: skip
    assert_status(resp, 201)
    assert location_path(resp) == f"/v2/{repo}/blobs/{digest}", describe(resp)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe(resp)
    assert api.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_cross_repository_mount_answers_201(api: Api, repo: str, repo2: str, root: Path) -> None:
    """POST ?mount=<d>&from=<other repo> answers 201 with the blob's Location; the target repository
    now links the blob."""
    digest = api.push_blob(repo2, os.urandom(300))
    resp = assert_status(api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": repo2}), 201)
    assert location_path(resp) == f"/v2/{repo}/blobs/{digest}", describe(resp)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe(resp)
    assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 200)
    assert f"_layers/sha256/{digest.split(':')[1]}/link" in repo_links(root, repo)


@pytest.mark.reference_bug("no automatic cross-mount: a mount without from answers 202")
def test_mount_without_from_of_a_known_blob_answers_201(api: Api, repo: str, repo2: str) -> None:
    """POST ?mount=<d> without ``from``, for a blob the registry holds (in another repository): 201."""
    digest = api.push_blob(repo2, os.urandom(300))
    resp = assert_status(api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest}), 201)
    assert location_path(resp) == f"/v2/{repo}/blobs/{digest}", describe(resp)
    assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 200)


def test_mount_of_an_unknown_blob_falls_back_to_an_upload(api: Api, repo: str) -> None:
    """POST ?mount=<d> (with or without ``from``) for a blob nobody holds: 202 and a usable upload."""
    data = os.urandom(100)
    digest = digest_of(data)
    for params in ({"mount": digest}, {"mount": digest, "from": "api/nowhere"}):
        resp = assert_status(api.post(f"/v2/{repo}/blobs/uploads/", params=params), 202)
        assert location_path(resp).startswith(f"/v2/{repo}/blobs/uploads/"), describe(resp)
    assert_status(api.finish_upload(resp.headers["Location"], digest, data), 201)


def test_streamed_patch_without_content_range(api: Api, repo: str) -> None:
    """A PATCH streamed with chunked transfer encoding (no Content-Length, no Content-Range) answers 202
    with ``Range: 0-<size-1>``; the PUT with the digest completes the upload."""
    data = os.urandom(200_000)

    def body() -> Iterator[bytes]:
        for i in range(0, len(data), 32_768):
            yield data[i : i + 32_768]

    start = api.start_upload(repo)
    resp = assert_status(
        api.patch(start.headers["Location"], data=body(), headers={"Content-Type": OCTET}), 202
    )
    assert resp.headers.get("Range") == f"0-{len(data) - 1}", describe(resp)
    put = assert_status(api.finish_upload(resp.headers["Location"], digest_of(data)), 201)
    assert api.get(urlsplit(put.headers["Location"]).path).content == data


def test_chunked_patches_with_content_range(api: Api, repo: str) -> None:
    """PATCHes with Content-Range in order answer 202 with ``Range: 0-<end>``; GET of the session
    answers 204 with Range and Location; the PUT completes the blob."""
    data = os.urandom(30_000)
    loc = api.start_upload(repo).headers["Location"]
    for start in range(0, len(data), 10_000):
        resp = assert_status(api.put_chunk(loc, data[start : start + 10_000], start), 202)
        assert resp.headers.get("Range") == f"0-{start + 9_999}", describe(resp)
        loc = resp.headers["Location"]
        status = assert_status(api.get(loc), 204)
        assert status.headers.get("Range") == f"0-{start + 9_999}", describe(status)
        assert status.headers.get("Location"), describe(status)
    assert_status(api.finish_upload(loc, digest_of(data)), 201)
    assert api.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


@pytest.mark.reference_bug("accepts a chunk at the wrong offset (202, appended)")
@pytest.mark.parametrize("offset", [0, 150, 5000])
def test_chunk_at_wrong_offset_answers_416(api: Api, repo: str, offset: int) -> None:
    """A chunk whose Content-Range does not start at the current offset (100) answers 416 with the
    current ``Range: 0-99``; the upload is unharmed and still completes."""
    data = os.urandom(300)
    loc = assert_status(
        api.put_chunk(api.start_upload(repo).headers["Location"], data[:100], 0), 202
    ).headers["Location"]
    bad = api.put_chunk(loc, data[offset : offset + 100] or os.urandom(100), offset)
    assert_status(bad, 416)
    assert bad.headers.get("Range") == "0-99", describe(bad)
    if bad.content:  # the spec shows an empty body; an error body must be the spec's JSON
        assert_error(bad, 416, "RANGE_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID")
    status = assert_status(api.get(loc), 204)
    assert status.headers.get("Range") == "0-99", describe(status)
    loc = status.headers["Location"]
    loc = assert_status(api.put_chunk(loc, data[100:], 100), 202).headers["Location"]
    assert_status(api.finish_upload(loc, digest_of(data)), 201)


@pytest.mark.reference_bug("a stale upload URL (old _state) answers 404 BLOB_UPLOAD_INVALID, not 416")
def test_put_with_a_stale_state_answers_416_and_seals_nothing(api: Api, repo: str) -> None:
    """A PUT at the URL the POST returned (its ``_state`` says 0 bytes; the upload has 100) answers 416
    with the real ``Range: 0-99``, and the upload carries on from its current URL."""
    data = os.urandom(200)
    stale = api.start_upload(repo).headers["Location"]
    loc = assert_status(api.put_chunk(stale, data[:100], 0), 202).headers["Location"]
    bad = api.finish_upload(stale, digest_of(data[:100]))
    assert_status(bad, 416)
    assert bad.headers.get("Range") == "0-99", describe(bad)
    loc = assert_status(api.put_chunk(loc, data[100:], 100), 202).headers["Location"]
    assert_status(api.finish_upload(loc, digest_of(data)), 201)
    assert api.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def test_upload_status_answers_204_with_range_and_location(api: Api, repo: str) -> None:
    """GET of a fresh upload session answers 204 with ``Range: 0-0`` and a Location."""
    start = api.start_upload(repo)
    resp = assert_status(api.get(start.headers["Location"]), 204)
    assert resp.headers.get("Range") == "0-0", describe(resp)
    assert resp.headers.get("Location"), describe(resp)


def test_upload_delete_answers_204_then_404(api: Api, repo: str, root: Path) -> None:
    """DELETE of an upload session answers 204; the session is then unknown (GET, PATCH, DELETE: 404
    BLOB_UPLOAD_UNKNOWN) and the uploaded bytes are dropped (no ``data`` left in its scratch folder; the
    reference leaves its ``hashstates`` behind, which is tolerated)."""
    start = api.start_upload(repo)
    loc = assert_status(api.put_chunk(start.headers["Location"], os.urandom(50), 0), 202).headers["Location"]
    assert_status(api.delete(loc), 204)
    assert_error(api.get(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.put_chunk(loc, os.urandom(10), 50), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.delete(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    scratch = root / "docker/registry/v2/repositories" / repo / "_uploads" / upload_id(start)
    leftovers = (
        [p.name for p in scratch.rglob("*") if p.name in ("data", "startedat")] if scratch.exists() else []
    )
    assert not leftovers, f"{scratch} still holds {leftovers}"


@pytest.mark.reference_bug("an upload URL without its _state token answers 404 BLOB_UPLOAD_INVALID")
def test_unknown_upload_session_answers_404(api: Api, repo: str) -> None:
    """GET/PATCH/PUT on a session id that never existed: 404 BLOB_UPLOAD_UNKNOWN."""
    api.push_blob(repo, os.urandom(8))
    path = f"/v2/{repo}/blobs/uploads/0b6ad4f0-6a3e-4c4e-9a63-2b0a4b0f0a1c"
    assert_error(api.get(path), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.put_chunk(path, b"abc", 0), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.finish_upload(path, digest_of(b"abc"), b"abc"), 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_put_with_mismatching_digest_commits_nothing(api: Api, repo: str, root: Path, chunked: bool) -> None:
    """The closing PUT with a digest that does not match the content: 400 DIGEST_INVALID; no blob in
    the store, no link in the repository, nothing written but the session's scratch folder."""
    data = os.urandom(1000)
    start = api.start_upload(repo)
    before = snapshot(root)
    wrong = digest_of(data + b"x")
    if chunked:
        loc = assert_status(api.put_chunk(start.headers["Location"], data, 0), 202).headers["Location"]
        resp = api.finish_upload(loc, wrong)
    else:
        resp = api.finish_upload(start.headers["Location"], wrong, data)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert digest_of(data) not in committed_blobs(root) and wrong not in committed_blobs(root)
    assert not [p for p in repo_links(root, repo) if p.startswith("_layers/")]
    assert_nothing_written(root, before, [upload_id(start)])
    assert_status(api.head(f"/v2/{repo}/blobs/{wrong}"), 404)


@pytest.mark.reference_bug("a sha512 upload is stored and announced under its sha256 digest")
@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_sha512_upload(api: Api, repo: str, root: Path, chunked: bool) -> None:
    """An upload closed with a ``sha512:`` digest answers 201 with that digest (Location and
    Docker-Content-Digest), and the blob is served by it, stored under ``blobs/sha512``."""
    data = os.urandom(5000)
    digest = digest_of(data, "sha512")
    loc = api.start_upload(repo).headers["Location"]
    if chunked:
        for start in (0, 2500):
            loc = assert_status(api.put_chunk(loc, data[start : start + 2500], start), 202).headers[
                "Location"
            ]
        resp = api.finish_upload(loc, digest)
    else:
        resp = api.finish_upload(loc, digest, data)
    assert_status(resp, 201)
    assert resp.headers.get("Docker-Content-Digest") == digest, describe(resp)
    assert location_path(resp) == f"/v2/{repo}/blobs/{digest}", describe(resp)
    got = assert_status(api.get(f"/v2/{repo}/blobs/{digest}"), 200)
    assert got.content == data and got.headers.get("Docker-Content-Digest") == digest
    assert digest in committed_blobs(root)


def test_chunked_upload_resumes_after_restart(registry: RegistryServer) -> None:
    """A chunked upload started before the server restarts (stop, start on the same root and port)
    continues at its Location and completes."""
    api = Api(registry.url)
    repo = "api/resume"
    data = os.urandom(40_000)
    loc = api.start_upload(repo).headers["Location"]
    loc = assert_status(api.put_chunk(loc, data[:20_000], 0), 202).headers["Location"]
    registry.stop()
    registry.start()
    status = assert_status(api.get(loc), 204)
    assert status.headers.get("Range") == "0-19999", describe(status)
    loc = assert_status(api.put_chunk(status.headers["Location"], data[20_000:], 20_000), 202).headers[
        "Location"
    ]
    assert_status(api.finish_upload(loc, digest_of(data)), 201)
    assert api.get(f"/v2/{repo}/blobs/{digest_of(data)}").content == data


def _raw_target(loc: str, **params: str) -> str:
    parts = urlsplit(loc)
    query = "&".join(filter(None, [parts.query, *(f"{k}={v}" for k, v in params.items())]))
    return parts.path + (f"?{query}" if query else "")


def _assert_not_committed(api: Api, root: Path, repo: str, digest: str) -> None:
    # give the server a moment to notice the dropped connection, then check it committed nothing
    time.sleep(0.3)
    assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 404)
    assert digest not in committed_blobs(root), f"{digest} committed"
    assert not [p for p in repo_links(root, repo) if p.startswith("_layers/")], repo_links(root, repo)


def test_body_shorter_than_content_length_commits_nothing(
    api: Api, server: RegistryServer, repo: str
) -> None:
    """A monolithic PUT whose body stops short of its Content-Length (then the client closes): no blob,
    no link, and the server stays up."""
    data = os.urandom(10_000)
    digest = digest_of(data)
    start = api.start_upload(repo)
    target = _raw_target(start.headers["Location"], digest=digest)
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: {OCTET}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close"
    )
    raw_send(server.host, head, data[:5_000], read_response=False, pause=0.2)
    _assert_not_committed(api, server.root, repo, digest)
    assert_status(api.get("/v2/"), 200)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_client_disconnecting_mid_upload_leaves_no_blob(
    api: Api, server: RegistryServer, repo: str, method: str
) -> None:
    """A client that sends half of a large body and disconnects: no blob and no link appear, whether the
    request was a PATCH (a later PUT cannot complete it with the full digest) or a monolithic PUT."""
    data = os.urandom(2_000_000)
    digest = digest_of(data)
    start = api.start_upload(repo)
    params = {"digest": digest} if method == "PUT" else {}
    head = (
        f"{method} {_raw_target(start.headers['Location'], **params)} HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Content-Type: {OCTET}\r\nContent-Length: {len(data)}"
    )
    raw_send(server.host, head, data[: len(data) // 2], read_response=False, pause=0.1)
    _assert_not_committed(api, server.root, repo, digest)
    if method == "PATCH":
        status = api.get(start.headers["Location"])
        if status.status_code == 204:  # the session survived: it must not complete with the full digest
            resp = api.finish_upload(status.headers["Location"], digest)
            assert resp.status_code in (400, 404, 416), describe(resp)
        _assert_not_committed(api, server.root, repo, digest)
    assert wait_until(lambda: api.get("/v2/").status_code == 200)
