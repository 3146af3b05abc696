"""A registry in process on a filesystem root under the test's directory; a Redis server of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.filesystem import FilesystemDriver
from tests.support.redis_server import RedisServer


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(FilesystemDriver(tmp_path), RegistryOptions(secret="s", delete_enabled=True))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
