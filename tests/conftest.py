"""Fixtures shared by every test: registry servers (dockyard and the reference ``docker-registry``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.support.seaweed import SeaweedServer
from tests.support.servers import KINDS, Kind, RegistryServer


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
