"""Spliced request bodies (``dockyard/api/spliced_body.py``) on a real aiohttp server and real sockets:
exact bytes for odd sizes, the bytes aiohttp had read before the takeover, stalls (waited for, and cut off
after the read timeout), clients that go away mid-body, and requests pipelined behind a spliced body on the
same connection; then the same guarantees through dockyard's upload path, with one worker and two."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import http.client
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import pytest
import requests
from aiohttp import web

from dockyard.api.context import SETTINGS, ClientStalled
from dockyard.api.spliced_body import SplicedBody
from dockyard.config import load_settings
from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer, free_port

MIB = 1 << 20


class _Shared:
    """A socket stand-in whose ``makefile`` is one buffered reader that ``http.client`` cannot close, so
    that responses following each other on a connection are read in turn (it opens a reader per response
    and closes it at the response's end)."""

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader

    def makefile(self, *_: Any, **__: Any) -> _Shared:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def close(self) -> None:
        pass


def read_response(reader: BinaryIO) -> tuple[int, bytes]:
    response = http.client.HTTPResponse(_Shared(reader))  # type: ignore[arg-type]
    response.begin()
    return response.status, response.read()


def request_bytes(method: str, path: str, body: bytes = b"", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n".encode() + body


class Server:
    """An aiohttp app whose ``/splice`` handler moves the body into a file with :class:`SplicedBody`."""

    STALL = 1.5  # seconds without body bytes before a body is cut off

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.outcomes: list[str] = []
        self.received: dict[str, int] = {}
        self.port = 0

    async def splice(self, request: web.Request) -> web.Response:
        assert SplicedBody.possible(request)
        path = self.directory / request.query["name"]
        moved = 0
        try:
            with path.open("wb") as out:
                async with SplicedBody(request, self.STALL) as body:
                    while count := await body.move_into(out.fileno(), 3 * MIB + 1):
                        moved += count
        except ClientStalled:
            self.outcomes.append(f"stalled after {moved}")
            raise
        except ConnectionResetError:
            self.outcomes.append(f"reset after {moved}")
            raise
        self.outcomes.append("done")
        self.received[request.query["name"]] = request.content.total_bytes
        return web.json_response({"moved": moved, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})

    async def pieces(self, request: web.Request) -> web.Response:
        """The ordinary path through the same body (as for writers that are no local file)."""
        hasher = hashlib.sha256()
        async with SplicedBody(request, self.STALL) as body:
            async for piece in body:
                hasher.update(piece)
        return web.Response(text=hasher.hexdigest())

    async def small(self, request: web.Request) -> web.Response:
        return web.Response(text=f"small {await request.text()}")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    made = Server(tmp_path)
    app = web.Application()
    app[SETTINGS] = dataclasses.replace(load_settings(None, environ={}), read_timeout_seconds=Server.STALL)
    app.router.add_post("/splice", made.splice)
    app.router.add_post("/small", made.small)
    app.router.add_post("/pieces", made.pieces)
    runner = web.AppRunner(app, read_bufsize=4 * MIB)  # as dockyard's server: much is read before the handler
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    made.port = runner.addresses[0][1]
    yield made
    await runner.cleanup()


async def in_thread(server: Server, client: Callable[[socket.socket, BinaryIO], Any]) -> Any:
    def run() -> Any:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            return client(sock, sock.makefile("rb"))

    return await asyncio.to_thread(run)


@pytest.mark.parametrize("size", [MIB, MIB + 1, 9 * MIB + 3, 33 * MIB + 5])
async def test_bodies_of_odd_sizes_arrive_byte_exact(server: Server, size: int) -> None:
    data = os.urandom(size)

    def client(sock: socket.socket, reader: BinaryIO) -> tuple[int, bytes]:
        sock.sendall(request_bytes("POST", "/splice?name=blob", data))
        return read_response(reader)

    status, body = await in_thread(server, client)
    assert status == 200, body
    assert body == (f'{{"moved": {size}, "sha256": "{hashlib.sha256(data).hexdigest()}"}}').encode()
    assert (server.directory / "blob").read_bytes() == data
    assert server.received == {"blob": size}  # aiohttp's byte count (the bytes-in metric) sees every byte


async def test_requests_pipelined_behind_a_spliced_body_are_answered_in_order(server: Server) -> None:
    first, second = os.urandom(5 * MIB + 7), os.urandom(2 * MIB + 1)

    def client(sock: socket.socket, reader: BinaryIO) -> list[tuple[int, bytes]]:
        sock.sendall(
            request_bytes("POST", "/splice?name=one", first)
            + request_bytes("POST", "/small", b"after one")
            + request_bytes("POST", "/splice?name=two", second)
            + request_bytes("POST", "/small", b"after two")
        )
        return [read_response(reader) for _ in range(4)]

    answers = await in_thread(server, client)
    assert [status for status, _ in answers] == [200] * 4, answers
    assert answers[1][1] == b"small after one" and answers[3][1] == b"small after two"
    assert (server.directory / "one").read_bytes() == first
    assert (server.directory / "two").read_bytes() == second
    assert server.outcomes == ["done", "done"]


async def test_a_body_read_in_pieces_releases_the_reading_hold(server: Server) -> None:
    """A body iterated instead of moved (S3 and other remote writers) arrives whole, and a request
    pipelined behind it is answered."""
    data = os.urandom(7 * MIB + 3)

    def client(sock: socket.socket, reader: BinaryIO) -> list[tuple[int, bytes]]:
        sock.sendall(request_bytes("POST", "/pieces", data) + request_bytes("POST", "/small", b"next"))
        return [read_response(reader) for _ in range(2)]

    answers = await in_thread(server, client)
    assert answers == [(200, hashlib.sha256(data).hexdigest().encode()), (200, b"small next")]


async def test_a_stalled_body_is_waited_for(server: Server) -> None:
    data = os.urandom(6 * MIB + 11)

    def client(sock: socket.socket, reader: BinaryIO) -> tuple[int, bytes]:
        sock.sendall(request_bytes("POST", "/splice?name=slow", data[: 5 * MIB], length=len(data)))
        time.sleep(1.2)  # longer than a splice thread's wait (the handler goes round its loop), < STALL
        sock.sendall(data[5 * MIB : 6 * MIB])
        time.sleep(1.2)
        sock.sendall(data[6 * MIB :])
        return read_response(reader)

    status, body = await in_thread(server, client)
    assert status == 200, body
    assert (server.directory / "slow").read_bytes() == data


async def test_a_body_stalled_past_the_read_timeout_is_cut_off(server: Server) -> None:
    data = os.urandom(3 * MIB)

    def client(sock: socket.socket, reader: BinaryIO) -> bytes:
        sock.sendall(request_bytes("POST", "/splice?name=stuck", data, length=len(data) + MIB))
        sock.settimeout(30)  # far beyond STALL: a server that never cuts off fails here
        return reader.read()  # until the server closes: no answer

    assert await in_thread(server, client) == b""
    assert server.outcomes == [f"stalled after {len(data)}"]
    assert (server.directory / "stuck").read_bytes() == data


@pytest.mark.parametrize("sent", [2 * MIB, 12 * MIB + 3])
async def test_a_client_leaving_mid_body_ends_the_handler_with_the_bytes_that_came(
    server: Server, sent: int
) -> None:
    data = os.urandom(sent)

    def client(sock: socket.socket, reader: BinaryIO) -> None:
        sock.sendall(request_bytes("POST", "/splice?name=cut", data, length=sent + 5 * MIB))
        time.sleep(0.5)

    await in_thread(server, client)
    for _ in range(100):
        if server.outcomes:
            break
        await asyncio.sleep(0.05)
    assert server.outcomes == [f"reset after {sent}"]
    assert (server.directory / "cut").read_bytes() == data

    def another(sock: socket.socket, reader: BinaryIO) -> tuple[int, bytes]:
        sock.sendall(request_bytes("POST", "/small", b"still here"))
        return read_response(reader)

    assert await in_thread(server, another) == (200, b"small still here")


# -- through dockyard: the upload path under uvloop, one worker and two ------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _status_range(server: RegistryServer, location: str) -> str | None:
    status = requests.get(f"{server.url}{_path(location)}", timeout=30)
    return status.headers.get("Range") if status.status_code == 204 else None


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def dockyard_server(request: pytest.FixtureRequest, registry_factory: RegistryFactory) -> RegistryServer:
    debug = {"addr": f"127.0.0.1:{free_port()}", "prometheus": {"enabled": True}}
    http = {"workers": request.param, "debug": debug, "timeouts": {"read": "3s"}}
    return registry_factory("dockyard", extra_config={"http": http})


def test_dockyard_stores_odd_sized_spliced_bodies_byte_exact(dockyard_server: RegistryServer) -> None:
    """Monolithic PUTs and chunked PATCHes of odd sizes, several connections (both workers), each
    connection reused after its spliced bodies: every blob is served back exactly."""
    server = dockyard_server
    for attempt, size in enumerate([MIB, MIB + 1, 9 * MIB + 3]):
        with requests.Session() as session:
            data = os.urandom(size)
            start = session.post(f"{server.url}/v2/spliced/mono{attempt}/blobs/uploads/", timeout=30)
            put = session.put(
                f"{server.url}{_path(start.headers['Location'])}", params={"digest": _digest(data)},
                data=data, timeout=60,
            )  # fmt: skip
            assert put.status_code == 201, put.text
            got = session.get(f"{server.url}/v2/spliced/mono{attempt}/blobs/{_digest(data)}", timeout=60)
            assert got.content == data
    pieces = [os.urandom(2 * MIB + 1), os.urandom(5 * MIB + 3), os.urandom(1), os.urandom(MIB)]
    data = b"".join(pieces)
    with requests.Session() as session:
        location = session.post(f"{server.url}/v2/spliced/chunked/blobs/uploads/", timeout=30).headers[
            "Location"
        ]
        offset = 0
        for piece in pieces:
            headers = {
                "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                "Content-Type": "application/octet-stream",
            }
            patch = session.patch(f"{server.url}{_path(location)}", data=piece, headers=headers, timeout=60)
            assert patch.status_code == 202, patch.text
            offset += len(piece)
            assert patch.headers["Range"] == f"0-{offset - 1}"
            location = patch.headers["Location"]
        put = session.put(f"{server.url}{_path(location)}", params={"digest": _digest(data)}, timeout=60)
        assert put.status_code == 201, put.text
    assert requests.get(f"{server.url}/v2/spliced/chunked/blobs/{_digest(data)}", timeout=60).content == data


def test_dockyard_counts_spliced_bytes_in(dockyard_server: RegistryServer) -> None:
    """The bytes-in metric counts every byte of a spliced body."""
    server = dockyard_server
    debug = server.config["http"]["debug"]["addr"]

    def bytes_in() -> float:
        deadline = time.monotonic() + 30  # worker 0 serves the debug address, maybe after another answered
        while True:
            try:
                text = requests.get(f"http://{debug}/metrics", timeout=30).text
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("dockyard_http_request_bytes_total{")
        )

    before = bytes_in()
    data = os.urandom(3 * MIB + 17)
    location = requests.post(f"{server.url}/v2/spliced/metric/blobs/uploads/", timeout=30).headers["Location"]
    patch = requests.patch(f"{server.url}{_path(location)}", data=data, timeout=60)
    assert patch.status_code == 202, patch.text
    assert bytes_in() - before == len(data)


def test_dockyard_upload_cut_short_keeps_what_came_and_resumes(dockyard_server: RegistryServer) -> None:
    """A PATCH whose client leaves after 3 MiB of 8: the upload holds exactly those bytes, no blob appears,
    and the upload is finished by a PATCH of the rest and a PUT."""
    server = dockyard_server
    data = os.urandom(8 * MIB)
    location = requests.post(f"{server.url}/v2/spliced/cut/blobs/uploads/", timeout=30).headers["Location"]
    head = request_bytes("PATCH", _path(location), length=len(data))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + data[: 3 * MIB])
        time.sleep(0.3)
    deadline = time.monotonic() + 30
    while _status_range(server, location) != f"0-{3 * MIB - 1}" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status_range(server, location) == f"0-{3 * MIB - 1}"
    blob = f"{server.url}/v2/spliced/cut/blobs/{_digest(data)}"
    assert requests.head(blob, timeout=30).status_code == 404
    status = requests.get(f"{server.url}{_path(location)}", timeout=30)
    headers = {"Content-Range": f"{3 * MIB}-{len(data) - 1}"}
    patch = requests.patch(f"{server.url}{_path(status.headers['Location'])}", data=data[3 * MIB :],
                           headers=headers, timeout=60)  # fmt: skip
    assert patch.status_code == 202, patch.text
    put = requests.put(
        f"{server.url}{_path(patch.headers['Location'])}", params={"digest": _digest(data)}, timeout=60
    )
    assert put.status_code == 201, put.text
    assert requests.get(blob, timeout=60).content == data


def test_dockyard_monolithic_push_cut_short_commits_nothing(dockyard_server: RegistryServer) -> None:
    server = dockyard_server
    data = os.urandom(6 * MIB)
    location = requests.post(f"{server.url}/v2/spliced/gone/blobs/uploads/", timeout=30).headers["Location"]
    target = _path(location) + f"&digest={_digest(data)}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_bytes("PUT", target, data[: 4 * MIB], length=len(data)))
        time.sleep(0.3)
    time.sleep(0.5)
    assert requests.head(f"{server.url}/v2/spliced/gone/blobs/{_digest(data)}", timeout=30).status_code == 404
    assert requests.get(f"{server.url}/v2/", timeout=30).status_code == 200


def test_dockyard_answers_requests_pipelined_behind_a_spliced_patch(dockyard_server: RegistryServer) -> None:
    server = dockyard_server
    data = os.urandom(4 * MIB + 9)
    location = requests.post(f"{server.url}/v2/spliced/pipe/blobs/uploads/", timeout=30).headers["Location"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        reader = sock.makefile("rb")
        sock.sendall(
            request_bytes("PATCH", _path(location), data)
            + b"GET /v2/ HTTP/1.1\r\nHost: test\r\n\r\n"
            + b"GET /v2/spliced/pipe/tags/list HTTP/1.1\r\nHost: test\r\n\r\n"
        )
        patch, base, tags = (read_response(reader) for _ in range(3))
    assert patch[0] == 202 and base == (200, b"{}"), (patch, base)
    assert tags[0] == 200 and b'"name": "spliced/pipe"' in tags[1], tags
    assert _status_range(server, location) == f"0-{len(data) - 1}"


def test_dockyard_cuts_off_a_spliced_body_stalled_past_the_read_timeout(
    dockyard_server: RegistryServer,
) -> None:
    """``http.timeouts.read`` (3 s here) holds for spliced bodies too: the connection is closed unanswered,
    the upload keeps what came, and no blob appears."""
    server = dockyard_server
    data = os.urandom(2 * MIB + 3)
    location = requests.post(f"{server.url}/v2/spliced/stall/blobs/uploads/", timeout=30).headers["Location"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(request_bytes("PATCH", _path(location), data, length=len(data) + MIB))
        assert sock.makefile("rb").read() == b""  # until the server closes (a 60 s timeout fails)
    assert _status_range(server, location) == f"0-{len(data) - 1}"
