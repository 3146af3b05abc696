"""Small raw-HTTP helpers for the API suite: a ``requests`` client bound to one server, builders for blobs,
images, indexes and artifacts, assertions on the spec's JSON error body, storage-root snapshots and a raw
socket sender for requests that ``requests`` will not send (short bodies, dropped connections)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import socket
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

# -- media types ---------------------------------------------------------------------------------------
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCTET = "application/octet-stream"
EXAMPLE_TYPE_1 = "application/vnd.example.oci.conformance.v1"
EXAMPLE_TYPE_2 = "application/vnd.example.oci.conformance.v2"

#: Every manifest type we push, for Accept headers.
ALL_MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)

#: The error codes of the OCI distribution spec (plus the reference's extras that dockyard also uses).
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "TAG_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
DIGEST_RE = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")


# -- digests and JSON ----------------------------------------------------------------------------------
def digest_of(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (what is pushed is exactly what the digest is computed over)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def descriptor(media_type: str, content: bytes, algo: str = "sha256", **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(content, algo), "size": len(content), **extra}


def tar_gz_layer(name: str = "file.txt", content: bytes | None = None, *, compress: bool = True) -> bytes:
    """A small tar layer holding one file (gzip-compressed unless ``compress`` is false)."""
    content = content if content is not None else f"layer content {os.urandom(8).hex()}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"./{name}")
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def image_config(author: str | None = None, diff_ids: list[str] | None = None, **extra: Any) -> bytes:
    cfg: dict[str, Any] = {
        "architecture": extra.pop("architecture", "amd64"),
        "os": extra.pop("os", "linux"),
        "rootfs": {"type": "layers", "diff_ids": diff_ids or []},
    }
    if author is not None:
        cfg["author"] = author
    cfg.update(extra)
    return dumps(cfg)


# -- describing responses ------------------------------------------------------------------------------
_SHOWN_HEADERS = (
    "Location",
    "Range",
    "Content-Range",
    "Content-Type",
    "Content-Length",
    "Docker-Content-Digest",
    "Docker-Upload-UUID",
    "OCI-Subject",
    "OCI-Filters-Applied",
    "Link",
)


def describe(resp: requests.Response) -> str:
    """One line for assertion messages: request, status, interesting headers and the start of the body."""
    req = resp.request
    headers = {k: resp.headers[k] for k in _SHOWN_HEADERS if k in resp.headers}
    try:
        body = resp.content[:400]
    except requests.RequestException as exc:  # pragma: no cover - body already read
        body = repr(exc).encode()
    return f"{req.method} {req.url} -> {resp.status_code} {headers} body={body!r}"


def assert_status(resp: requests.Response, *statuses: int) -> requests.Response:
    assert resp.status_code in statuses, f"expected status {statuses}, got {describe(resp)}"
    return resp


def assert_not_5xx(resp: requests.Response) -> requests.Response:
    assert resp.status_code < 500, f"server error: {describe(resp)}"
    return resp


def error_codes(resp: requests.Response) -> list[str]:
    """The codes of a spec JSON error body, asserting its shape: ``{"errors": [{"code", "message",
    "detail"?}, ...]}`` with at least one entry, ``code`` and ``message`` strings."""
    try:
        body = resp.json()
    except ValueError as exc:
        raise AssertionError(f"error body is not JSON: {describe(resp)}") from exc
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), (
        f"no errors list: {describe(resp)}"
    )
    assert body["errors"], f"empty errors list: {describe(resp)}"
    codes = []
    for entry in body["errors"]:
        assert isinstance(entry, dict), f"error entry is not an object: {describe(resp)}"
        assert isinstance(entry.get("code"), str), f"error without a string code: {describe(resp)}"
        assert isinstance(entry.get("message", ""), str), f"error message not a string: {describe(resp)}"
        codes.append(entry["code"])
    return codes


def assert_error(resp: requests.Response, statuses: int | Iterable[int], *codes: str) -> list[str]:
    """The response has one of ``statuses`` and a spec JSON error body whose first code is one of ``codes``
    (any spec code when none are given)."""
    wanted = (statuses,) if isinstance(statuses, int) else tuple(statuses)
    assert resp.status_code in wanted, f"expected status {wanted}, got {describe(resp)}"
    found = error_codes(resp)
    allowed = set(codes) if codes else SPEC_ERROR_CODES
    assert found[0] in allowed, f"expected error code in {sorted(allowed)}, got {found}: {describe(resp)}"
    return found


def assert_error_or_no_route(resp: requests.Response, code: str) -> None:
    """400 with ``code`` in the JSON error body, or a plain 404 (no route matched) — never a 5xx."""
    assert_not_5xx(resp)
    if resp.status_code == 404:
        return
    assert_error(resp, 400, code)


# -- the client ----------------------------------------------------------------------------------------
class Api:
    """A ``requests`` session bound to one registry base URL. Paths may be ``/v2/...`` or any Location a
    server returned (absolute or relative)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> requests.Response:
        return self.request("HEAD", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # -- blobs ---------------------------------------------------------------------------------------
    def start_upload(self, repo: str, **params: str) -> requests.Response:
        """POST /v2/<repo>/blobs/uploads/ (with ``params``); asserts 202 and a Location."""
        resp = self.post(f"/v2/{repo}/blobs/uploads/", params=params or None, data=b"")
        assert_status(resp, 202)
        assert resp.headers.get("Location"), f"upload start without Location: {describe(resp)}"
        return resp

    def put_chunk(self, location: str, data: bytes, start: int) -> requests.Response:
        return self.patch(
            location,
            data=data,
            headers={"Content-Type": OCTET, "Content-Range": f"{start}-{start + len(data) - 1}"},
        )

    def finish_upload(self, location: str, digest: str, data: bytes = b"") -> requests.Response:
        return self.put(location, params={"digest": digest}, data=data, headers={"Content-Type": OCTET})

    def push_blob(self, repo: str, data: bytes, algo: str = "sha256") -> str:
        """POST + monolithic PUT; asserts 201 and returns the digest."""
        digest = digest_of(data, algo)
        start = self.start_upload(repo)
        resp = self.finish_upload(start.headers["Location"], digest, data)
        assert_status(resp, 201)
        return digest

    def push_blobs(self, repo: str, *blobs: bytes) -> list[str]:
        return [self.push_blob(repo, b) for b in blobs]

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self.head(f"/v2/{repo}/blobs/{digest}")
        assert resp.status_code in (200, 404), describe(resp)
        return resp.status_code == 200

    # -- manifests -----------------------------------------------------------------------------------
    def put_manifest(
        self, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST, **params: str
    ) -> requests.Response:
        return self.put(
            f"/v2/{repo}/manifests/{ref}",
            data=body,
            headers={"Content-Type": media_type},
            params=params or None,
        )

    def push_manifest(self, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        """PUT a manifest; asserts 201 and returns its digest."""
        resp = self.put_manifest(repo, ref, body, media_type)
        assert_status(resp, 201)
        return digest_of(body)

    def get_manifest(
        self, repo: str, ref: str, accept: Iterable[str] = ALL_MANIFEST_TYPES
    ) -> requests.Response:
        return self.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(accept)})

    def head_manifest(
        self, repo: str, ref: str, accept: Iterable[str] = ALL_MANIFEST_TYPES
    ) -> requests.Response:
        return self.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(accept)})

    def tags(self, repo: str, **params: str) -> requests.Response:
        return self.get(f"/v2/{repo}/tags/list", params=params or None)

    def tag_list(self, repo: str, **params: str) -> list[str]:
        resp = assert_status(self.tags(repo, **params), 200)
        return list(resp.json().get("tags") or [])

    def referrers(self, repo: str, digest: str, **params: str) -> requests.Response:
        return self.get(f"/v2/{repo}/referrers/{digest}", params=params or None)


def location_path(resp: requests.Response) -> str:
    """The path (without query) of a response's Location header."""
    loc = resp.headers.get("Location", "")
    return urlsplit(loc).path


def upload_id(resp: requests.Response) -> str:
    """The upload session id: the last path segment of the Location header."""
    return location_path(resp).rstrip("/").rsplit("/", 1)[-1]


# -- images --------------------------------------------------------------------------------------------
@dataclass
class Image:
    """A manifest (or index) with the blobs it needs; ``children`` are the manifests an index names."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Image] = field(default_factory=list)
    algo: str = "sha256"

    @property
    def digest(self) -> str:
        return digest_of(self.manifest, self.algo)

    @property
    def doc(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.manifest)
        return loaded

    def desc(self, **extra: Any) -> dict[str, Any]:
        return descriptor(self.media_type, self.manifest, self.algo, **extra)

    def push(self, api: Api, repo: str, ref: str | None = None) -> requests.Response:
        """Push blobs, children (by digest) and this manifest at ``ref`` (its digest by default); asserts
        every step succeeds and returns the final PUT response."""
        for child in self.children:
            child.push(api, repo)
        for data in self.blobs.values():
            if not api.blob_exists(repo, digest_of(data, self.algo)):
                api.push_blob(repo, data, self.algo)
        resp = api.put_manifest(repo, ref or self.digest, self.manifest, self.media_type)
        return assert_status(resp, 201)


def oci_image(
    *,
    layers: int = 1,
    annotations: Mapping[str, str] | None = None,
    subject: Image | dict[str, Any] | None = None,
    artifact_type: str | None = None,
    config: bytes | None = None,
    config_type: str = OCI_CONFIG,
    layer_type: str = OCI_LAYER_GZIP,
    layer_blobs: list[bytes] | None = None,
    algo: str = "sha256",
    extra: Mapping[str, Any] | None = None,
) -> Image:
    """An OCI image manifest with ``layers`` fresh random layers (or ``layer_blobs``) and a config."""
    blobs = layer_blobs if layer_blobs is not None else [tar_gz_layer(f"f{i}.txt") for i in range(layers)]
    cfg = config if config is not None else image_config(author=os.urandom(8).hex())
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, cfg, algo),
        "layers": [descriptor(layer_type, b, algo) for b in blobs],
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject is not None:
        doc["subject"] = subject.desc() if isinstance(subject, Image) else subject
    if annotations:
        doc["annotations"] = dict(annotations)
    if extra:
        doc.update(extra)
    all_blobs = {digest_of(cfg, algo): cfg} | {digest_of(b, algo): b for b in blobs}
    return Image(dumps(doc), OCI_MANIFEST, all_blobs, algo=algo)


def artifact(
    *,
    artifact_type: str = EXAMPLE_TYPE_1,
    subject: Image | dict[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
    payload: bytes | None = None,
    layer_type: str | None = None,
) -> Image:
    """An artifact manifest: ``artifactType`` set, config the empty JSON descriptor, one payload layer."""
    body = payload if payload is not None else os.urandom(64)
    return oci_image(
        artifact_type=artifact_type,
        config=EMPTY_JSON,
        config_type=OCI_EMPTY,
        layer_blobs=[body],
        layer_type=layer_type or artifact_type,
        subject=subject,
        annotations=annotations,
    )


def oci_index(
    children: list[Image],
    *,
    media_type: str = OCI_INDEX,
    subject: Image | None = None,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    algo: str = "sha256",
    extra: Mapping[str, Any] | None = None,
) -> Image:
    """An index (or Docker manifest list) over ``children`` (amd64, arm64, ... platforms in turn)."""
    arches = ["amd64", "arm64", "ppc64le", "s390x", "riscv64"]
    manifests = [
        child.desc(platform={"architecture": arches[i % len(arches)], "os": "linux"})
        for i, child in enumerate(children)
    ]
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject is not None:
        doc["subject"] = subject.desc()
    if annotations:
        doc["annotations"] = dict(annotations)
    if extra:
        doc.update(extra)
    return Image(dumps(doc), media_type, {}, list(children), algo=algo)


def docker_image(layers: int = 1) -> Image:
    """A Docker schema 2 image manifest."""
    blobs = [tar_gz_layer(f"d{i}.txt") for i in range(layers)]
    cfg = image_config(author=os.urandom(8).hex())
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, cfg),
        "layers": [descriptor(DOCKER_LAYER, b) for b in blobs],
    }
    return Image(dumps(doc), DOCKER_MANIFEST, {digest_of(cfg): cfg} | {digest_of(b): b for b in blobs})


# -- storage snapshots ---------------------------------------------------------------------------------
def snapshot(root: Path) -> set[str]:
    """Every file and directory under ``root``, as POSIX paths relative to it."""
    return {p.relative_to(root).as_posix() + ("/" if p.is_dir() else "") for p in root.rglob("*")}


def new_paths(root: Path, before: set[str], uploads: Iterable[str] = ()) -> set[str]:
    """Paths that appeared since ``before``, ignoring ``_uploads/<id>`` of the given upload ids (and the
    directories leading to them)."""
    ids = set(uploads)
    added = snapshot(root) - before
    allowed_dirs: set[str] = set()
    for path in added:
        parts = path.rstrip("/").split("/")
        for i, part in enumerate(parts[:-1]):
            if part == "_uploads" and parts[i + 1] in ids:
                allowed_dirs.update("/".join(parts[:j]) + "/" for j in range(1, i + 2))
    return {
        p
        for p in added
        if p not in allowed_dirs
        and not any(f"/_uploads/{u}/" in f"/{p}" or p.endswith(f"/_uploads/{u}/") for u in ids)
    }


def assert_nothing_written(root: Path, before: set[str], uploads: Iterable[str] = ()) -> None:
    added = new_paths(root, before, uploads)
    assert not added, f"files written under the storage root: {sorted(added)[:20]}"


def committed_blobs(root: Path) -> set[str]:
    """Digests that have a ``data`` file in the blob store."""
    base = root / "docker" / "registry" / "v2" / "blobs"
    found = set()
    for data in base.glob("*/*/*/data"):
        found.add(f"{data.parent.parent.parent.name}:{data.parent.name}")
    return found


def repo_links(root: Path, repo: str) -> set[str]:
    """Every ``link`` file under a repository, relative to the repository folder."""
    base = root / "docker" / "registry" / "v2" / "repositories" / repo
    return {p.relative_to(base).as_posix() for p in base.rglob("link")} if base.is_dir() else set()


# -- raw sockets ---------------------------------------------------------------------------------------
def raw_send(
    host_port: str,
    head: str,
    body: bytes = b"",
    *,
    read_response: bool = True,
    timeout: float = 5.0,
    pause: float = 0.0,
) -> bytes:
    """Send ``head`` (request line and headers, CRLF-terminated lines, without the blank line) and
    ``body`` over a fresh TCP connection, then either read until the server closes the connection (and
    return what it sent; put ``Connection: close`` in ``head``) or just close after ``pause`` seconds.
    Never raises on a reset connection."""
    host, port = host_port.rsplit(":", 1)
    data = head.rstrip("\r\n").encode() + b"\r\n\r\n" + body
    out = bytearray()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if pause:
                time.sleep(pause)
            if read_response:
                # no half-close here: some servers (aiohttp) take the client's EOF for a dropped
                # connection; send ``Connection: close`` and read until the server closes
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    out += chunk
        except (ConnectionError, TimeoutError, OSError):
            pass
    return bytes(out)


def raw_status(response: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else None


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def chunks_of(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    for start in range(0, len(data), size):
        yield start, data[start : start + size]
