"""The conformance suite as it is on the spec's main branch (the Go program in ``conformance/`` with
``run.go``/``api.go``/``testdata.go``), configured as for a full-featured registry: every API enabled,
sha512 data enabled, delete enabled, and the ``1.1+dev`` extras (upload cancel, ``?tag=`` on manifest PUT).

Its tests map here as follows:

* ``ping`` -> :func:`test_ping`; ``empty`` -> :func:`test_empty_tag_list`, :func:`test_empty_referrers`;
* ``<algo> blobs`` (sha256 and sha512) -> :func:`test_blob_api` for each push method (``post only``,
  ``post+put``, ``chunked single``, ``chunked multi``, ``chunked multi and put chunk``, ``chunked
  out-of-order``, ``chunked out-of-order and put chunk``, ``stream``, ``mount``, ``mount anonymous``,
  ``mount missing``, ``post cancel``), each followed by blob-head, blob-get and blob-delete;
  ``get-missing`` -> :func:`test_blob_get_missing`; ``range requests`` -> :func:`test_blob_range`;
  ``empty`` / ``emptyJSON`` -> :func:`test_well_known_blob`; ``bad digest ...`` ->
  :func:`test_blob_bad_digest`;
* each data set (``image``, ``index``, ``artifact``, ...) -> :func:`test_data_push`,
  :func:`test_data_tag_list`, :func:`test_data_head`, :func:`test_data_pull`, :func:`test_data_referrers`,
  :func:`test_data_delete_tags`, :func:`test_data_delete_manifests`, :func:`test_data_delete_blobs`;
* ``missing-manifest`` and ``invalid-digest-format`` -> :func:`test_missing_manifest_by_digest`,
  :func:`test_missing_manifest_by_tag`, :func:`test_invalid_digest_format_put`,
  :func:`test_invalid_digest_format_get`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
import requests

from tests.support.servers import RegistryServer

from . import _datasets as ds
from ._http import (
    ALL_MANIFEST_TYPES,
    EMPTY_JSON,
    OCI_INDEX,
    OCTET,
    Api,
    assert_status,
    describe,
    digest_of,
    oci_image,
)
from .conftest import unique_repo

CHUNK_MIN = 1024
ALGOS = ("sha256", "sha512")
SHA512_BUG = "a sha512 upload is stored and announced under its sha256 digest"
#: the algorithms as test parameters, sha512 marked as a known reference failure
ALGO_PARAMS = [
    pytest.param("sha256", id="sha256"),
    pytest.param("sha512", id="sha512", marks=pytest.mark.reference_bug(SHA512_BUG)),
]


# -- blob push methods ---------------------------------------------------------------------------------
def verify_pushed(api: Api, resp: requests.Response, digest: str, data: bytes) -> None:
    """After a 201: a Docker-Content-Digest (if any) equal to the digest, a Location that serves the blob."""
    if h := resp.headers.get("Docker-Content-Digest"):
        assert h == digest, describe(resp)
    loc = resp.headers.get("Location")
    assert loc, f"no Location: {describe(resp)}"
    got = assert_status(api.get(loc), 200)
    assert got.content == data, f"Location {loc} does not serve the blob"


def finish(api: Api, loc: str, digest: str, data: bytes, bad: bool, **headers: str) -> requests.Response:
    resp = api.put(loc, params={"digest": digest}, data=data, headers={"Content-Type": OCTET, **headers})
    return assert_status(resp, 400 if bad else 201)


def push_post_only(api: Api, repo: str, data: bytes, digest: str, bad: bool = False) -> requests.Response:
    resp = api.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data, headers={"Content-Type": OCTET}
    )
    # a 202 here means the registry ignored the body (the suite falls back to a PUT and marks the API
    # unsupported); a full-featured registry completes the upload in the POST
    return assert_status(resp, 400 if bad else 201)


def push_post_put(api: Api, repo: str, data: bytes, digest: str, bad: bool = False) -> requests.Response:
    start = api.start_upload(repo)
    return finish(api, start.headers["Location"], digest, data, bad)


def push_stream(api: Api, repo: str, data: bytes, digest: str, bad: bool = False) -> requests.Response:
    start = api.start_upload(repo)
    resp = assert_status(
        api.patch(start.headers["Location"], data=data, headers={"Content-Type": OCTET}), 202
    )
    assert resp.headers.get("Location"), describe(resp)
    return finish(api, resp.headers["Location"], digest, b"", bad)


def push_chunked(
    api: Api,
    repo: str,
    data: bytes,
    digest: str,
    bad: bool = False,
    *,
    put_last: bool = False,
    out_of_order: bool = False,
) -> requests.Response:
    start = api.post(f"/v2/{repo}/blobs/uploads/", data=b"")
    assert_status(start, 202)
    loc = start.headers.get("Location", "")
    assert loc, describe(start)
    size = max(len(data) // 3 + 1, int(start.headers.get("OCI-Chunk-Min-Length") or 0), CHUNK_MIN)
    size = min(size, len(data))
    last = -1
    final: requests.Response | None = None
    while last < len(data) - 1:
        if out_of_order:
            # skip ahead a chunk, or back to the start when that runs past the end: must be refused
            bad_start = last + 1 + size
            if bad_start >= len(data):
                bad_start = 0
            bad_end = min(bad_start + size - 1, len(data) - 1)
            headers = {"Content-Type": OCTET, "Content-Range": f"{bad_start}-{bad_end}"}
            body = data[bad_start : bad_end + 1]
            if put_last and bad_end == len(data) - 1:
                resp = api.put(loc, params={"digest": digest}, data=body, headers=headers)
            else:
                resp = api.patch(loc, data=body, headers=headers)
            assert_status(resp, 416)
            loc = resp.headers.get("Location") or loc
            status = assert_status(api.get(loc), 204)
            loc = status.headers.get("Location") or loc
            rng = status.headers.get("Range", "")
            assert rng.startswith("0-"), f"upload status Range {rng!r}: {describe(status)}"
            if last >= 0:
                assert int(rng[2:]) == last, f"upload status Range {rng!r}, expected 0-{last}"
        first = last + 1
        last = min(first + size - 1, len(data) - 1)
        chunk = data[first : last + 1]
        if put_last and last == len(data) - 1:
            final = finish(api, loc, digest, chunk, bad, **{"Content-Range": f"{first}-{last}"})
        else:
            resp = assert_status(api.put_chunk(loc, chunk, first), 202)
            loc = resp.headers.get("Location", "")
            assert loc, describe(resp)
    if final is None:
        final = finish(api, loc, digest, b"", bad)
    return final


PushFn = Callable[..., requests.Response]
METHODS: dict[str, PushFn] = {
    "post only": push_post_only,
    "post+put": push_post_put,
    "chunked single": push_chunked,
    "chunked multi": push_chunked,
    "chunked multi and put chunk": lambda *a, **k: push_chunked(*a, **k, put_last=True),
    "chunked out-of-order": lambda *a, **k: push_chunked(*a, **k, out_of_order=True),
    "chunked out-of-order and put chunk": lambda *a, **k: push_chunked(
        *a, **k, out_of_order=True, put_last=True
    ),
    "stream": push_stream,
}
MULTI_CHUNK = {
    "chunked multi",
    "chunked multi and put chunk",
    "chunked out-of-order",
    "chunked out-of-order and put chunk",
}


def check_head_get(api: Api, repo: str, digest: str, data: bytes) -> None:
    """blob-head and blob-get: 200, Content-Length, the bytes, Docker-Content-Digest (if any) correct."""
    head = assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 200)
    assert head.content == b"", describe(head)
    assert head.headers.get("Content-Length") == str(len(data)), describe(head)
    get = assert_status(api.get(f"/v2/{repo}/blobs/{digest}"), 200)
    assert get.content == data
    assert get.headers.get("Content-Length") == str(len(data)), describe(get)
    for resp in (head, get):
        if h := resp.headers.get("Docker-Content-Digest"):
            assert h == digest, describe(resp)


def delete_blob(api: Api, repo: str, digest: str) -> None:
    """blob-delete: 202, and the blob is gone at once (HEAD 404)."""
    assert_status(api.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 404)


# -- ping and empty repository -------------------------------------------------------------------------
def test_ping(api: Api) -> None:
    """ping: GET /v2/ answers 200."""
    assert_status(api.get("/v2/"), 200)


def test_empty_tag_list(api: Api, repo: str) -> None:
    """empty / tag list: the tag list of a repository never pushed to is 200 with a tag list, or 404."""
    resp = api.tags(repo)
    assert resp.status_code in (200, 404), describe(resp)
    if resp.status_code == 200:
        assert isinstance(resp.json().get("tags") or [], list)


@pytest.mark.reference_bug("no referrers API (404 page not found)")
def test_empty_referrers(api: Api, repo: str) -> None:
    """empty / referrers: referrers of a random digest are an empty OCI index (200)."""
    resp = assert_status(api.referrers(repo, digest_of(os.urandom(16))), 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
    doc = resp.json()
    assert doc.get("mediaType") == OCI_INDEX and doc.get("schemaVersion") == 2, doc
    assert doc.get("manifests") == [], doc


# -- blob APIs per algorithm ---------------------------------------------------------------------------
_REF_METHOD_BUGS = {
    "post only": "POST ?digest= with a body answers 202 (the body is ignored; no single-POST upload)",
    "chunked out-of-order": "accepts a chunk at the wrong offset (202, not 416)",
    "chunked out-of-order and put chunk": "accepts a chunk at the wrong offset (202, not 416)",
}


def _method_params() -> list[object]:
    out: list[object] = []
    for algo in ALGOS:
        for name in METHODS:
            marks = [pytest.mark.reference_bug(_REF_METHOD_BUGS[name])] if name in _REF_METHOD_BUGS else []
            if algo == "sha512" and not marks:
                marks = [pytest.mark.reference_bug(SHA512_BUG)]
            out.append(pytest.param(algo, name, marks=marks, id=f"{algo}-{name.replace(' ', '-')}"))
    return out


@pytest.mark.parametrize(("algo", "method"), _method_params())
def test_blob_api(api: Api, repo: str, algo: str, method: str) -> None:
    """<algo> blobs / <method>: push a random blob with one upload method (201, digest header, Location
    serving it), then blob-head, blob-get and blob-delete (202, then HEAD 404)."""
    size = CHUNK_MIN * 3 - 5 if method in MULTI_CHUNK else 512
    data = os.urandom(size)
    digest = digest_of(data, algo)
    resp = METHODS[method](api, repo, data, digest)
    verify_pushed(api, resp, digest, data)
    check_head_get(api, repo, digest, data)
    delete_blob(api, repo, digest)


@pytest.mark.parametrize("algo", ALGO_PARAMS)
def test_blob_mount(api: Api, repo: str, repo2: str, algo: str) -> None:
    """<algo> blobs / mount: push to a second repository, mount it from there (201), head/get/delete."""
    data = os.urandom(512)
    digest = api.push_blob(repo2, data, algo)
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": repo2})
    assert_status(resp, 201)
    verify_pushed(api, resp, digest, data)
    check_head_get(api, repo, digest, data)
    delete_blob(api, repo, digest)
    delete_blob(api, repo2, digest)


@pytest.mark.reference_bug("no automatic cross-mount: a mount without from answers 202")
@pytest.mark.parametrize("algo", ALGO_PARAMS)
def test_blob_mount_anonymous(api: Api, repo: str, repo2: str, algo: str) -> None:
    """<algo> blobs / mount anonymous: a mount without ``from`` of a blob the registry holds (201)."""
    data = os.urandom(512)
    digest = api.push_blob(repo2, data, algo)
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest})
    assert_status(resp, 201)
    verify_pushed(api, resp, digest, data)
    check_head_get(api, repo, digest, data)
    delete_blob(api, repo, digest)
    delete_blob(api, repo2, digest)


@pytest.mark.parametrize("algo", ALGO_PARAMS)
def test_blob_mount_missing(api: Api, repo: str, repo2: str, algo: str) -> None:
    """<algo> blobs / mount missing: mounting a blob the source repository lacks falls back to an upload
    (202 with an upload Location), which a PUT then completes (201)."""
    data = os.urandom(512)
    digest = digest_of(data, algo)
    resp = api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": repo2})
    assert_status(resp, 202)
    put = finish(api, resp.headers["Location"], digest, data, False)
    verify_pushed(api, put, digest, data)
    check_head_get(api, repo, digest, data)
    delete_blob(api, repo, digest)


def test_blob_post_cancel(api: Api, repo: str) -> None:
    """blobs / post cancel: DELETE of an upload session answers 204 (1.1+dev profile)."""
    start = api.start_upload(repo)
    assert_status(api.delete(start.headers["Location"]), 204)


def test_blob_get_missing(api: Api, repo: str) -> None:
    """blobs / get-missing: GET of a blob never pushed answers 404."""
    assert_status(api.get(f"/v2/{repo}/blobs/{digest_of(os.urandom(32))}"), 404)


_RANGE_BUG = pytest.mark.reference_bug("an unsatisfiable Range breaks the connection instead of a 416")
RANGE_CASES = [
    pytest.param("500-1499", 500, 1499, id="500-1499"),
    pytest.param("500-", 500, 2047, id="500-"),
    pytest.param("-500", 1548, 2047, id="-500"),
    pytest.param("2000-5000", 2000, 2047, id="2000-5000"),
    pytest.param("500-0", None, None, id="500-0", marks=_RANGE_BUG),
    pytest.param("5000-10000", None, None, id="5000-10000", marks=_RANGE_BUG),
]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(("spec", "first", "last"), RANGE_CASES)
def test_blob_range(
    api: Api,
    repo: str,
    algo: str,
    spec: str,
    first: int | None,
    last: int | None,
    request: pytest.FixtureRequest,
) -> None:
    """blobs / range requests: ``Range: bytes=<spec>`` on a 2048-byte blob answers 206 with the bytes,
    Content-Length and ``Content-Range: bytes a-b/2048`` (or ``/*``); an unsatisfiable range answers 416
    (a full 200 would mean ranges are unsupported)."""
    data = os.urandom(2048)
    digest = api.push_blob(repo, data, algo)
    try:
        resp = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={spec}"})
    except requests.ConnectionError as exc:  # the reference breaks the connection on a 416
        raise AssertionError(f"Range bytes={spec}: connection broken: {exc}") from exc
    if first is None or last is None:
        assert_status(resp, 416)
        return
    assert_status(resp, 206)
    assert resp.content == data[first : last + 1]
    assert resp.headers.get("Content-Length") == str(last - first + 1), describe(resp)
    assert resp.headers.get("Content-Range") in (f"bytes {first}-{last}/2048", f"bytes {first}-{last}/*")


@pytest.mark.parametrize("algo", ALGO_PARAMS)
@pytest.mark.parametrize("name", ["empty", "emptyJSON"])
def test_well_known_blob(api: Api, repo: str, algo: str, name: str) -> None:
    """blobs / empty, emptyJSON: the zero-byte blob and ``{}`` push, head, get and delete."""
    data = b"" if name == "empty" else EMPTY_JSON
    digest = api.push_blob(repo, data, algo)
    check_head_get(api, repo, digest, data)
    delete_blob(api, repo, digest)


BAD_METHODS: dict[str, PushFn] = {
    "post only": push_post_only,
    "post+put": push_post_put,
    "chunked": push_chunked,
    "chunked and put chunk": lambda *a, **k: push_chunked(*a, **k, put_last=True),
    "stream": push_stream,
}


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("method", list(BAD_METHODS), ids=[m.replace(" ", "-") for m in BAD_METHODS])
def test_blob_bad_digest(api: Api, repo: str, algo: str, method: str) -> None:
    """blobs / bad digest <method>: content that does not match the digest is refused with 400 and the
    blob does not appear."""
    data = os.urandom(CHUNK_MIN * 3 - 5)
    digest = digest_of(data, algo)
    corrupted = data + b"oh no"
    if method == "post only":
        resp = api.post(
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest},
            data=corrupted,
            headers={"Content-Type": OCTET},
        )
        assert resp.status_code in (400, 202), describe(resp)
        if resp.status_code == 202:  # the suite allows the fallback to a PUT here
            finish(api, resp.headers["Location"], digest, corrupted, True)
    else:
        BAD_METHODS[method](api, repo, corrupted, digest, True)
    assert_status(api.head(f"/v2/{repo}/blobs/{digest}"), 404)


# -- data sets -----------------------------------------------------------------------------------------
_DATA_BUGS_REFERRERS = "no referrers support (no OCI-Subject header, no referrers API)"
_PUSH_BUGS = {
    "non-distributable-layers": "500 UNKNOWN on a manifest with non-distributable (urls) layers",
    "sha512": "400 DIGEST_INVALID on PUT of a manifest by its sha512 digest",
    "tag-param-sha512": "400 DIGEST_INVALID on PUT of a manifest by its sha512 digest",
}
_TAG_PARAM_BUGS = {
    "tag-param-sha256": "no ?tag= parameter on manifest PUT: the tags are never created",
    "tag-param-sha512": "no ?tag= parameter on manifest PUT: the tags are never created",
}
_DATA_BUGS = {
    "artifacts-with-subject": _DATA_BUGS_REFERRERS,
    "index-with-subject": _DATA_BUGS_REFERRERS,
    "missing-subject": _DATA_BUGS_REFERRERS,
    "tag-param-sha256": "no ?tag= parameter on manifest PUT (no OCI-Tag header)",
    "tag-param-sha512": "no ?tag= parameter on manifest PUT (no OCI-Tag header)",
}


def data_params(names: list[str], bugs: dict[str, str]) -> list[object]:
    return [
        pytest.param(n, marks=[pytest.mark.reference_bug(bugs[n])] if n in bugs else [], id=n) for n in names
    ]


ALL_DATA = list(ds.BUILDERS)


class Pushed:
    def __init__(self, data: ds.DataSet) -> None:
        self.data = data
        self.repo = unique_repo(f"data-{data.name}")
        self.pushed = False


@pytest.fixture(scope="module")
def datasets(srv: RegistryServer) -> dict[str, Pushed]:
    return {}


def get_data(datasets: dict[str, Pushed], name: str) -> Pushed:
    if name not in datasets:
        datasets[name] = Pushed(ds.BUILDERS[name]())
    return datasets[name]


def require_pushed(p: Pushed) -> None:
    if not p.pushed:
        pytest.fail(f"data set {p.data.name} was not pushed (test_data_push failed)")


def accept() -> dict[str, str]:
    return {"Accept": ", ".join(ALL_MANIFEST_TYPES)}


@pytest.mark.parametrize("name", data_params(ALL_DATA, _DATA_BUGS | _PUSH_BUGS))
def test_data_push(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / push: blobs, then manifests by digest (children first), then tags. Each manifest PUT
    answers 201 with a Location serving it (Content-Type, Content-Length, body), a Docker-Content-Digest
    (if any) equal to its digest and, for a manifest with a subject, ``OCI-Subject``; with ``?tag=``
    parameters, ``OCI-Tag`` names the tags. A manifest whose bytes do not match the digest it is pushed at
    answers 400. (Header problems are reported after everything is pushed, so later phases have content.)"""
    p = get_data(datasets, name)
    d, repo = p.data, p.repo
    for digest, blob in d.blobs.items():
        api.push_blob(repo, blob, digest.split(":", 1)[0])
    tags_by_digest: dict[str, list[str]] = {}
    for tag, digest in d.tags.items():
        tags_by_digest.setdefault(digest, []).append(tag)
    problems: list[str] = []
    for digest in d.order:
        body, media_type = d.manifests[digest]
        params = {"tag": tags_by_digest[digest]} if d.tag_param and digest in tags_by_digest else {}
        resp = api.put(
            f"/v2/{repo}/manifests/{digest}", data=body, headers={"Content-Type": media_type}, params=params
        )
        if digest in d.bad_digest:
            assert_status(resp, 400)
            continue
        problems += check_manifest_put(api, resp, digest, body, media_type, d.subject_of(digest))
        if params:
            announced = {t.strip() for h in resp.raw.headers.getlist("OCI-Tag") for t in h.split(",")}
            if missing := set(tags_by_digest[digest]) - announced:
                problems.append(f"OCI-Tag does not list {sorted(missing)}: {describe(resp)}")
    if not d.tag_param:
        for tag, digest in d.tags.items():
            body, media_type = d.manifests[digest]
            resp = api.put(f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": media_type})
            problems += check_manifest_put(api, resp, digest, body, media_type, d.subject_of(digest))
    p.pushed = True
    assert not problems, "\n".join(problems)


def check_manifest_put(
    api: Api, resp: requests.Response, digest: str, body: bytes, media_type: str, subject: str | None
) -> list[str]:
    """Asserts the 201 and a Location serving the manifest; returns the header problems found."""
    assert_status(resp, 201)
    problems = []
    if (h := resp.headers.get("Docker-Content-Digest")) and h != digest:
        problems.append(f"Docker-Content-Digest {h} != {digest}: {describe(resp)}")
    if subject is not None and resp.headers.get("OCI-Subject") != subject:
        problems.append(f"OCI-Subject missing or wrong (want {subject}): {describe(resp)}")
    loc = resp.headers.get("Location")
    assert loc, describe(resp)
    got = assert_status(api.get(loc, headers=accept()), 200)
    assert got.headers.get("Content-Type") == media_type, describe(got)
    assert got.headers.get("Content-Length") == str(len(body)), describe(got)
    assert got.content == body
    return problems


@pytest.mark.parametrize(
    "name",
    data_params(
        ALL_DATA,
        _TAG_PARAM_BUGS
        | _PUSH_BUGS
        | {n: "tags/list ignores last" for n in ("artifacts-with-subject", "index-with-subject")},
    ),
)
def test_data_tag_list(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / tag-list: every pushed tag is listed; with two or more tags, ``last`` set to the
    middle tag lists exactly the tags after it."""
    p = get_data(datasets, name)
    require_pushed(p)
    resp = api.tags(p.repo)
    if not p.data.tags:
        assert resp.status_code in (200, 404), describe(resp)
        return
    tags = api.tag_list(p.repo)
    assert set(p.data.tags) <= set(tags), f"missing tags {set(p.data.tags) - set(tags)}"
    if len(tags) >= 2:
        ordered = sorted(tags)
        end = len(ordered) // 2
        partial = api.tag_list(p.repo, last=ordered[end - 1])
        assert not set(ordered[:end]) & set(partial), f"last={ordered[end - 1]} still lists {partial}"
        assert set(ordered[end:]) <= set(partial), f"last={ordered[end - 1]} lists only {partial}"


def _refs(d: ds.DataSet) -> list[tuple[str, str]]:
    return [(t, dg) for t, dg in d.tags.items()] + [(dg, dg) for dg in d.order if dg not in d.bad_digest]


@pytest.mark.parametrize("name", data_params(ALL_DATA, _TAG_PARAM_BUGS | _PUSH_BUGS))
def test_data_head(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / head: HEAD of each manifest by tag and by digest (200, no body, Content-Type its media
    type, Content-Length, Docker-Content-Digest), and of each blob (200, Content-Length)."""
    p = get_data(datasets, name)
    require_pushed(p)
    for ref, digest in _refs(p.data):
        body, media_type = p.data.manifests[digest]
        resp = assert_status(api.head(f"/v2/{p.repo}/manifests/{ref}", headers=accept()), 200)
        assert resp.content == b""
        assert resp.headers.get("Content-Type") == media_type, describe(resp)
        assert resp.headers.get("Content-Length") == str(len(body)), describe(resp)
        assert resp.headers.get("Docker-Content-Digest") in (None, digest), describe(resp)
    for digest, blob in p.data.blobs.items():
        resp = assert_status(api.head(f"/v2/{p.repo}/blobs/{digest}"), 200)
        assert resp.headers.get("Content-Length") == str(len(blob)), describe(resp)


@pytest.mark.parametrize("name", data_params(ALL_DATA, _TAG_PARAM_BUGS | _PUSH_BUGS))
def test_data_pull(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / pull: GET of each manifest by tag and by digest (200, the exact bytes, Content-Type,
    Content-Length, Docker-Content-Digest) and of each blob."""
    p = get_data(datasets, name)
    require_pushed(p)
    for ref, digest in _refs(p.data):
        body, media_type = p.data.manifests[digest]
        resp = assert_status(api.get(f"/v2/{p.repo}/manifests/{ref}", headers=accept()), 200)
        assert resp.content == body, f"{ref}: body differs"
        assert resp.headers.get("Content-Type") == media_type, describe(resp)
        assert resp.headers.get("Content-Length") == str(len(body)), describe(resp)
        assert resp.headers.get("Docker-Content-Digest") in (None, digest), describe(resp)
    for digest, blob in p.data.blobs.items():
        resp = assert_status(api.get(f"/v2/{p.repo}/blobs/{digest}"), 200)
        assert resp.content == blob


def _matches(entry: dict[str, object], goal: dict[str, object]) -> bool:
    if any(entry.get(k) != goal.get(k) for k in ("digest", "mediaType", "size")):
        return False
    if (entry.get("artifactType") or "") != (goal.get("artifactType") or ""):
        return False
    want = goal.get("annotations") or {}
    have = entry.get("annotations") or {}
    assert isinstance(want, dict) and isinstance(have, dict)
    return all(have.get(k) == v for k, v in want.items())


@pytest.mark.reference_bug("no referrers API (404 page not found)")
@pytest.mark.parametrize("name", list(ds.WITH_SUBJECT))
def test_data_referrers(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / referrers: the referrers of each subject list every manifest that names it (digest,
    mediaType, size, artifactType, annotations); filtered by each artifactType, the answer carries
    ``OCI-Filters-Applied: artifactType`` and lists exactly the referrers of that type."""
    p = get_data(datasets, name)
    require_pushed(p)
    for subject, goals in p.data.referrers.items():
        resp = assert_status(api.referrers(p.repo, subject), 200)
        assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
        doc = resp.json()
        assert doc.get("mediaType") == OCI_INDEX and doc.get("schemaVersion") == 2, doc
        for goal in goals:
            assert any(_matches(e, goal) for e in doc["manifests"]), f"{goal} missing from {doc['manifests']}"
        for artifact_type in {str(g["artifactType"]) for g in goals}:
            resp = assert_status(api.referrers(p.repo, subject, artifactType=artifact_type), 200)
            applied = {f.strip() for f in resp.headers.get("OCI-Filters-Applied", "").split(",")}
            assert "artifactType" in applied, describe(resp)
            listed = resp.json()["manifests"]
            for goal in goals:
                if goal["artifactType"] == artifact_type:
                    assert any(_matches(e, goal) for e in listed), f"{goal} missing from {listed}"
            assert all(e.get("artifactType") == artifact_type for e in listed), listed


@pytest.mark.reference_bug("DELETE /manifests/<tag> answers 400 DIGEST_INVALID")
@pytest.mark.parametrize("name", [n for n in ALL_DATA if n not in ("sha512", "bad-digest-image")])
def test_data_delete_tags(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / tag-delete: DELETE of each tag answers 202 and the tag is gone at once (HEAD 404)."""
    p = get_data(datasets, name)
    require_pushed(p)
    for tag in p.data.tags:
        assert_status(api.delete(f"/v2/{p.repo}/manifests/{tag}"), 202)
        assert_status(api.head(f"/v2/{p.repo}/manifests/{tag}", headers=accept()), 404)


@pytest.mark.parametrize("name", data_params(ALL_DATA, _PUSH_BUGS))
def test_data_delete_manifests(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / manifest-delete: DELETE of each manifest by digest (last pushed first) answers 202
    (404 for one that was refused) and it is gone at once (HEAD 404)."""
    p = get_data(datasets, name)
    require_pushed(p)
    for digest in reversed(p.data.order):
        resp = api.delete(f"/v2/{p.repo}/manifests/{digest}")
        assert_status(resp, 404 if digest in p.data.bad_digest else 202)
        assert_status(api.head(f"/v2/{p.repo}/manifests/{digest}", headers=accept()), 404)


@pytest.mark.parametrize("name", ALL_DATA)
def test_data_delete_blobs(api: Api, datasets: dict[str, Pushed], name: str) -> None:
    """<data set> / blob-delete: DELETE of each blob answers 202 and it is gone at once (HEAD 404)."""
    p = get_data(datasets, name)
    for digest in p.data.blobs:
        delete_blob(api, p.repo, digest)


# -- manifest error conditions -------------------------------------------------------------------------
def test_missing_manifest_by_digest(api: Api, repo: str) -> None:
    """missing-manifest / by-digest: GET of an unknown manifest digest answers 404."""
    api.push_blob(repo, os.urandom(16))
    assert_status(api.get_manifest(repo, digest_of(os.urandom(1024))), 404)


def test_missing_manifest_by_tag(api: Api, repo: str) -> None:
    """missing-manifest / by-tag: GET of an unknown tag answers 404."""
    api.push_blob(repo, os.urandom(16))
    assert_status(api.get_manifest(repo, f"missing-{os.urandom(8).hex()}"), 404)


@pytest.mark.reference_bug("PUT /manifests/sha256:baddigeststring answers 500 UNKNOWN")
def test_invalid_digest_format_put(api: Api, repo: str) -> None:
    """invalid-digest-format / manifest-put: PUT of a manifest at ``sha256:baddigeststring`` answers 400."""
    image = oci_image(layers=1)
    for blob in image.blobs.values():
        api.push_blob(repo, blob)
    assert_status(api.put_manifest(repo, "sha256:baddigeststring", image.manifest), 400)


@pytest.mark.reference_bug("GET /manifests/sha256:baddigeststring answers 500 UNKNOWN")
def test_invalid_digest_format_get(api: Api, repo: str) -> None:
    """invalid-digest-format / manifest-get: GET of ``sha256:baddigeststring`` answers 404 or 400."""
    image = oci_image(layers=1)
    image.push(api, repo)
    assert_status(api.get_manifest(repo, "sha256:baddigeststring"), 400, 404)
    assert json.loads(image.manifest)
