"""Clients that stall: a connection that sends no request, or half of its headers, or half of its body, is
closed after ``http.timeouts.idle`` / ``http.timeouts.read`` (2 s here), writes nothing, and the server
keeps serving everybody else."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
import requests

from tests.api._http import snapshot
from tests.support.servers import RegistryServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    registry = RegistryServer(
        "dockyard",
        tmp_path_factory.mktemp("stalls"),
        extra_config={"http": {"timeouts": {"idle": "2s", "read": "2s"}}},
    )
    registry.start()
    yield registry
    registry.stop()


def closed_by_server(server: RegistryServer, payload: bytes) -> bytes:
    """Send ``payload`` and stall; what the server sent before it closed the connection."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(payload)
        sock.settimeout(60)  # far beyond the 2 s: a server that never closes fails here
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not data:
                return received
            received += data


@pytest.mark.parametrize(
    "payload",
    [b"", b"GET /v2/ HTTP/1.1\r\nHost: x\r\n", b"GET /v2/_catal"],
    ids=["nothing", "half of the headers", "half of the request line"],
)
def test_connections_without_a_request_are_closed(server: RegistryServer, payload: bytes) -> None:
    assert closed_by_server(server, payload) == b""
    assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 200


def test_a_stalled_upload_body_is_cut_off_and_commits_nothing(server: RegistryServer) -> None:
    start = requests.post(f"{server.url}/v2/stall/app/blobs/uploads/", timeout=30)
    path = start.headers["Location"].split(server.host, 1)[1]
    before = snapshot(server.root)
    head = f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: 1000\r\n\r\n".encode()
    assert closed_by_server(server, head + b"x" * 10) == b""
    status = requests.get(server.url + path, timeout=30)
    assert status.status_code in (204, 416, 404), status.text
    assert not any("/blobs/sha256/" in p for p in snapshot(server.root) - before)
    assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 200


def test_a_stalled_manifest_body_is_cut_off_and_writes_nothing(server: RegistryServer) -> None:
    before = snapshot(server.root)
    head = (
        f"PUT /v2/stall/app/manifests/v1 HTTP/1.1\r\nHost: {server.host}\r\n"
        "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 500\r\n\r\n"
    ).encode()
    assert closed_by_server(server, head + b'{"schemaVersion": 2,') == b""
    assert snapshot(server.root) == before


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v2/" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(40_000)) + b"\r\n",
    ],
    ids=["long request line", "long header", "too many headers"],
)
def test_oversized_request_heads_are_refused(server: RegistryServer, head: bytes) -> None:
    """aiohttp's bounds (8190 bytes a line or field, 32768 headers) answer 400 or drop the connection."""
    answer = closed_by_server(server, head)
    assert answer == b"" or re.match(rb"HTTP/1\.[01] (400|431) ", answer), answer[:200]
    assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 200
