"""Blob GETs sent with ``sendfile`` (dockyard's filesystem driver): every range byte-exact against the blob
file in the storage root, and the connection keeps serving requests after each send."""

from __future__ import annotations

import os
import socket

import pytest

from tests.support.servers import RegistryServer

from ._http import Api, assert_status, describe

SIZE = 3 * (1 << 20) + 12345  # above the size dockyard reads whole, so the bytes go through sendfile


@pytest.fixture
def pushed(dockyard: RegistryServer) -> tuple[Api, str, bytes]:
    api = Api(dockyard.url)
    data = os.urandom(SIZE)
    digest = api.push_blob("sendfile/test", data)
    return api, digest, data


def _blob_file(server: RegistryServer, digest: str) -> bytes:
    hexdigest = digest.split(":", 1)[1]
    return (server.v2 / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data").read_bytes()


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        (None, 0, SIZE - 1),
        ("bytes=0-0", 0, 0),
        ("bytes=1-1048576", 1, 1048576),
        ("bytes=1000000-", 1000000, SIZE - 1),
        ("bytes=-70000", SIZE - 70000, SIZE - 1),
        ("bytes=65536-3000000", 65536, 3000000),
        (f"bytes={SIZE - 1}-{SIZE + 100}", SIZE - 1, SIZE - 1),
    ],
)
def test_ranges_are_byte_exact(
    dockyard: RegistryServer, pushed: tuple[Api, str, bytes], spec: str | None, first: int, last: int
) -> None:
    api, digest, data = pushed
    on_disk = _blob_file(dockyard, digest)
    assert on_disk == data
    headers = {"Range": spec} if spec else {}
    resp = assert_status(api.get(f"/v2/sendfile/test/blobs/{digest}", headers=headers), 206 if spec else 200)
    assert resp.content == on_disk[first : last + 1]
    assert resp.headers["Content-Length"] == str(last - first + 1), describe(resp)
    if spec:
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}", describe(resp)


def test_keep_alive_connection_serves_after_a_send(
    dockyard: RegistryServer, pushed: tuple[Api, str, bytes]
) -> None:
    """Three GETs on one raw connection: each body is complete and the next request is answered."""
    _, digest, data = pushed
    with socket.create_connection(("127.0.0.1", dockyard.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        for spec in ("bytes=5-2097156", "bytes=0-", "bytes=100-100"):
            first, _, last = spec.removeprefix("bytes=").partition("-")
            stop = int(last) + 1 if last else SIZE
            sock.sendall(
                f"GET /v2/sendfile/test/blobs/{digest} HTTP/1.1\r\nHost: x\r\nRange: {spec}\r\n\r\n".encode()
            )
            status = reader.readline()
            assert b" 206 " in status, status
            length = None
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length == stop - int(first)
            assert reader.read(length) == data[int(first) : stop]
