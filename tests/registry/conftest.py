"""A registry in process on a filesystem root under the test's directory (a Redis server of its own: the
root conftest's ``redis_server``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.filesystem import FilesystemDriver


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(FilesystemDriver(tmp_path), RegistryOptions(secret="s", delete_enabled=True))
