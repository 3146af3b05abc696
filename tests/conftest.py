"""Fixtures shared by every test: registry servers (dockyard and the reference ``docker-registry``); the
session's safety net for the server processes it started."""

from __future__ import annotations

import itertools
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import pytest

from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer
from tests.support.servers import KINDS, Kind, RegistryServer, stop_spawned


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run ended by SIGTERM or SIGHUP (a cancelled CI job, a closed terminal) stops as at Ctrl-C: the
    teardowns run, then pytest_sessionfinish. A signal ignored (nohup) stays ignored."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _interrupt)


@pytest.hookimpl(trylast=True)  # after the fixtures' teardowns
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The safety net: stop every server process this session started (tests/support/servers.spawn) that
    no teardown stopped, as after an interrupted run; never any other process."""
    stopped = stop_spawned()
    if stopped:
        print(f"\ntests/conftest.py: stopped server processes left running: {stopped}", file=sys.stderr)


class RegistryFactory(Protocol):
    def __call__(
        self,
        kind: Kind,
        root: Path | None = None,
        secret: str | None = None,
        extra_config: dict[str, Any] | None = None,
        *,
        start: bool = True,
    ) -> RegistryServer: ...


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 server for the whole run; each test makes buckets of its own."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[RegistryFactory]:
    """Make started registry servers; every one is stopped at teardown.

    ``registry_factory("dockyard")`` gets a fresh root under ``tmp_path``; pass ``root=`` to share a root
    between servers (e.g. the reference and dockyard on one tree). All servers share one ``http.secret``
    unless ``secret=`` says otherwise.
    """
    servers: list[RegistryServer] = []
    counter = itertools.count()

    def make(
        kind: Kind,
        root: Path | None = None,
        secret: str | None = None,
        extra_config: dict[str, Any] | None = None,
        *,
        start: bool = True,
    ) -> RegistryServer:
        workdir = tmp_path / f"{kind}-{next(counter)}"
        server = RegistryServer(kind, workdir, root, secret=secret, extra_config=extra_config)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def dockyard(registry_factory: RegistryFactory) -> RegistryServer:
    """A started dockyard server on a fresh root."""
    return registry_factory("dockyard")


@pytest.fixture
def reference(registry_factory: RegistryFactory) -> RegistryServer:
    """A started reference registry (``docker-registry``) on a fresh root."""
    return registry_factory("reference")


@pytest.fixture(params=KINDS)
def registry(request: pytest.FixtureRequest, registry_factory: RegistryFactory) -> RegistryServer:
    """A started server of each kind in turn (the test runs once against the reference, once against
    dockyard)."""
    kind: Kind = request.param
    return registry_factory(kind)
