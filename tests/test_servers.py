"""The server fixtures themselves: start, answer /v2/, restart on the same root and port, shared roots."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import KINDS, Kind, RegistryServer, RegistryServerError


def test_registry_answers_v2(registry: RegistryServer) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    assert registry.config_path.is_file()
    assert str(registry.root) in registry.config_path.read_text()


def test_restart_keeps_port_and_root(registry: RegistryServer) -> None:
    port, root = registry.port, registry.root
    assert registry.stop() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{registry.url}/v2/", timeout=2)
    registry.start()
    assert (registry.port, registry.root) == (port, root)
    assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 200


def test_two_kinds_share_one_root(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    root = tmp_path / "shared-root"
    ref = registry_factory("reference", root=root)
    dock = registry_factory("dockyard", root=root)
    assert ref.root == dock.root == root
    assert ref.port != dock.port


@pytest.mark.parametrize("kind", KINDS)
def test_bad_config_fails_with_log_tail(tmp_path: Path, kind: Kind) -> None:
    """A config naming a storage driver nobody has: the server exits, and the error shows its log."""
    server = RegistryServer(kind, tmp_path / "bad", extra_config={"storage": {"nosuchdriver": {}}})
    with pytest.raises(RegistryServerError, match="exited with code"):
        server.start(timeout=10)
    assert not server.running
    assert "nosuchdriver" in server.log_tail()
