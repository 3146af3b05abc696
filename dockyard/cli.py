"""The ``dockyard`` command: thin argument parsing over the layers below."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import ssl
import sys
from collections.abc import Sequence

from aiohttp import web

from dockyard import __version__
from dockyard.api.app import create_app
from dockyard.auth.access import AccessController
from dockyard.auth.controllers import access_controller
from dockyard.auth.htpasswd import HtpasswdError
from dockyard.config import ConfigError, Settings, load_settings
from dockyard.logs import configure_logging
from dockyard.registry.manifest_format import UrlPolicy
from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.base import StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver

log = logging.getLogger("dockyard")

DESCRIPTION = """\
dockyard: a container image registry (Docker Registry HTTP API V2 and OCI Distribution 1.1)
that keeps images in exactly the storage layout of the reference registry (registry:2)."""


def build_driver(settings: Settings) -> StorageDriver:
    if settings.storage_driver == "inmemory":
        return MemoryDriver()
    return FilesystemDriver(settings.root_directory)


def build_registry(settings: Settings) -> Registry:
    import re

    secret = settings.secret
    if secret is None:
        log.warning(
            "No HTTP secret provided - generated random secret. This may cause problems with uploads if "
            "multiple registries are behind a load-balancer. To provide a shared secret, fill in http.secret "
            "in the configuration file or set the REGISTRY_HTTP_SECRET environment variable."
        )
        secret = secrets.token_urlsafe(32)
    policy = UrlPolicy(
        allow=tuple(re.compile(pattern) for pattern in settings.urls_allow),
        deny=tuple(re.compile(pattern) for pattern in settings.urls_deny),
    )
    options = RegistryOptions(
        secret=secret,
        delete_enabled=settings.delete_enabled,
        read_only=settings.read_only,
        url_policy=policy,
    )
    return Registry(build_driver(settings), options)


def _split_addr(addr: str) -> tuple[str | None, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    return (host or None), int(port)


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_certificate:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_certificate, settings.tls_key)
    minimum = {
        "tls1.0": ssl.TLSVersion.TLSv1,
        "tls1.1": ssl.TLSVersion.TLSv1_1,
        "tls1.2": ssl.TLSVersion.TLSv1_2,
        "tls1.3": ssl.TLSVersion.TLSv1_3,
    }
    context.minimum_version = minimum.get(
        str(settings.tls_minimum or "tls1.2").lower(), ssl.TLSVersion.TLSv1_2
    )
    return context


async def _serve(settings: Settings, access: AccessController | None) -> None:
    registry = build_registry(settings)
    app = create_app(settings, registry, access)
    runner = web.AppRunner(
        app, access_log=logging.getLogger("dockyard.access") if settings.access_log else None
    )
    await runner.setup()
    host, port = _split_addr(settings.addr)
    tls = _tls_context(settings)
    site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=1024, reuse_address=True)
    await site.start()
    purging = settings.upload_purging
    purger = None
    if purging.enabled and not settings.read_only:
        purger = asyncio.create_task(
            registry.purge_uploads_forever(purging.age_seconds, purging.interval_seconds, purging.dry_run)
        )
    scheme = "https" if tls else "http"
    where = "memory (inmemory driver)" if settings.storage_driver == "inmemory" else settings.root_directory
    log.info("listening on %s://%s:%d, storage: %s", scheme, host or "0.0.0.0", port, where)
    print(f"dockyard {__version__} listening on {scheme}://{host or '0.0.0.0'}:{port}", flush=True)
    print(f"storage root: {where}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        if purger is not None:
            purger.cancel()
        await runner.cleanup()


def serve(config: str | None) -> int:
    try:
        settings = load_settings(config)
        access = access_controller(settings.auth)
    except HtpasswdError as exc:
        print(f"dockyard: configuration error: auth.htpasswd.path: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"dockyard: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_formatter)
    for warning in settings.warnings:
        log.warning("configuration: %s", warning)
    with contextlib.suppress(ImportError):
        import uvloop  # faster event loop where it is installed

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, access))
    return 0


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
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.config)
    parser.print_help()
    return 1
