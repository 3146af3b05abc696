"""Blob GETs sent with ``sendfile`` (dockyard's filesystem driver): every range byte-exact against the blob
file in the storage root, and the connection keeps serving requests after each send."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from typing import BinaryIO

import pytest

from dockyard.api.sendfile import LOOPBACK_SEND_BUFFER
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


def _send_buffer_of_server_side(port: int, client_port: int) -> int:
    """The ``tb`` (send buffer bytes) of the server's end of a connection, as ``ss`` reports it."""
    shown = subprocess.run(
        ["ss", "-tmnH", "state", "established", f"( sport = :{port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"\btb(\d+)", shown)
    assert found is not None, shown
    return int(found.group(1))


def test_a_loopback_peer_gets_a_fixed_send_buffer(
    dockyard: RegistryServer, pushed: tuple[Api, str, bytes]
) -> None:
    """Before a send the buffer is the kernel's autotuned one; after it, the fixed 512 KiB (doubled by
    the kernel for its bookkeeping, as ``socket(7)`` says of ``SO_SNDBUF``)."""
    _, digest, data = pushed
    with socket.create_connection(("127.0.0.1", dockyard.port), timeout=30) as sock:
        client_port = sock.getsockname()[1]
        reader = sock.makefile("rb")
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_response(reader)
        before = _send_buffer_of_server_side(dockyard.port, client_port)
        sock.sendall(f"GET /v2/sendfile/test/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _read_response(reader) == data
        after = _send_buffer_of_server_side(dockyard.port, client_port)
    assert before != 2 * LOOPBACK_SEND_BUFFER
    assert after == 2 * LOOPBACK_SEND_BUFFER


def _read_response(reader: BinaryIO) -> bytes:
    status = reader.readline()
    assert b" 200 " in status, status
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return reader.read(length)
