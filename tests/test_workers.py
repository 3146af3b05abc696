"""Several worker processes on one port (``http.workers``): both answer, and an upload whose requests land on
different workers completes. Which process holds a connection is read from /proc, not from the server."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(int(match.group(1)))
    return inodes


def _tcp_inodes(local_port: int, remote_port: int | None) -> set[int]:
    """Inodes of sockets on 127.0.0.1:local_port: listening ones, or the one connected to remote_port."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) != local_port:
            continue
        wanted = state == "0A" if remote_port is None else int(remote.split(":")[1], 16) == remote_port
        if wanted:  # state 0A is LISTEN
            found.add(inode)
    return found


def _owner(server: RegistryServer, workers: list[int], conn: http.client.HTTPConnection) -> int:
    """The worker process that accepted ``conn`` (after one request, so it surely has)."""
    conn.request("GET", "/v2/")
    conn.getresponse().read()
    assert conn.sock is not None
    inodes = _tcp_inodes(server.port, conn.sock.getsockname()[1])
    owners = [pid for pid in workers if _socket_inodes(pid) & inodes]
    assert len(owners) == 1, (owners, inodes)
    return owners[0]


def _connection_to(server: RegistryServer, workers: list[int], pid: int) -> http.client.HTTPConnection:
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        if _owner(server, workers, conn) == pid:
            return conn
        conn.close()
    raise AssertionError(f"no connection landed on worker {pid}")


@pytest.fixture
def two_workers(registry_factory: RegistryFactory) -> tuple[RegistryServer, list[int]]:
    server = registry_factory("dockyard", extra_config={"http": {"workers": 2}})
    assert server.process is not None
    workers = _children(server.process.pid)
    assert len(workers) == 2
    # the server counts as started once one worker answers; the other may bind a moment later
    deadline = time.monotonic() + 20
    while not all(_socket_inodes(pid) & _tcp_inodes(server.port, None) for pid in workers):
        assert time.monotonic() < deadline, "a worker never listened"
        time.sleep(0.05)
    return server, workers


def test_two_processes_listen_and_answer_on_one_port(two_workers: tuple[RegistryServer, list[int]]) -> None:
    server, workers = two_workers
    listening = _tcp_inodes(server.port, None)
    assert all(_socket_inodes(pid) & listening for pid in workers)  # each worker its own listening socket
    owners = set()
    for _ in range(60):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        owners.add(_owner(server, workers, conn))
        conn.close()
        if owners == set(workers):
            break
    assert owners == set(workers)


def test_upload_moving_between_workers_completes(two_workers: tuple[RegistryServer, list[int]]) -> None:
    """POST on one worker, PATCH on the other, a second PATCH back on the first, PUT on the second."""
    server, workers = two_workers
    first, second = (_connection_to(server, workers, pid) for pid in workers)
    data = os.urandom(3 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    first.request("POST", "/v2/moving/blobs/uploads/")
    response = first.getresponse()
    response.read()
    assert response.status == 202
    location = response.headers["Location"]
    for conn, start, end in ((second, 0, 1 << 20), (first, 1 << 20, len(data))):
        headers = {"Content-Range": f"{start}-{end - 1}", "Content-Type": "application/octet-stream"}
        conn.request("PATCH", location, body=data[start:end], headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 202, response.status
        location = response.headers["Location"]
    second.request("PUT", f"{location}&digest={digest}")
    response = second.getresponse()
    response.read()
    assert response.status == 201
    first.request("GET", f"/v2/moving/blobs/{digest}")
    assert first.getresponse().read() == data
