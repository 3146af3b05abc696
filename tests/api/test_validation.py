"""Malformed input: repository names, digests and tags. Each answers 400 with the spec's JSON error body
(or a plain 404 where no route matches a name), never a 5xx, and writes nothing under the storage root.

Requests with odd paths go out over a raw socket so that no client library normalises them (``..``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import RegistryServer

from ._http import (
    OCI_MANIFEST,
    OCTET,
    Api,
    assert_error,
    assert_nothing_written,
    assert_status,
    describe,
    digest_of,
    oci_image,
    raw_send,
    snapshot,
    upload_id,
)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.status} {self.headers} {self.body[:300]!r}"


def raw_request(
    server: RegistryServer, method: str, path: str, body: bytes = b"", **headers: str
) -> RawResponse:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", "Connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if body or method in ("PUT", "POST", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    raw = raw_send(server.host, "\r\n".join(lines), body)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1."), f"no HTTP answer to {method} {path}: {raw[:200]!r}"
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding", "").lower() == "chunked":
        out, data = b"", rest
        while data:
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, data = out + data[:size], data[size + 2 :]
        rest = out
    return RawResponse(int(status_line.split()[1]), parsed, rest)


def check_raw_error(resp: RawResponse, allowed_404: bool, *codes: str, method: str = "GET") -> None:
    """400 with one of ``codes`` (or, when ``allowed_404``, any 404); never a 5xx."""
    assert resp.status < 500, f"server error: {resp}"
    if allowed_404 and resp.status == 404:
        return
    assert resp.status == 400, f"expected 400: {resp}"
    if method == "HEAD":
        return
    body = resp.json()
    assert isinstance(body, dict) and body.get("errors"), f"no JSON errors: {resp}"
    first = body["errors"][0]
    assert isinstance(first.get("code"), str) and isinstance(first.get("message", ""), str), resp
    assert first["code"] in codes, f"expected {codes}: {resp}"


BAD_NAMES = {
    "dotdot": "../x",
    "dotdot-inside": "a/../../x",
    "upper": "A",
    "upper-in-component": "abc/Def",
    "double-slash": "a//b",
    "trailing-slash-dash": "a-/b",
    "leading-separator": "-a/b",
    "over-long": "a" * 256,
    "over-long-components": "/".join(["abcdefghij"] * 24),
}
_REDIRECT = "the path is cleaned and redirected (301), not answered 400/404"
NAME_BUGS = {
    "over-long": "an over-long name answers 500 UNKNOWN",
    "over-long-components": "an over-long name answers 500 UNKNOWN",
    "dotdot": _REDIRECT,
    "dotdot-inside": _REDIRECT,
    "double-slash": _REDIRECT,
}


def _endpoints(name: str, digest: str) -> list[tuple[str, str, bytes]]:
    return [
        ("POST", f"/v2/{name}/blobs/uploads/", b""),
        ("GET", f"/v2/{name}/tags/list", b""),
        ("GET", f"/v2/{name}/manifests/latest", b""),
        ("PUT", f"/v2/{name}/manifests/latest", b"{}"),
        ("HEAD", f"/v2/{name}/blobs/{digest}", b""),
        ("DELETE", f"/v2/{name}/blobs/{digest}", b""),
        ("GET", f"/v2/{name}/referrers/{digest}", b""),
    ]


@pytest.mark.parametrize(
    "label",
    [
        pytest.param(k, marks=[pytest.mark.reference_bug(NAME_BUGS[k])] if k in NAME_BUGS else [])
        for k in BAD_NAMES
    ],
)
def test_invalid_repository_name(server: RegistryServer, label: str) -> None:
    """Every endpoint with a malformed repository name: 400 NAME_INVALID or a plain 404, never a 5xx,
    nothing written."""
    before = snapshot(server.root)
    for method, path, body in _endpoints(BAD_NAMES[label], digest_of(b"x")):
        resp = raw_request(server, method, path, body, Content_Type=OCI_MANIFEST)
        check_raw_error(resp, True, "NAME_INVALID", method=method)
    assert_nothing_written(server.root, before)
    assert not (server.root.parent / "x").exists()


def test_name_of_255_characters_is_accepted(api: Api) -> None:
    """A name of 255 characters in valid components is accepted (blob push and tag list)."""
    name = "/".join(["abcdefghijklmnop"] * 15)[:255].rstrip("/")
    assert len(name) in (254, 255)
    image = oci_image()
    image.push(api, name, "v1")
    assert api.tag_list(name) == ["v1"]


BAD_DIGESTS = {
    "not-hex": "sha256:xyz",
    "md5": "md5:d41d8cd98f00b204e9800998ecf8427e",
    "63-hex": "sha256:" + "a" * 63,
    "upper-hex": "sha256:" + "A" * 64,
    "no-algorithm": "a" * 64,
}


@pytest.mark.parametrize("label", list(BAD_DIGESTS))
def test_invalid_digest_on_blob_endpoints(api: Api, server: RegistryServer, repo: str, label: str) -> None:
    """GET/HEAD/DELETE of a blob at a malformed digest: 400 DIGEST_INVALID (404 for a path no route
    takes), never a 5xx, nothing written."""
    api.push_blob(repo, os.urandom(8))
    before = snapshot(server.root)
    for method in ("GET", "HEAD", "DELETE"):
        resp = raw_request(server, method, f"/v2/{repo}/blobs/{BAD_DIGESTS[label]}")
        check_raw_error(resp, label == "no-algorithm", "DIGEST_INVALID", method=method)
    assert_nothing_written(server.root, before)


@pytest.mark.parametrize("label", list(BAD_DIGESTS))
def test_invalid_digest_closing_an_upload(api: Api, root: Path, repo: str, label: str) -> None:
    """The closing PUT of an upload with a malformed ``digest``: 400 DIGEST_INVALID, nothing committed."""
    start = api.start_upload(repo)
    before = snapshot(root)
    resp = api.finish_upload(start.headers["Location"], BAD_DIGESTS[label], os.urandom(100))
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_nothing_written(root, before, [upload_id(start)])


@pytest.mark.reference_bug("POST ?digest=<malformed> ignores the digest and answers 202")
@pytest.mark.parametrize("label", list(BAD_DIGESTS))
def test_invalid_digest_on_monolithic_post(api: Api, root: Path, repo: str, label: str) -> None:
    """POST /blobs/uploads/?digest=<malformed> with a body: 400 DIGEST_INVALID, nothing written."""
    api.push_blob(repo, os.urandom(8))
    before = snapshot(root)
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": BAD_DIGESTS[label]}, data=b"abc",
                    headers={"Content-Type": OCTET})  # fmt: skip
    assert_error(resp, 400, "DIGEST_INVALID")
    assert_nothing_written(root, before)


@pytest.mark.parametrize("label", list(BAD_DIGESTS))
def test_invalid_digest_on_mount(api: Api, repo: str, label: str) -> None:
    """POST ?mount=<malformed>&from=...: 400 DIGEST_INVALID, or the fallback to a plain upload (202)."""
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": BAD_DIGESTS[label], "from": "api/other"})
    if resp.status_code != 202:
        assert_error(resp, 400, "DIGEST_INVALID")


MANIFEST_DIGEST_BUGS = {
    "not-hex": "GET /manifests/<malformed digest> answers 500 UNKNOWN",
    "md5": "GET /manifests/<malformed digest> answers 500 UNKNOWN",
    "63-hex": "GET /manifests/<malformed digest> answers 500 UNKNOWN",
    "upper-hex": "GET /manifests/<malformed digest> answers 500 UNKNOWN",
}


@pytest.mark.parametrize(
    "label",
    [
        pytest.param(
            k, marks=[pytest.mark.reference_bug(MANIFEST_DIGEST_BUGS[k])] if k in MANIFEST_DIGEST_BUGS else []
        )
        for k in BAD_DIGESTS
    ],
)
def test_invalid_digest_on_manifest_endpoints(api: Api, root: Path, repo: str, label: str) -> None:
    """GET/DELETE/PUT of a manifest at a malformed digest: 400 DIGEST_INVALID (GET may say 404
    MANIFEST_UNKNOWN; ``<64 hex>`` alone is a valid tag), never a 5xx, nothing written."""
    image = oci_image()
    image.push(api, repo, "v1")
    bad = BAD_DIGESTS[label]
    before = snapshot(root)
    get = api.get_manifest(repo, bad)
    if label == "no-algorithm" or get.status_code == 404:
        assert_error(get, 404, "MANIFEST_UNKNOWN")
    else:
        assert_error(get, 400, "DIGEST_INVALID")
    delete = api.delete(f"/v2/{repo}/manifests/{bad}")
    assert delete.status_code in (400, 404), describe(delete)
    assert_error(delete, (400, 404), "DIGEST_INVALID", "MANIFEST_UNKNOWN", "UNSUPPORTED")
    if label != "no-algorithm":
        put = api.put_manifest(repo, bad, image.manifest)
        assert_error(put, 400, "DIGEST_INVALID", "TAG_INVALID", "MANIFEST_INVALID")
        assert_nothing_written(root, before)


def test_invalid_digest_on_referrers(api: Api, repo: str) -> None:
    """Referrers of a malformed digest: 400 DIGEST_INVALID (or a plain 404), never a 5xx."""
    oci_image().push(api, repo, "v1")
    resp = api.referrers(repo, "sha256:xyz")
    assert resp.status_code in (400, 404), describe(resp)
    if resp.status_code == 400:
        assert_error(resp, 400, "DIGEST_INVALID")


BAD_TAGS = {"129-chars": "a" * 129, "leading-dot": ".x", "leading-dash": "-x", "plus": "a+b"}


@pytest.mark.reference_bug("a malformed tag matches no route: 404 page not found, not 400")
@pytest.mark.parametrize("label", list(BAD_TAGS))
def test_invalid_tag_on_put(api: Api, root: Path, repo: str, label: str) -> None:
    """PUT of a manifest at a malformed tag (over 128 characters, leading ``.`` or ``-``, other
    characters): 400 with a JSON error body, nothing written."""
    image = oci_image()
    image.push(api, repo)
    before = snapshot(root)
    resp = api.put_manifest(repo, BAD_TAGS[label], image.manifest)
    assert_error(resp, 400, "TAG_INVALID", "MANIFEST_INVALID", "NAME_INVALID", "DIGEST_INVALID")
    assert_nothing_written(root, before)


@pytest.mark.parametrize("tag", ["a" * 128, "_x", "X.y-z_0", "0"])
def test_valid_edge_tags_are_accepted(api: Api, repo: str, tag: str) -> None:
    """Tags at the edges of the grammar (128 characters, leading ``_``, mixed case) are accepted."""
    image = oci_image()
    image.push(api, repo, tag)
    assert_status(api.get_manifest(repo, tag), 200)
