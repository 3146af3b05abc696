"""The ``dockyard`` command: thin argument parsing over the layers below."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dockyard import __version__, tools
from dockyard.config import ConfigError, Settings, load_settings
from dockyard.logs import configure_logging
from dockyard.registry.blob_cache import BlobDescriptorCache, MemoryCache, RedisCache
from dockyard.storage.drivers.base import StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver

if TYPE_CHECKING:  # the serving stack (aiohttp, auth, metrics) is loaded only to serve: the tools start fast
    from dockyard.metrics import Metrics
    from dockyard.registry.service import Registry

log = logging.getLogger("dockyard")

DESCRIPTION = """\
dockyard: a container image registry (Docker Registry HTTP API V2 and OCI Distribution 1.1)
that keeps images in exactly the storage layout of the reference registry (registry:2)."""


def build_driver(settings: Settings) -> StorageDriver:
    if settings.storage_driver == "inmemory":
        return MemoryDriver()
    if settings.s3 is not None:
        from dockyard.storage.drivers.s3 import S3Driver  # botocore: loaded only to store in S3

        return S3Driver(settings.s3)
    return FilesystemDriver(settings.root_directory)


def _with_secret(settings: Settings) -> Settings:
    """Generate the upload-state secret once, before any worker starts, when the config has none."""
    if settings.secret is not None:
        return settings
    log.warning(
        "No HTTP secret provided - generated random secret. This may cause problems with uploads if "
        "multiple registries are behind a load-balancer. To provide a shared secret, fill in http.secret "
        "in the configuration file or set the REGISTRY_HTTP_SECRET environment variable."
    )
    return dataclasses.replace(settings, secret=secrets.token_urlsafe(32))


def build_cache(settings: Settings) -> BlobDescriptorCache | None:
    if settings.blob_cache == "redis" and settings.redis is not None:
        return RedisCache(settings.redis)
    if settings.blob_cache == "inmemory":
        return MemoryCache()
    return None


def build_registry(settings: Settings, metrics: Metrics | None = None) -> Registry:
    """The registry over the configured driver; with ``metrics``, every driver operation is timed."""
    import re

    from dockyard.registry.counted_cache import CountedCache
    from dockyard.registry.gc_generation import CHECK_SECONDS, GenerationCheckedCache
    from dockyard.registry.manifest_format import UrlPolicy
    from dockyard.registry.service import Registry, RegistryOptions
    from dockyard.storage.drivers.instrumented import InstrumentedDriver
    from dockyard.storage.layout import StorageLayout

    secret = _with_secret(settings).secret
    assert secret is not None
    policy = UrlPolicy(
        allow=tuple(re.compile(pattern) for pattern in settings.urls_allow),
        deny=tuple(re.compile(pattern) for pattern in settings.urls_deny),
    )
    options = RegistryOptions(
        secret=secret,
        delete_enabled=settings.delete_enabled,
        read_only=settings.read_only,
        url_policy=policy,
        redirect=settings.redirect,
        gc_grace_seconds=settings.gc.grace_seconds,
        gc_enabled=settings.gc.enabled,
        gc_interval_seconds=settings.gc.interval_seconds,
        gc_delete_untagged=settings.gc.delete_untagged,
        gc_dry_run=settings.gc.dry_run,
    )
    driver = build_driver(settings)
    if metrics is not None:
        driver = InstrumentedDriver(driver, metrics)
    cache = build_cache(settings)
    if settings.blob_cache == "inmemory":  # per process: checked against other processes' collections
        check = 0.0 if settings.read_only else CHECK_SECONDS  # a read-only server has no lease
        cache = GenerationCheckedCache(StorageLayout(driver), check)
    if cache is not None and metrics is not None:
        cache = CountedCache(cache, settings.blob_cache or "", metrics)
    return Registry(driver, options, cache)


def _worker_count(settings: Settings, requested: int | None) -> int:
    count = requested or settings.workers or os.cpu_count() or 1
    if settings.storage_driver == "inmemory" and count > 1:
        if requested or settings.workers:
            log.warning("inmemory storage lives in one process: serving it with one worker")
        return 1
    return count


def serve(config: str | None, workers: int | None = None) -> int:
    from dockyard.auth.controllers import build_auth
    from dockyard.tls import server_context

    try:
        settings = load_settings(config)
        auth = build_auth(settings.auth)
        server_context(settings)  # unusable certificates stop the server here, not in a worker
    except ConfigError as exc:
        print(f"dockyard: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_formatter, settings.log_fields)
    for warning in settings.warnings:
        log.warning("configuration: %s", warning)
    from dockyard import server  # the HTTP stack, loaded only to serve

    count = _worker_count(settings, workers)
    with _metrics_directory(count > 1 and server.metrics_wanted(settings)):
        return server.run(_with_secret(settings), count, build_registry, auth)


@contextlib.contextmanager
def _metrics_directory(needed: bool) -> Iterator[None]:
    """Workers add up their metrics through files in a directory of their own (unless one is given)."""
    from dockyard.metrics import MULTIPROCESS_ENV

    if not needed or MULTIPROCESS_ENV in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="dockyard-metrics-") as directory:
        os.environ[MULTIPROCESS_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_ENV]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyard", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser(
        "serve",
        help="run the registry",
        description="Run the registry. CONFIG is a registry:2 configuration file (config.yml); "
        "REGISTRY_* environment variables override its keys. Without CONFIG, dockyard listens on "
        ":5000 and stores images in ./registry-data.",
    )
    serve_parser.add_argument("config", nargs="?", metavar="CONFIG", help="path to config.yml")
    serve_parser.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="worker processes on the one port (default: http.workers, else the number of CPUs)",
    )
    tools.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.config, args.workers)
    code = tools.run(args, build_driver, build_cache)
    if code is not None:
        return code
    parser.print_help()
    return 1
