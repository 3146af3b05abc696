"""Where a push's CPU goes: seconds per GiB of each stage on this machine, then of a real dockyard push.

    .venv/bin/python benchmarks/push_stages.py              # 1 GiB; --size-mib, --json FILE

The stages alone, each on the same bytes: sha256 (hashlib, OpenSSL), writing into the page cache (1 MiB
``write``s), receiving from a 127.0.0.1 TCP socket (``recv_into`` a 1 MiB buffer, the sender ``sendfile``s)
and the same receive moved into a file by ``splice`` (socket → pipe → file). Then one dockyard (one worker,
so one process holds the upload) takes a monolithic push of the same blob: its CPU split into the event-loop
thread (HTTP, aiohttp, the reading of bodies aiohttp reads) and the worker threads (hashing, writing or
splicing), and the client's own CPU (``sendfile``). Figures are CPU seconds (user + system) per GiB, less
sensitive to a busy machine than MB/s.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import GIB, MIB, Target, _push_whole, make_blob

from tests.support.servers import RegistryServer


def _thread_cpu(action: Callable[[], None]) -> float:
    started = time.thread_time()
    action()
    return time.thread_time() - started


def sha256_stage(blob: Path, size: int) -> float:
    data = bytearray(MIB)
    hasher = hashlib.sha256()
    with blob.open("rb", buffering=0) as source:
        source.readinto(data)

    def run() -> None:
        for _ in range(size // MIB):
            hasher.update(data)

    return _thread_cpu(run)


def write_stage(work: Path, size: int) -> float:
    data = os.urandom(MIB)
    fd = os.open(work / "written", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        return _thread_cpu(lambda: [os.write(fd, data) for _ in range(size // MIB)] and None)
    finally:
        os.close(fd)
        os.remove(work / "written")


def _receive(blob: Path, size: int, receive: Callable[[socket.socket], None]) -> float:
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def send() -> None:
            connection, _ = listener.accept()
            with connection, blob.open("rb") as body:
                connection.sendfile(body, 0, size)

        sender = threading.Thread(target=send)
        sender.start()
        with socket.create_connection(listener.getsockname()) as sock:
            spent = _thread_cpu(lambda: receive(sock))
        sender.join()
    return spent


def recv_stage(blob: Path, size: int) -> float:
    def receive(sock: socket.socket) -> None:
        buffer = bytearray(MIB)
        while sock.recv_into(buffer):
            pass

    return _receive(blob, size, receive)


def splice_stage(blob: Path, work: Path, size: int) -> float:
    fd = os.open(work / "spliced", os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, MIB)

    def receive(sock: socket.socket) -> None:
        sock.setblocking(False)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            try:
                count = os.splice(sock.fileno(), write_end, MIB, flags=os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                poller.poll(1000)
                continue
            if not count:
                return
            while count:
                count -= os.splice(read_end, fd, count)

    try:
        return _receive(blob, size, receive)
    finally:
        for each in (fd, read_end, write_end):
            os.close(each)
        os.remove(work / "spliced")


def _threads(pid: int) -> dict[str, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[task] = (int(fields[11]) + int(fields[12])) / ticks
    return times


def dockyard_push(blob: Path, digest: str, work: Path, size: int) -> dict[str, float]:
    server = RegistryServer("dockyard", work / "dockyard", extra_config={"http": {"workers": 1}})
    server.start()
    try:
        assert server.process is not None
        pid = server.process.pid
        target = Target(server, {})
        _push_whole(target, "stages/warm", blob, digest, size)  # imports, thread pool, page cache
        os.sync()
        before, client_before = _threads(pid), os.times()
        _push_whole(target, "stages/push", blob, digest, size)
        after, client_after = _threads(pid), os.times()
    finally:
        server.stop()
    loop = after[str(pid)] - before.get(str(pid), 0.0)
    workers = sum(value - before.get(task, 0.0) for task, value in after.items() if task != str(pid))
    client = (client_after.user + client_after.system) - (client_before.user + client_before.system)
    return {"dockyard_event_loop": loop, "dockyard_threads": workers, "client": client}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="dockyard-stages-") as directory:
        work = Path(directory)
        blob = work / "blob.bin"
        digest = make_blob(blob, size, seed=3)
        seconds = {
            "sha256": sha256_stage(blob, size),
            "page_cache_write": write_stage(work, size),
            "socket_recv": recv_stage(blob, size),
            "splice_to_file": splice_stage(blob, work, size),
            **dockyard_push(blob, digest, work, size),
        }
    per_gib = {name: value / (size / GIB) for name, value in seconds.items()}
    print(f"command: {' '.join(sys.argv)}")
    for name, value in per_gib.items():
        print(f"{name:<22}{value:8.2f} CPU s/GiB")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"command": sys.argv, "cpu_seconds_per_gib": per_gib}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
