"""dockyard and the reference registry side by side: same machine, fresh roots, same load.

    .venv/bin/python benchmarks/run.py                    # every scenario at full size (several minutes)
    .venv/bin/python benchmarks/run.py --quick            # tiny sizes: a smoke run in seconds
    .venv/bin/python benchmarks/run.py --only push,pull --size-mib 2048 --json figures.json

Each server (``docker-registry serve CONFIG`` from Debian, then ``dockyard serve CONFIG``) is started on a
fresh filesystem root, every chosen scenario runs against it, and the server is stopped; the table shows
both figures and dockyard/reference. Throughput is in MB/s (10^6 bytes) or requests/images per second;
times are milliseconds. Small-request load comes from ``wrk``; everything else from plain ``http.client``
connections in threads, so the client costs little next to the servers.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import Kind, RegistryServer

MB = 1_000_000
MIB = 1 << 20
GIB = 1 << 30
IO_BLOCK = 1 << 20
BEST_OF = 5  # rounds of one loopback run each way of sending, then one pull: each is the best of this
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Options:
    size: int  # bytes of the large blob
    chunk: int  # bytes per PATCH of the chunked push
    duration: int  # seconds of each wrk run
    connections: int
    images: int
    image_workers: int
    tags: int
    repos: int
    page: int  # catalog page size
    repeats: int  # timed listings: the median of this many
    workers: int | None  # dockyard worker processes (None: its default)
    memory_size: int  # bytes of the blob pushed and pulled by the memory scenario


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    higher_is_better: bool
    meaning: str


@dataclass
class Target:
    """One running server plus what the scenarios pushed into it so far."""

    server: RegistryServer
    blobs: dict[str, Path]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120, blocksize=IO_BLOCK)

    @property
    def pgid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid


class BenchError(RuntimeError):
    """A request failed: the run's figures would mean nothing."""


def request(
    conn: http.client.HTTPConnection,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    expect: tuple[int, ...] = (200,),
) -> http.client.HTTPResponse:
    conn.request(method, url, body=body, headers=headers or {})
    response = conn.getresponse()
    if response.status not in expect:
        raise BenchError(f"{method} {url} answered {response.status}: {response.read()[:300]!r}")
    return response


def location(response: http.client.HTTPResponse) -> str:
    """The path + query of a ``Location`` header (absolute or relative)."""
    parsed = urllib.parse.urlsplit(response.headers["Location"])
    response.read()
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def with_digest(url: str, digest: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}digest={digest}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- data ----------------------------------------------------------------------------------------------


def make_blob(path: Path, size: int, seed: int) -> str:
    """A file of incompressible bytes; returns its digest."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left:
            block = rng.randbytes(min(IO_BLOCK, left))
            hasher.update(block)
            handle.write(block)
            left -= len(block)
    return "sha256:" + hasher.hexdigest()


def small_image(conn: http.client.HTTPConnection, repo: str, seed: int, tag: str | None) -> dict[str, Any]:
    """Push a config and a 4 KiB layer as a client does (HEAD, POST, PATCH, PUT), then the manifest."""
    rng = random.Random(seed)
    layer = rng.randbytes(4096)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    for blob in (config, layer):
        digest = sha256(blob)
        exists = request(conn, "HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        exists.read()
        if exists.status == 200:
            continue
        upload = location(request(conn, "POST", f"/v2/{repo}/blobs/uploads/", expect=(202,)))
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(blob))}
        upload = location(request(conn, "PATCH", upload, blob, headers, expect=(202,)))
        request(conn, "PUT", with_digest(upload, digest), b"", expect=(201,)).read()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    reference = tag or sha256(manifest)
    headers = {"Content-Type": OCI_MANIFEST}
    request(conn, "PUT", f"/v2/{repo}/manifests/{reference}", manifest, headers, expect=(201,)).read()
    return {"manifest": manifest, "config": sha256(config), "layer": sha256(layer), "repo": repo}


def parallel(
    workers: int, count: int, job: Callable[[http.client.HTTPConnection, int], None], target: Target
) -> None:
    """Run ``job(conn, i)`` for i in range(count) on ``workers`` threads, one connection each."""
    local = threading.local()

    def run(index: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = target.connect()
        job(local.conn, index)

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, index) for index in range(count)]:
            future.result()


# -- scenarios -----------------------------------------------------------------------------------------


def send_file(
    conn: http.client.HTTPConnection,
    method: str,
    url: str,
    path: Path,
    offset: int,
    count: int,
    headers: dict[str, str],
    expect: tuple[int, ...],
) -> http.client.HTTPResponse:
    """A request whose body is ``count`` bytes of the file at ``offset``, sent with ``sendfile``: the
    client spends next to no CPU, leaving the machine to the server."""
    conn.putrequest(method, url)
    for name, value in {**headers, "Content-Length": str(count)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    assert conn.sock is not None
    with path.open("rb") as body:
        conn.sock.sendfile(body, offset, count)
    response = conn.getresponse()
    if response.status not in expect:
        raise BenchError(f"{method} {url} answered {response.status}: {response.read()[:300]!r}")
    return response


def _push_whole(target: Target, repo: str, path: Path, digest: str, size: int) -> float:
    """Seconds to push ``path`` as POST + one PUT with the whole body."""
    conn = target.connect()
    started = time.perf_counter()
    upload = location(request(conn, "POST", f"/v2/{repo}/blobs/uploads/", expect=(202,)))
    headers = {"Content-Type": "application/octet-stream"}
    send_file(conn, "PUT", with_digest(upload, digest), path, 0, size, headers, (201,)).read()
    conn.close()
    return time.perf_counter() - started


def push_monolithic(target: Target, options: Options) -> dict[str, float]:
    path, digest = target.blobs["mono"], target.state["digests"]["mono"]
    os.sync()  # earlier writes are on disk: no server pays for another's writeback
    with cpu_meter(target.pgid) as cpu, memory_sampler(target.pgid) as memory:
        elapsed = _push_whole(target, "bench/big", path, digest, options.size)
    target.state["pushed"] = digest
    return {
        "push_monolithic": options.size / elapsed / MB,
        "push_cpu": cpu[0] / (options.size / GIB),
        "push_rss_growth": memory.growth / MIB,
    }


def push_chunked(target: Target, options: Options) -> dict[str, float]:
    path, digest = target.blobs["chunked"], target.state["digests"]["chunked"]
    conn = target.connect()
    os.sync()
    with cpu_meter(target.pgid) as cpu:
        started = time.perf_counter()
        upload = location(request(conn, "POST", "/v2/bench/chunked/blobs/uploads/", expect=(202,)))
        for offset in range(0, options.size, options.chunk):
            count = min(options.chunk, options.size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + count - 1}",
            }
            upload = location(send_file(conn, "PATCH", upload, path, offset, count, headers, (202,)))
        request(conn, "PUT", with_digest(upload, digest), b"", expect=(201,)).read()
        elapsed = time.perf_counter() - started
    return {"push_chunked": options.size / elapsed / MB, "chunked_cpu": cpu[0] / (options.size / GIB)}


def _pull_once(target: Target, repo: str, digest: str) -> int:
    conn = target.connect()
    response = request(conn, "GET", f"/v2/{repo}/blobs/{digest}")
    buffer = bytearray(IO_BLOCK)
    total = 0
    while count := response.readinto(buffer):
        total += count
    conn.close()
    return total


_LOOPBACK_SENDER = """
import os, socket, sys
path, size, way = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with socket.create_server(("127.0.0.1", 0)) as listener:
    print(listener.getsockname()[1], flush=True)
    connection, _ = listener.accept()
    with connection, open(path, "rb") as body:
        if way == "copy":
            buffer = bytearray(1 << 20)
            while count := body.readinto(buffer):
                connection.sendall(memoryview(buffer)[:count])
            print(size, flush=True)
        else:
            if way != "autotuned":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(way))
            print(connection.sendfile(body, 0, size), flush=True)
"""
# how the ceiling's sender moves the bytes: sendfile with the kernel's autotuned send buffer, sendfile with
# a fixed 512 KiB one (faster over loopback on the development machine), 1 MiB read + send copies
LOOPBACK_WAYS = ("autotuned", str(512 << 10), "copy")


def loopback_ceiling(path: Path, size: int, way: str) -> float:
    """MB/s of ``size`` bytes of ``path`` over a 127.0.0.1 TCP connection with nothing but the kernel
    in the way: another process sends the file (``way``, one of LOOPBACK_WAYS), this one ``recv_into``s a
    1 MiB buffer (as the pull client's ``readinto`` does). No HTTP, no registry: what a pull could reach
    on this machine at this moment. (With the sender a thread of this process, runs were seen at half the
    pull beside them.)"""
    sender = subprocess.Popen(
        [sys.executable, "-c", _LOOPBACK_SENDER, str(path), str(size), way],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdout is not None
    try:
        port = int(sender.stdout.readline())
        buffer = bytearray(IO_BLOCK)
        received = 0
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as receiver:
            while count := receiver.recv_into(buffer):
                received += count
        elapsed = time.perf_counter() - started
        sent = int(sender.stdout.readline() or 0)
    finally:
        sender.stdout.close()
        sender.wait()
    if received != size or sent != size:
        raise BenchError(f"loopback moved {received} of {size} bytes")
    return size / elapsed / MB


def pull(target: Target, options: Options) -> dict[str, float]:
    if "pushed" not in target.state:
        push_monolithic(target, options)
    digest = target.state["pushed"]
    # single runs of either vary twofold on an idle machine (a loopback run was seen at a quarter of the
    # pull after it): the pull gets as many runs as each way of sending, taken in turns (each of BEST_OF
    # rounds sends once each way, then pulls once), so neither gets more draws nor a quieter minute
    ceilings: list[float] = []
    seconds: list[float] = []
    with cpu_meter(target.pgid) as cpu:
        for _ in range(BEST_OF):
            ceilings += [loopback_ceiling(target.blobs["mono"], options.size, way) for way in LOOPBACK_WAYS]
            started = time.perf_counter()
            if _pull_once(target, "bench/big", digest) != options.size:
                raise BenchError("pull returned the wrong number of bytes")
            seconds.append(time.perf_counter() - started)
    ceiling = max(ceilings)
    single = options.size / min(seconds) / MB
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda _: _pull_once(target, "bench/big", digest), range(4)))
    if sizes != [options.size] * 4:
        raise BenchError("parallel pulls returned the wrong number of bytes")
    return {
        "pull": single,
        "pull_x4": 4 * options.size / (time.perf_counter() - started) / MB,
        "loopback": ceiling,
        "pull_of_loopback": 100 * single / ceiling,
        "pull_cpu": cpu[0] / (len(seconds) * options.size / GIB),
    }


def memory(target: Target, options: Options) -> dict[str, float]:
    """Growth of the server's RSS (all processes) over its level just before a push, then a pull, of a
    ``--memory-mib`` blob: a server that streams stays flat however large the blob."""
    path, digest = target.blobs["memory"], target.state["digests"]["memory"]
    os.sync()
    with memory_sampler(target.pgid) as pushing:
        _push_whole(target, "bench/memory", path, digest, options.memory_size)
    with memory_sampler(target.pgid) as pulling:
        if _pull_once(target, "bench/memory", digest) != options.memory_size:
            raise BenchError("pull returned the wrong number of bytes")
    return {"memory_push_growth": pushing.growth / MIB, "memory_pull_growth": pulling.growth / MIB}


_WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(target: Target, options: Options, path: str, headers: list[str]) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of ``wrk`` against ``path``; any non-2xx answer fails the run."""
    command = [
        "wrk",
        "-t2",
        f"-c{options.connections}",
        f"-d{options.duration}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{target.port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise BenchError(f"wrk saw errors on {path}:\n{output}")
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    latencies = {pct: float(value) * _WRK_UNITS[unit] for pct, value, unit in _WRK_LATENCY.findall(output)}
    if rate is None or set(latencies) != {"50", "99"}:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return float(rate.group(1)), latencies["50"], latencies["99"]


def _small_image(target: Target) -> dict[str, Any]:
    if "small" not in target.state:
        target.state["small"] = small_image(target.connect(), "bench/small", seed=1, tag="latest")
    image: dict[str, Any] = target.state["small"]
    return image


_AB_PERCENTILE = re.compile(r"^\s+(50|99)%\s+(\d+)", re.MULTILINE)


def ab_head(target: Target, options: Options, path: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of HEAD requests from ApacheBench: wrk cannot do HEAD (its parser
    waits for the body the Content-Length announces). ab reports latency in whole milliseconds."""
    command = ["ab", "-i", "-k", "-r", "-q", "-c", str(options.connections), "-t", str(options.duration),
               "-n", "100000000", "-s", "10", f"http://127.0.0.1:{target.port}{path}"]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    failed = re.search(r"^Failed requests:\s+(\d+)", output, re.MULTILINE)
    if "Non-2xx" in output or failed is None or int(failed.group(1)):
        raise BenchError(f"ab saw errors on {path}:\n{output}")
    rate = re.search(r"^Requests per second:\s+([\d.]+)", output, re.MULTILINE)
    latencies = {pct: float(value) for pct, value in _AB_PERCENTILE.findall(output)}
    if rate is None or set(latencies) != {"50", "99"}:
        raise BenchError(f"cannot read ab's output:\n{output}")
    return float(rate.group(1)), latencies["50"], latencies["99"]


def small_requests(target: Target, options: Options) -> dict[str, float]:
    image = _small_image(target)
    blob = f"/v2/bench/small/blobs/{image['layer']}"
    loads: dict[str, Callable[[], tuple[float, float, float]]] = {
        "head_blob": lambda: ab_head(target, options, blob),
        "get_manifest": lambda: wrk(
            target, options, "/v2/bench/small/manifests/latest", [f"Accept: {OCI_MANIFEST}"]
        ),
        "get_base": lambda: wrk(target, options, "/v2/", []),
        "get_blob_4k": lambda: wrk(target, options, blob, []),
    }
    figures: dict[str, float] = {}
    for name, load in loads.items():
        rate, p50, p99 = load()
        figures |= {name: rate, f"{name}_p50": p50, f"{name}_p99": p99}
    return figures


def small_pushes(target: Target, options: Options) -> dict[str, float]:
    def push(conn: http.client.HTTPConnection, index: int) -> None:
        small_image(conn, f"bench/images/{index % 20}", 1000 + index, None)

    started = time.perf_counter()
    parallel(options.image_workers, options.images, push, target)
    return {"small_pushes": options.images / (time.perf_counter() - started)}


def _timed_median(repeats: int, action: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def tags_list(target: Target, options: Options) -> dict[str, float]:
    image = _small_image(target)
    for blob in (image["config"], image["layer"]):
        conn = target.connect()
        request(
            conn, "POST", f"/v2/bench/tags/blobs/uploads/?mount={blob}&from=bench/small", expect=(201,)
        ).read()
    headers = {"Content-Type": OCI_MANIFEST}

    def tag(conn: http.client.HTTPConnection, index: int) -> None:
        url = f"/v2/bench/tags/manifests/t{index:05d}"
        request(conn, "PUT", url, image["manifest"], headers, expect=(201,)).read()

    parallel(8, options.tags, tag, target)
    conn = target.connect()

    def fetch() -> None:
        body = json.loads(request(conn, "GET", "/v2/bench/tags/tags/list").read())
        if len(body["tags"]) != options.tags:
            raise BenchError(f"tags list has {len(body['tags'])} tags, expected {options.tags}")

    return {"tags_list": _timed_median(options.repeats, fetch)}


def catalog(target: Target, options: Options) -> dict[str, float]:
    image = _small_image(target)
    headers = {"Content-Type": OCI_MANIFEST}

    def make_repo(conn: http.client.HTTPConnection, index: int) -> None:
        repo = f"bench/catalog/r{index:04d}"
        for blob in (image["config"], image["layer"]):
            url = f"/v2/{repo}/blobs/uploads/?mount={blob}&from=bench/small"
            request(conn, "POST", url, expect=(201,)).read()
        request(conn, "PUT", f"/v2/{repo}/manifests/latest", image["manifest"], headers, expect=(201,)).read()

    parallel(8, options.repos, make_repo, target)
    conn = target.connect()

    def walk() -> None:
        url: str | None = f"/v2/_catalog?n={options.page}"
        found = 0
        while url is not None:
            response = request(conn, "GET", url)
            found += sum(
                name.startswith("bench/catalog/") for name in json.loads(response.read())["repositories"]
            )
            link = re.match(r"<([^>]+)>", response.headers.get("Link", ""))
            url = link.group(1) if link else None
        if found != options.repos:
            raise BenchError(f"catalog walk found {found} repositories, expected {options.repos}")

    return {"catalog": _timed_median(options.repeats, walk)}


SCENARIOS: dict[str, Callable[[Target, Options], dict[str, float]]] = {
    "push": push_monolithic,
    "chunked": push_chunked,
    "pull": pull,
    "small": small_requests,
    "images": small_pushes,
    "tags": tags_list,
    "catalog": catalog,
    "memory": memory,
}

FIGURES = [
    Figure("push_monolithic", "MB/s", True, "one blob pushed as POST + one PUT with the whole body"),
    Figure("push_chunked", "MB/s", True, "the same size pushed as PATCHes of --chunk-mib, then PUT"),
    Figure("pull", "MB/s", True, "GET of the pushed blob, one client"),
    Figure("pull_x4", "MB/s", True, "four GETs of it in parallel, bytes of all four over the wall time"),
    Figure(
        "loopback", "MB/s", True, "the blob over 127.0.0.1, best way of sending to recv_into, before the pull"
    ),
    Figure("pull_of_loopback", "%", True, "pull as a percentage of the loopback figure next to it"),
    Figure("push_cpu", "s/GiB", False, "server CPU seconds (all processes) per GiB pushed (PUT)"),
    Figure("chunked_cpu", "s/GiB", False, "server CPU seconds per GiB pushed (PATCHes)"),
    Figure("pull_cpu", "s/GiB", False, "server CPU seconds per GiB pulled (one client)"),
    Figure("push_rss_growth", "MiB", False, "the server's RSS growth during the push (peak - before)"),
    Figure("memory_push_growth", "MiB", False, "RSS growth during a push of --memory-mib (peak - before)"),
    Figure("memory_pull_growth", "MiB", False, "RSS growth during a pull of that blob (peak - before)"),
    *(
        fig
        for name, what in (
            ("head_blob", "HEAD of a blob"),
            ("get_manifest", "GET of a manifest by tag"),
            ("get_base", "GET /v2/"),
            ("get_blob_4k", "GET of a 4 KiB blob"),
        )
        for fig in (
            Figure(name, "req/s", True, f"{what} at --connections (wrk; ab for HEAD)"),
            Figure(f"{name}_p50", "ms", False, f"median latency of {what}"),
            Figure(f"{name}_p99", "ms", False, f"99th percentile latency of {what}"),
        )
    ),
    Figure(
        "small_pushes", "img/s", True, "images (config + 4 KiB layer + manifest) pushed by --image-workers"
    ),
    Figure("tags_list", "ms", False, "GET tags/list of a repository with --tags tags (median)"),
    Figure("catalog", "ms", False, "walk of _catalog in pages of --page over --repos repositories (median)"),
    Figure("peak_rss", "MiB", False, "the largest sum of RSS over all the server's processes during the run"),
    Figure("peak_pss", "MiB", False, "the same with PSS: pages shared between processes counted once"),
]


# -- servers -------------------------------------------------------------------------------------------


def _group_memory(pgid: int) -> tuple[int, int]:
    """Bytes resident (RSS) and proportional (PSS: shared pages split between their users) in every
    process of the process group ``pgid``. Forked workers share their parent's pages: RSS counts those
    once per process, PSS once in all."""
    rss = pss = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{entry}/smaps_rollup") as handle:
                pss += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue
    return rss, pss


@dataclass
class MemoryPeak:
    """Peaks of a process group's memory, and its RSS when sampling started."""

    rss: int = 0
    pss: int = 0
    start_rss: int = 0

    @property
    def growth(self) -> int:
        return self.rss - self.start_rss


@contextmanager
def memory_sampler(pgid: int) -> Iterator[MemoryPeak]:
    """Sample the group's memory every 50 ms, from a first sample taken before the block runs."""
    rss, pss = _group_memory(pgid)
    peak = MemoryPeak(rss, pss, rss)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            rss, pss = _group_memory(pgid)
            peak.rss, peak.pss = max(peak.rss, rss), max(peak.pss, pss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
        rss, pss = _group_memory(pgid)
        peak.rss, peak.pss = max(peak.rss, rss), max(peak.pss, pss)


def _group_cpu(pgid: int) -> float:
    """CPU seconds (user + system, all threads, children reaped) of every process in the group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_meter(pgid: int) -> Iterator[list[float]]:
    """The group's CPU seconds spent in the block, in the list's one item once the block ends."""
    spent = [0.0]
    before = _group_cpu(pgid)
    try:
        yield spent
    finally:
        spent[0] = _group_cpu(pgid) - before


def run_server(
    kind: Kind, workdir: Path, blobs: dict[str, Any], chosen: list[str], options: Options
) -> dict[str, float]:
    extra: dict[str, Any] = {}
    if kind == "dockyard" and options.workers is not None:
        extra = {"http": {"workers": options.workers}}
    server = RegistryServer(kind, workdir / kind, extra_config=extra)
    server.start()
    figures: dict[str, float] = {}
    try:
        assert server.process is not None
        target = Target(server, blobs["files"], {"digests": blobs["digests"]})
        with memory_sampler(target.pgid) as peak:
            for name in chosen:
                print(f"  {kind}: {name} …", file=sys.stderr, flush=True)
                # the harness's blobs and earlier scenarios leave gigabytes unwritten, and creating files
                # waits behind their writeback (small pushes right after the blobs were made: 37-49
                # images/s, 280-430 once written back), so every scenario starts with none left
                os.sync()
                figures |= SCENARIOS[name](target, options)
        figures["peak_rss"], figures["peak_pss"] = peak.rss / MIB, peak.pss / MIB
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    return figures


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'figure':<22}{'unit':>7}{'dockyard':>12}{'reference':>12}{'ratio':>9}  better"]
    for figure in FIGURES:
        dock = results.get("dockyard", {}).get(figure.name)
        ref = results.get("reference", {}).get(figure.name)
        if dock is None and ref is None:
            continue
        ratio = f"{dock / ref:.2f}x" if dock is not None and ref else "-"
        cells = [f"{v:.1f}" if v is not None else "-" for v in (dock, ref)]
        better = "higher" if figure.higher_is_better else "lower"
        lines.append(f"{figure.name:<22}{figure.unit:>7}{cells[0]:>12}{cells[1]:>12}{ratio:>9}  {better}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 s wrk runs (a smoke test)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"scenarios, comma-separated: {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--servers", default="reference,dockyard", help="which servers to run, comma-separated"
    )
    parser.add_argument("--size-mib", type=int, help="large blob size (default 1024, quick 8)")
    parser.add_argument("--memory-mib", type=int, help="blob of the memory scenario (default 2048, quick 16)")
    parser.add_argument("--chunk-mib", type=int, help="chunk size of the chunked push (default 16, quick 1)")
    parser.add_argument("--duration", type=int, help="seconds of each wrk run (default 10, quick 1)")
    parser.add_argument("--connections", type=int, help="wrk connections (default 64, quick 8)")
    parser.add_argument("--images", type=int, help="small images pushed (default 200, quick 8)")
    parser.add_argument("--image-workers", type=int, default=8, help="threads pushing small images")
    parser.add_argument("--tags", type=int, help="tags in the tags-list repository (default 2000, quick 20)")
    parser.add_argument("--repos", type=int, help="repositories in the catalog (default 500, quick 12)")
    parser.add_argument("--page", type=int, help="catalog page size (default 100, quick 5)")
    parser.add_argument("--workers", type=int, help="dockyard worker processes (default: its own, the CPUs)")
    parser.add_argument("--workdir", type=Path, help="where roots and data go (default: a new temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    options = Options(
        size=pick(args.size_mib, 1024, 8) * MIB,
        chunk=pick(args.chunk_mib, 16, 1) * MIB,
        duration=pick(args.duration, 10, 1),
        connections=pick(args.connections, 64, 8),
        images=pick(args.images, 200, 8),
        image_workers=args.image_workers,
        tags=pick(args.tags, 2000, 20),
        repos=pick(args.repos, 500, 12),
        page=pick(args.page, 100, 5),
        repeats=3 if quick else 10,
        workers=args.workers,
        memory_size=pick(args.memory_mib, 2048, 16) * MIB,
    )
    return args, options


def main(argv: list[str] | None = None) -> int:
    args, options = parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    if unknown or any(kind not in ("dockyard", "reference") for kind in servers):
        print(f"unknown scenario or server: {unknown or servers}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files: dict[str, Path] = {"dir": workdir}
        digests: dict[str, str] = {}
        if {"push", "chunked", "pull"} & set(chosen):
            print(f"making {options.size // MIB} MiB test blobs in {workdir} …", file=sys.stderr, flush=True)
            for index, name in enumerate(("mono", "chunked")):
                files[name] = workdir / f"{name}.bin"
                digests[name] = make_blob(files[name], options.size, seed=index)
        if "memory" in chosen:
            print(f"making a {options.memory_size // MIB} MiB blob …", file=sys.stderr, flush=True)
            files["memory"] = workdir / "memory.bin"
            digests["memory"] = make_blob(files["memory"], options.memory_size, seed=2)
        results: dict[str, dict[str, float]] = {}
        for kind in servers:
            results[kind] = run_server(kind, workdir, {"files": files, "digests": digests}, chosen, options)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"command: {' '.join(sys.argv)}")
    print(table(results))
    if args.json is not None:
        document = {
            "command": sys.argv,
            "options": options.__dict__,
            "figures": {
                fig.name: {
                    "unit": fig.unit,
                    "higher_is_better": fig.higher_is_better,
                    "meaning": fig.meaning,
                    **{kind: results[kind][fig.name] for kind in results if fig.name in results[kind]},
                }
                for fig in FIGURES
                if any(fig.name in results[kind] for kind in results)
            },
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
