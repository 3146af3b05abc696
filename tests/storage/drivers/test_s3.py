"""The S3 driver's memory of the multipart upload at a key: another process completing, restarting or
aborting that upload is noticed (S3 answers NoSuchUpload for the old id), never written past."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dockyard.config import s3_settings
from dockyard.storage.drivers.base import PathNotFound
from dockyard.storage.drivers.s3 import S3Driver
from tests.support.seaweed import SeaweedServer

PATH = "/uploads/one/data"


@pytest.fixture
async def two_drivers(seaweedfs: SeaweedServer) -> AsyncIterator[tuple[S3Driver, S3Driver]]:
    parameters = seaweedfs.parameters(seaweedfs.make_root("memo"))
    first, second = S3Driver(s3_settings(parameters)), S3Driver(s3_settings(parameters))
    yield first, second
    await first.close()
    await second.close()


async def _append(driver: S3Driver, data: bytes) -> int:
    writer = await driver.writer(PATH, append=True)
    await writer.write(data)
    await writer.close()
    return writer.size


async def test_an_upload_restarted_elsewhere_is_found_again(two_drivers: tuple[S3Driver, S3Driver]) -> None:
    first, second = two_drivers
    writer = await first.writer(PATH)  # remembers the new upload's id
    await writer.write(b"a" * 10)
    await writer.close()
    # the other process appends after a part under 5 MiB: it completes that upload and starts a new one
    assert await _append(second, b"b" * 20) == 30
    assert await _append(first, b"c" * 5) == 35  # the remembered id is gone: listed again
    assert await _append(second, b"d") == 36
    sealed = await first.writer(PATH, append=True)
    await sealed.commit()
    assert await first.get_content(PATH) == b"a" * 10 + b"b" * 20 + b"c" * 5 + b"d"


async def test_an_upload_aborted_elsewhere_is_gone(two_drivers: tuple[S3Driver, S3Driver]) -> None:
    first, second = two_drivers
    writer = await first.writer(PATH)
    await writer.write(b"a" * 10)
    await writer.close()
    await second.delete("/uploads/one")
    with pytest.raises(PathNotFound):
        await first.writer(PATH, append=True)
