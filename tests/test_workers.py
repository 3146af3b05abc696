"""Several worker processes on one port (``http.workers``): both answer, and an upload whose requests land on
different workers completes. Which process holds a connection is read from /proc, not from the server."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.workers import run_forked
from tests.api._http import wait_until
from tests.conftest import RegistryFactory
from tests.e2e.test_cross_server_upload import observed, upload_reads
from tests.support.seaweed import SeaweedServer
from tests.support.servers import RegistryServer, deep_merge, s3_config


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


def _start_two_workers(
    registry_factory: RegistryFactory, extra_config: dict[str, Any] | None = None
) -> tuple[RegistryServer, list[int]]:
    config = deep_merge(extra_config or {}, {"http": {"workers": 2}})
    server = registry_factory("dockyard", extra_config=config)
    assert server.process is not None
    workers = _children(server.process.pid)
    assert len(workers) == 2
    # the server counts as started once one worker answers; the other may bind a moment later
    deadline = time.monotonic() + 20
    while not all(_socket_inodes(pid) & _tcp_inodes(server.port, None) for pid in workers):
        assert time.monotonic() < deadline, "a worker never listened"
        time.sleep(0.05)
    return server, workers


@pytest.fixture
def two_workers(registry_factory: RegistryFactory) -> tuple[RegistryServer, list[int]]:
    return _start_two_workers(registry_factory)


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


def _request(
    conn: http.client.HTTPConnection, method: str, url: str, body: bytes = b"", **headers: str
) -> http.client.HTTPResponse:
    conn.request(method, url, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


@pytest.mark.parametrize("saved_states", [True, False])
def test_a_commit_on_another_worker_reads_nothing_back(
    registry_factory: RegistryFactory, saved_states: bool
) -> None:
    """Chunks on both workers, the PUT on the one that did not take the last chunk: it continues the saved
    hash state and reads no byte of the upload. Without the saved states (removed before the PUT) it hashes
    the upload from storage, which the same counter shows."""
    server, workers = _start_two_workers(registry_factory, observed("dockyard"))
    first, second = (_connection_to(server, workers, pid) for pid in workers)
    data = os.urandom(3 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = _request(first, "POST", "/v2/crossing/blobs/uploads/")
    location, upload_id = response.headers["Location"], response.headers["Docker-Upload-UUID"]
    for conn, start, end in ((second, 0, 1 << 20), (first, 1 << 20, len(data))):
        response = _request(
            conn, "PATCH", location, data[start:end], **{"Content-Range": f"{start}-{end - 1}"}
        )
        assert response.status == 202, response.status
        location = response.headers["Location"]
    if not saved_states:
        states = server.v2 / "repositories/crossing/_uploads" / upload_id / "hashstates/sha256"
        # the last chunk's state may be saved just after its 202 (its tail is hashed behind the answer)
        assert wait_until((states / str(len(data))).exists)
        for saved in states.iterdir():
            saved.unlink()
    assert upload_reads(server, upload_id) == 0
    assert _request(second, "PUT", f"{location}&digest={digest}").status == 201
    assert upload_reads(server, upload_id) == (0 if saved_states else 1)
    first.request("GET", f"/v2/crossing/blobs/{digest}")
    assert first.getresponse().read() == data


def test_workers_stop_when_their_supervisor_is_killed(two_workers: tuple[RegistryServer, list[int]]) -> None:
    """SIGKILL of the supervisor cannot be forwarded: the kernel's parent-death signal stops the workers,
    so no orphan keeps serving (and holding the port)."""
    server, workers = two_workers
    assert server.process is not None
    os.kill(server.process.pid, 9)
    server.process.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their supervisor"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_the_supervisor_forks_its_workers_with_no_other_thread(
    registry_factory: RegistryFactory, seaweedfs: SeaweedServer
) -> None:
    """On S3 the server's lease is written before the workers start, by an S3 client whose setup runs
    in threads (name resolution, TLS contexts). Taken in the supervisor itself, those threads outlived the
    step (uvloop keeps its resolver threads), and a thread still exiting could hand an OpenSSL lock to a
    worker forked next, which then hung at its first S3 request: the supervisor stays single-threaded."""
    config = s3_config(seaweedfs.parameters(seaweedfs.make_root("supervisor")))
    server, workers = _start_two_workers(registry_factory, config)
    assert server.process is not None
    assert os.listdir(f"/proc/{server.process.pid}/task") == [str(server.process.pid)]
    for pid in workers:  # each worker's own S3 client works
        conn = _connection_to(server, workers, pid)
        conn.request("GET", "/v2/nothing/tags/list")
        assert conn.getresponse().status == 404
        conn.close()


def test_run_forked_returns_what_the_child_computed_and_keeps_its_threads() -> None:
    def start_a_thread() -> bytes:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        return f"{os.getpid()}:{threading.active_count()}".encode()

    before = threading.active_count()
    result = run_forked(start_a_thread)
    assert result is not None
    child, threads = result.decode().split(":")
    assert int(child) != os.getpid() and int(threads) == before + 1
    assert threading.active_count() == before


def test_run_forked_says_none_when_the_step_failed() -> None:
    def fail() -> bytes:
        raise RuntimeError("storage unreachable")

    assert run_forked(fail) is None
