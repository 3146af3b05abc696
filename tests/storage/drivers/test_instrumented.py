"""The timing wrapper records every operation of the driver it wraps (with failures by error type) and
passes capabilities through; the shared driver suite runs against it as well."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metrics import install
from dockyard.storage.drivers.base import PathNotFound
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.instrumented import InstrumentedDriver


def _sample(name: str, **labels: str) -> float:
    value = install().registry.get_sample_value(name, labels)
    return value or 0.0


async def test_operations_and_failures_are_recorded(tmp_path: Path) -> None:
    driver = InstrumentedDriver(FilesystemDriver(tmp_path), install())
    count = "dockyard_storage_operation_duration_seconds_count"
    errors = "dockyard_storage_operation_errors_total"
    not_found = {"driver": "filesystem", "operation": "get_content", "error": "PathNotFound"}
    puts = _sample(count, driver="filesystem", operation="put_content")
    reads = _sample(count, driver="filesystem", operation="reader")
    missing = _sample(errors, **not_found)
    await driver.put_content("/a/link", b"x" * 10)
    assert b"".join([chunk async for chunk in driver.reader("/a/link")]) == b"x" * 10
    with pytest.raises(PathNotFound):
        await driver.get_content("/a/none")
    assert _sample(count, driver="filesystem", operation="put_content") == puts + 1
    assert _sample(count, driver="filesystem", operation="reader") == reads + 1
    assert _sample(errors, **not_found) == missing + 1
    assert driver.local_path("/a/link") == str(tmp_path / "a" / "link")
    assert driver.root == tmp_path.absolute()  # other attributes of the wrapped driver pass through
