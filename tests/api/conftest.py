"""Fixtures for the raw-HTTP API suite.

Most tests share one server per test module and per kind (``srv``, started once for the module: starting a
server per test would cost minutes) and isolate themselves with a fresh repository name (``repo``). Tests
that need a server of their own (catalog, restarts) use the shared function-scoped ``registry`` fixture.

``@pytest.mark.reference_bug("...")`` marks a test the reference ``docker-registry`` 2.8.2 is known to fail:
on the reference kind it becomes a strict xfail (the assertions stay as they are); on dockyard it must pass.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import KINDS, Kind, RegistryServer

from ._http import Api

_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reference_bug(reason): the reference docker-registry 2.8.2 is known to fail this test "
        "(strict xfail on the reference kind only)",
    )


def _kind_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in ("srv", "registry"):
        if name in callspec.params:
            return str(callspec.params[name])
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("reference_bug")
        if marker is not None and _kind_of(item) == "reference":
            reason = marker.args[0] if marker.args else "known reference failure"
            item.add_marker(pytest.mark.xfail(reason=f"reference 2.8.2: {reason}", strict=True))


@pytest.fixture(scope="module", params=KINDS)
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One started server of each kind, shared by the tests of a module."""
    kind: Kind = request.param
    server = RegistryServer(kind, tmp_path_factory.mktemp(f"api-{kind}"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(srv: RegistryServer) -> RegistryServer:
    """The module's server, brought back if an earlier test left it dead (that test has failed already)."""
    if not srv.running:
        srv.start()
    return srv


@pytest.fixture
def api(server: RegistryServer) -> Api:
    return Api(server.url)


@pytest.fixture
def root(server: RegistryServer) -> Path:
    return server.root


def unique_repo(label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60].strip("-") or "t"
    return f"api/{slug}-{next(_counter)}"


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses."""
    return unique_repo(request.node.originalname)


@pytest.fixture
def repo2(request: pytest.FixtureRequest) -> str:
    return unique_repo(request.node.originalname + "-second")
