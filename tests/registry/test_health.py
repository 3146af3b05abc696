"""``health.storagedriver`` on both servers: a storage root that cannot be reached turns every API request
into 503 UNAVAILABLE and ``/debug/health`` into 503 naming the check; a repaired root heals both."""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import KINDS, Kind, RegistryServer, free_port


def _wait_for(server: RegistryServer, debug: str, status: int) -> tuple[requests.Response, requests.Response]:
    """Both answers once both are ``status`` (or after 20 s). The debug server may come up a moment after
    the API answers (another worker may have answered first)."""
    deadline = time.monotonic() + 20
    while True:
        api = requests.get(f"{server.url}/v2/", timeout=5)
        try:
            health = requests.get(f"{debug}/debug/health", timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        if (api.status_code, health.status_code) == (status, status) or time.monotonic() > deadline:
            return api, health
        time.sleep(0.2)


@pytest.mark.parametrize("kind", KINDS)
def test_broken_root_answers_503_until_repaired(registry_factory: RegistryFactory, kind: Kind) -> None:
    debug_port = free_port()
    server = registry_factory(
        kind,
        extra_config={
            "http": {"debug": {"addr": f"127.0.0.1:{debug_port}"}},
            "health": {"storagedriver": {"enabled": True, "interval": "1s", "threshold": 1}},
        },
    )
    debug = f"http://127.0.0.1:{debug_port}"
    api, health = _wait_for(server, debug, 200)
    assert (api.status_code, health.status_code, health.json()) == (200, 200, {})

    moved = server.root.with_name("root-away")
    server.root.rename(moved)
    os.symlink(server.root.name, server.root)  # a link to itself: every lookup fails (ELOOP)
    try:
        api, health = _wait_for(server, debug, 503)
        assert api.status_code == 503
        assert [error["code"] for error in api.json()["errors"]] == ["UNAVAILABLE"]
        assert health.status_code == 503
        assert list(health.json()) == ["storagedriver_filesystem"]
    finally:
        server.root.unlink()
        moved.rename(server.root)
    api, health = _wait_for(server, debug, 200)
    assert (api.status_code, health.status_code) == (200, 200)
