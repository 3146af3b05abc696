"""Running the registry: the HTTP server of one process, and the choice of one process or several workers.

Worker 0 is the one that also runs the periodic jobs (upload purging, scheduled garbage collection) so they
run once per server, and renews the server's lease on the storage (see ``registry.collector``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from dockyard import __version__
from dockyard import metrics as metrics_module
from dockyard.api.access_log import LOGGER, AccessLogger
from dockyard.api.app import create_app
from dockyard.api.debug import create_debug_app
from dockyard.auth.controllers import AuthSetup
from dockyard.config import Settings
from dockyard.metrics import Metrics
from dockyard.registry.collector import Lease
from dockyard.registry.service import Registry
from dockyard.tls import server_context
from dockyard.workers import run_forked, supervise

RegistryMaker = Callable[[Settings, Metrics | None], Registry]

log = logging.getLogger("dockyard")

# Bulk I/O (upload writes and hashing, sendfile of pulls) runs in threads; each transfer holds one.
_IO_THREADS = 64
# Bytes aiohttp buffers from a connection (it pauses reading at twice this): small, because every byte read
# this way is copied in Python, while the rest of a large upload body is spliced (api/spliced_body.py).
_READ_BUFFER = 1 << 20


def _split_addr(addr: str) -> tuple[str | None, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    return (host or None), int(port)


def metrics_wanted(settings: Settings) -> bool:
    """Metrics are kept only where they can be scraped: on the debug server."""
    return settings.prometheus_enabled and settings.debug_addr is not None


async def _start(runner: web.AppRunner, addr: str, **options: Any) -> None:
    await runner.setup()
    host, port = _split_addr(addr)
    await web.TCPSite(runner, host, port, backlog=1024, reuse_address=True, **options).start()


async def serve_process(
    settings: Settings,
    make_registry: RegistryMaker,
    auth: AuthSetup | None,
    index: int,
    reuse_port: bool,
    lease_id: str | None = None,
) -> None:
    """Serve the API in this process until stopped; worker 0 also serves the debug address."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(_IO_THREADS, "dockyard-io"))
    metrics = metrics_module.install() if metrics_wanted(settings) else None
    registry = make_registry(settings, metrics)
    checks = settings.storage_health
    health = registry.storage_health(checks.interval_seconds, checks.threshold) if checks.enabled else None
    app = create_app(settings, registry, auth, metrics, health)
    runners = [
        web.AppRunner(
            app,
            access_log_class=AccessLogger,
            access_log=LOGGER if settings.access_log else None,
            keepalive_timeout=settings.idle_timeout_seconds,
            read_bufsize=_READ_BUFFER,
        )
    ]
    await _start(runners[0], settings.addr, ssl_context=server_context(settings), reuse_port=reuse_port)
    if index == 0 and settings.debug_addr is not None:
        runners.append(web.AppRunner(create_debug_app(settings, metrics, health), access_log=None))
        await _start(runners[1], settings.debug_addr)
    jobs = []
    if health is not None:
        jobs.append(asyncio.create_task(health.run_forever()))
    purging = settings.upload_purging
    if index == 0 and purging.enabled and not settings.read_only:
        jobs.append(asyncio.create_task(
            registry.purge_uploads_forever(purging.age_seconds, purging.interval_seconds, purging.dry_run)
        ))  # fmt: skip
    if index == 0 and lease_id is not None:
        jobs.append(asyncio.create_task(Lease(registry.layout, settings.gc.grace_seconds, lease_id).keep()))
    if index == 0 and registry.collector is not None and settings.gc.interval_seconds > 0:
        jobs.append(asyncio.create_task(registry.collector.forever()))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)  # a clean exit removes the lease
    try:
        await stop.wait()
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for runner in runners:
            await runner.cleanup()
        await registry.close()


def _storage_description(settings: Settings) -> str:
    if settings.storage_driver == "inmemory":
        return "memory (inmemory driver)"
    if settings.s3 is not None:
        where = settings.s3.regionendpoint or f"region {settings.s3.region}"
        return f"s3://{settings.s3.bucket}{settings.s3.rootdirectory.rstrip('/')} at {where}"
    return settings.root_directory


async def _announce(settings: Settings, make_registry: RegistryMaker) -> str:
    registry = make_registry(settings, None)
    try:
        lease = Lease(registry.layout, settings.gc.grace_seconds)
        await lease.renew()
        return lease.lease_id
    finally:
        await registry.close()


def run(settings: Settings, workers: int, make_registry: RegistryMaker, auth: AuthSetup | None = None) -> int:
    """Serve with ``workers`` processes (one: in this process); returns the exit code."""
    with contextlib.suppress(ImportError):
        import uvloop  # faster event loop where it is installed

        uvloop.install()
    host, port = _split_addr(settings.addr)
    scheme = "https" if settings.tls_certificate else "http"
    where = _storage_description(settings)
    log.info("listening on %s://%s:%d, storage: %s, %d worker(s)", scheme, host or "0.0.0.0", port, where,
             workers)  # fmt: skip
    print(f"dockyard {__version__} listening on {scheme}://{host or '0.0.0.0'}:{port}", flush=True)
    print(f"storage root: {where}", flush=True)

    lease_id = None
    if settings.storage_driver != "inmemory" and not settings.read_only:
        # the server's lease on the storage exists before any worker answers; worker 0 renews it. Taken in
        # a child process when workers are forked next (see ``run_forked``).
        def announce() -> bytes:
            return asyncio.run(_announce(settings, make_registry)).encode()

        announced = announce() if workers == 1 else run_forked(announce)
        if announced is None:
            return 1
        lease_id = announced.decode()

    def work(index: int) -> None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_process(settings, make_registry, auth, index, workers > 1, lease_id))

    if workers == 1:
        work(0)
        return 0
    return supervise(workers, work, on_exit=metrics_module.process_exited)
