"""Upload purging removes an abandoned upload whole, its saved hash states with it (as the reference's
purge removes the upload's folder), on the filesystem and on S3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.config import s3_settings
from dockyard.registry.maintenance import purge_uploads
from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.base import PathNotFound, StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.s3 import S3Driver
from tests.support.seaweed import SeaweedServer


@pytest.fixture(params=["filesystem", "s3"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    made: StorageDriver
    if request.param == "s3":
        seaweedfs: SeaweedServer = request.getfixturevalue("seaweedfs")
        made = S3Driver(s3_settings(seaweedfs.parameters(seaweedfs.make_root("purge"))))
    else:
        made = FilesystemDriver(tmp_path)
    yield made
    await made.close()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_purging_removes_the_hash_states_with_the_upload(driver: StorageDriver) -> None:
    registry = Registry(driver, RegistryOptions(secret="s"))
    abandoned = await registry.uploads.start("team/abandoned")
    state = await registry.uploads.append(abandoned, _body(b"x" * 1000), 0)
    await registry.uploads.append(state, _body(b"y" * 10), state.offset)
    folder = f"/docker/registry/v2/repositories/team/abandoned/_uploads/{abandoned.upload_id}"
    assert await driver.list_names(f"{folder}/hashstates/sha256") == ["1000", "1010"]
    cutoff = datetime.now(UTC) + timedelta(seconds=5)
    purged = await purge_uploads(registry.layout, cutoff, dry_run=False)
    assert [(upload.repository, upload.upload_id) for upload in purged] == [
        ("team/abandoned", abandoned.upload_id)
    ]
    for path in (folder, f"{folder}/hashstates", f"{folder}/hashstates/sha256/1000"):
        with pytest.raises(PathNotFound):
            await driver.stat(path)
