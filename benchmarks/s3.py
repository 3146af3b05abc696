"""dockyard and the reference registry on the same S3 server (SeaweedFS), and 1 vs 2 dockyard replicas
behind nginx.

    .venv/bin/python benchmarks/s3.py                  # 1 GiB blob, 50 small images (several minutes)
    .venv/bin/python benchmarks/s3.py --quick          # 16 MiB, 8 images: a smoke run
    .venv/bin/python benchmarks/s3.py --size-mib 256 --images 50 --json s3.json
    .venv/bin/python benchmarks/s3.py --cpu --images 60   # only dockyard's CPU time per small image

Figures, per server: ``push`` (one monolithic upload of the large blob, MB/s), ``pull_direct`` (the blob's
bytes through the registry, redirects off), ``pull_redirect`` (GET answered 307, bytes fetched from the
presigned S3 URL), ``small_pushes`` (images/s, each a config, a layer and a manifest, 8 threads). Then
the same push and small pushes through nginx in front of 1 and of 2 dockyard replicas (one worker process
each). ``--cpu``: only dockyard (one worker) alone on the S3 server, its CPU time (all threads, read from
``/proc``) per small image pushed: what each S3 request costs shows there, not in run-to-run rates. Each
server gets a root of its own in one bucket; nothing else runs on S3 meanwhile. Every server answers one
blob HEAD before it is timed (a process's first request sets up its S3 client).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import (
    MB,
    MIB,
    BenchError,
    Options,
    cpu_meter,
    location,
    make_blob,
    request,
    small_pushes,
)
from tests.support.balancer import Balancer
from tests.support.seaweed import SeaweedServer
from tests.support.servers import Kind, RegistryServer, s3_config


@dataclass
class Endpoint:
    """What the harness's scenarios need of a target: a port to connect to, and their scratch state."""

    port: int
    blobs: dict[str, Path]
    state: dict[str, Any]

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600, blocksize=MIB)


def warm_up(endpoint: Endpoint, digest: str) -> None:
    """One blob HEAD before timing: the first request of a process sets up its S3 client."""
    conn = endpoint.connect()
    request(conn, "HEAD", f"/v2/bench/big/blobs/{digest}", expect=(200, 307, 404)).read()
    conn.close()


def push(endpoint: Endpoint, path: Path, digest: str, size: int) -> float:
    conn = endpoint.connect()
    started = time.perf_counter()
    upload = location(request(conn, "POST", "/v2/bench/big/blobs/uploads/", expect=(202,)))
    with path.open("rb") as body:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        separator = "&" if "?" in upload else "?"
        request(conn, "PUT", f"{upload}{separator}digest={digest}", body, headers, expect=(201,)).read()
    return size / (time.perf_counter() - started) / MB


def _drain(response: http.client.HTTPResponse) -> int:
    buffer = bytearray(MIB)
    total = 0
    while count := response.readinto(buffer):
        total += count
    return total


def pull(endpoint: Endpoint, digest: str, size: int) -> float:
    """GET the blob, following a redirect to S3 when the registry answers with one."""
    conn = endpoint.connect()
    started = time.perf_counter()
    response = request(conn, "GET", f"/v2/bench/big/blobs/{digest}", expect=(200, 307))
    if response.status == 307:
        target = urllib.parse.urlsplit(response.headers["Location"])
        response.read()
        s3 = http.client.HTTPConnection(target.hostname or "", target.port, timeout=600, blocksize=MIB)
        response = request(s3, "GET", f"{target.path}?{target.query}")
    if _drain(response) != size:
        raise BenchError("pull returned the wrong number of bytes")
    return size / (time.perf_counter() - started) / MB


def bench_server(
    kind: Kind, s3: SeaweedServer, workdir: Path, blob: tuple[Path, str], args: argparse.Namespace
) -> dict[str, float]:
    root = s3.make_root(f"bench-{kind}")
    figures: dict[str, float] = {}
    for redirect in (False, True):
        server = RegistryServer(
            kind, workdir / f"{kind}-{redirect}", extra_config=s3_config(s3.parameters(root), redirect)
        )
        server.start()
        try:
            endpoint = Endpoint(server.port, {}, {})
            for _ in range(6):  # new connections: each worker process gets some
                warm_up(endpoint, blob[1])
            if not redirect:
                print(f"  {kind}: push …", file=sys.stderr, flush=True)
                figures["push"] = push(endpoint, blob[0], blob[1], args.size)
                print(f"  {kind}: pull (direct) …", file=sys.stderr, flush=True)
                figures["pull_direct"] = pull(endpoint, blob[1], args.size)
                print(f"  {kind}: small pushes …", file=sys.stderr, flush=True)
                figures |= small_pushes(endpoint, args.options)  # type: ignore[arg-type]
            else:
                print(f"  {kind}: pull (redirect) …", file=sys.stderr, flush=True)
                figures["pull_redirect"] = pull(endpoint, blob[1], args.size)
        finally:
            server.stop()
    return figures


def bench_replicas(
    count: int, s3: SeaweedServer, workdir: Path, blob: tuple[Path, str], args: argparse.Namespace
) -> dict[str, float]:
    root = s3.make_root(f"bench-replicas-{count}")
    config = s3_config(s3.parameters(root), redirect=False) | {"http": {"workers": 1}}
    replicas = [
        RegistryServer("dockyard", workdir / f"replicas-{count}-{index}", extra_config=config)
        for index in range(count)
    ]
    for replica in replicas:
        replica.start()
    balancer = Balancer(workdir / f"nginx-{count}", [replica.host for replica in replicas]).start()
    try:
        endpoint = Endpoint(balancer.port, {}, {})
        for _ in range(4 * count):
            warm_up(endpoint, blob[1])
        print(f"  {count} replica(s): push, small pushes …", file=sys.stderr, flush=True)
        figures = {"push": push(endpoint, blob[0], blob[1], args.size)}
        figures |= small_pushes(endpoint, args.options)  # type: ignore[arg-type]
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()
    return figures


def cpu_per_image(s3: SeaweedServer, workdir: Path, args: argparse.Namespace) -> float:
    """dockyard alone with one worker: its CPU milliseconds per small image pushed."""
    config = s3_config(s3.parameters(s3.make_root("bench-cpu")), redirect=False) | {"http": {"workers": 1}}
    server = RegistryServer("dockyard", workdir / "cpu", extra_config=config)
    server.start()
    try:
        assert server.process is not None
        endpoint = Endpoint(server.port, {}, {})
        warm_up(endpoint, "sha256:" + "0" * 64)
        with cpu_meter(server.process.pid) as cpu:
            small_pushes(endpoint, args.options)  # type: ignore[arg-type]
    finally:
        server.stop()
    return cpu[0] * 1000 / int(args.options.images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="16 MiB blob, 8 images")
    parser.add_argument("--size-mib", type=int, help="large blob size (default 1024)")
    parser.add_argument("--images", type=int, help="small images pushed (default 50)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--cpu", action="store_true", help="only dockyard's CPU time per small image")
    args = parser.parse_args(argv)
    args.size = (args.size_mib or (16 if args.quick else 1024)) * MIB
    images = args.images or (8 if args.quick else 50)
    args.options = Options(
        size=args.size, chunk=16 * MIB, duration=1, connections=8, images=images, image_workers=8,
        tags=0, repos=0, page=1, repeats=1, workers=None, memory_size=0,
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-s3-bench-"))
    s3 = SeaweedServer(workdir / "s3").start()
    results: dict[str, dict[str, float]] = {}
    try:
        if args.cpu:
            spent = cpu_per_image(s3, workdir, args)
            print(f"command: {' '.join(sys.argv)}\ndockyard CPU per small image: {spent:.0f} ms")
            return 0
        path = workdir / "big.bin"
        print(f"making a {args.size // MIB} MiB blob …", file=sys.stderr, flush=True)
        blob = (path, make_blob(path, args.size, seed=7))
        for kind in ("reference", "dockyard"):
            results[kind] = bench_server(kind, s3, workdir, blob, args)
        for count in (1, 2):
            results[f"{count} replica(s)"] = bench_replicas(count, s3, workdir, blob, args)
    finally:
        s3.stop()
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'figure':<16}{'unit':>8}{'reference':>12}{'dockyard':>12}{'ratio':>8}")
    units = {"push": "MB/s", "pull_direct": "MB/s", "pull_redirect": "MB/s", "small_pushes": "img/s"}
    for name, unit in units.items():
        ref, dock = results["reference"].get(name), results["dockyard"].get(name)
        ratio = f"{dock / ref:.2f}x" if ref and dock else "-"
        print(f"{name:<16}{unit:>8}{ref or 0:>12.1f}{dock or 0:>12.1f}{ratio:>8}")
    print(f"\n{'behind nginx':<16}{'unit':>8}{'1 replica':>12}{'2 replicas':>12}{'ratio':>8}")
    for name in ("push", "small_pushes"):
        one, two = results["1 replica(s)"][name], results["2 replica(s)"][name]
        print(f"{name:<16}{units[name]:>8}{one:>12.1f}{two:>12.1f}{two / one:>7.2f}x")
    if args.json is not None:
        args.json.write_text(json.dumps({"command": sys.argv, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
