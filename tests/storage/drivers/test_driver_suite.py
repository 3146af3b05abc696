"""The one suite every storage driver passes: a new driver joins by adding itself to ``DRIVERS``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import requests

from dockyard.config import s3_settings
from dockyard.metrics import install
from dockyard.storage.drivers.base import InvalidPath, PathNotFound, StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.instrumented import InstrumentedDriver
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.drivers.s3 import S3Driver


def _s3(request: pytest.FixtureRequest, tmp: Path) -> StorageDriver:
    seaweedfs = request.getfixturevalue("seaweedfs")
    return S3Driver(s3_settings(seaweedfs.parameters(seaweedfs.make_root("suite"))))


DRIVERS: dict[str, Callable[[pytest.FixtureRequest, Path], StorageDriver]] = {
    "filesystem": lambda request, tmp: FilesystemDriver(tmp / "root"),
    "inmemory": lambda request, tmp: MemoryDriver(),
    "instrumented": lambda request, tmp: InstrumentedDriver(FilesystemDriver(tmp / "root"), install()),
    "s3": _s3,
}


@pytest.fixture(params=sorted(DRIVERS))
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    made = DRIVERS[request.param](request, tmp_path)
    yield made
    await made.close()


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_put_and_get_content(driver: StorageDriver) -> None:
    await driver.put_content("/a/b/link", b"sha256:abc")
    assert await driver.get_content("/a/b/link") == b"sha256:abc"
    await driver.put_content("/a/b/link", b"new")
    assert await driver.get_content("/a/b/link") == b"new"


async def test_missing_paths_raise_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.get_content("/nothing/here")
    with pytest.raises(PathNotFound):
        await driver.stat("/nothing")
    with pytest.raises(PathNotFound):
        await driver.list_names("/nothing")
    with pytest.raises(PathNotFound):
        await driver.delete("/nothing")
    with pytest.raises(PathNotFound):
        await driver.move("/nothing", "/else")
    with pytest.raises(PathNotFound):
        await _collect(driver.reader("/nothing"))


@pytest.mark.parametrize(
    "path", ["", "relative", "/a/../b", "/a//b", "/a/./b", "/a/b/", "/a b", "/a\x00b", "/.."]
)
async def test_invalid_paths_are_refused(driver: StorageDriver, path: str) -> None:
    with pytest.raises(InvalidPath):
        await driver.put_content(path, b"x")
    with pytest.raises(InvalidPath):
        await driver.get_content(path)


async def test_stat_files_and_directories(driver: StorageDriver) -> None:
    await driver.put_content("/d/file", b"12345")
    info = await driver.stat("/d/file")
    assert (info.path, info.size, info.is_dir) == ("/d/file", 5, False)
    assert info.mtime > 0
    assert (await driver.stat("/d")).is_dir


async def test_list_returns_sorted_direct_children(driver: StorageDriver) -> None:
    for path in ["/r/b/x", "/r/a", "/r/c/y/z", "/r/a-b", "/rr/q"]:
        await driver.put_content(path, b"1")
    assert await driver.list_names("/r") == ["a", "a-b", "b", "c"]
    assert await driver.list_names("/") == ["r", "rr"]


async def test_list_from_a_start_name_skips_what_sorts_before(driver: StorageDriver) -> None:
    for path in ["/s/a/1", "/s/b", "/s/b-c/2", "/s/b.d", "/s/c/3", "/s/ca", "/s/d/_x/4"]:
        await driver.put_content(path, b"1")
    assert await driver.list_names("/s", "b") == ["b", "b-c", "b.d", "c", "ca", "d"]
    assert await driver.list_names("/s", "b0") == ["c", "ca", "d"]
    assert await driver.list_names("/s", "ca") == ["ca", "d"]
    assert await driver.list_names("/s", "zz") == []  # the folder is there, nothing in it sorts that late
    with pytest.raises(PathNotFound):
        await driver.list_names("/absent", "a")


async def test_streaming_writer_appends_and_reader_ranges(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"hello ")
    await writer.write(bytearray(b"wor"))
    assert writer.size == 9
    await writer.close()
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == 9
    await writer.write(memoryview(b"ld"))
    await writer.commit()
    assert await _collect(driver.reader("/up/data")) == b"hello world"
    assert await _collect(driver.reader("/up/data", 6)) == b"world"
    assert await _collect(driver.reader("/up/data", 2, 3)) == b"llo"
    assert await _collect(driver.reader("/up/data", 20)) == b""
    writer = await driver.writer("/up/data")  # not appending: starts over
    await writer.commit()
    assert (await driver.stat("/up/data")).size == 0


async def test_a_fresh_writer_starts_a_file_that_appends_continue(driver: StorageDriver) -> None:
    """``fresh`` (nothing was ever written there) only spares looking for what to replace."""
    writer = await driver.writer("/new/data", fresh=True)
    await writer.write(b"abc")
    await writer.close()
    writer = await driver.writer("/new/data", append=True)
    assert writer.size == 3
    await writer.write(b"de")
    await writer.commit()
    assert await _collect(driver.reader("/new/data")) == b"abcde"


async def test_large_stream_round_trip(driver: StorageDriver) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    writer = await driver.writer("/big/data")
    for _ in range(5):
        await writer.write(block)
    await writer.commit()
    assert (await driver.stat("/big/data")).size == 5 * len(block)
    chunks = [chunk async for chunk in driver.reader("/big/data")]
    assert all(len(chunk) <= 4 << 20 for chunk in chunks)
    assert b"".join(chunks) == block * 5


async def test_appending_needs_an_existing_file(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.writer("/absent/data", append=True)


async def test_appends_of_any_size_resume_where_the_last_stopped(driver: StorageDriver) -> None:
    """Small and large appends alternate (on S3: parts under and over 5 MiB, and a restart after each
    small one), as chunked uploads landing on different replicas do."""
    pieces = [b"a" * 100, bytes(range(256)) * (24 * 1024), b"b" * 7, b"c" * (11 << 20), b"d" * 3]
    writer = await driver.writer("/chunks/data")
    await writer.close()
    expected = b""
    for piece in pieces:
        writer = await driver.writer("/chunks/data", append=True)
        assert writer.size == len(expected)
        await writer.write(piece)
        expected += piece
        await writer.close()
    writer = await driver.writer("/chunks/data", append=True)
    assert writer.size == len(expected)
    await writer.commit()
    assert (await driver.stat("/chunks/data")).size == len(expected)
    assert await _collect(driver.reader("/chunks/data")) == expected


async def test_an_empty_file_can_be_committed(driver: StorageDriver) -> None:
    writer = await driver.writer("/empty/data")
    await writer.commit()
    assert await driver.get_content("/empty/data") == b""


async def test_move_replaces_and_creates_parents(driver: StorageDriver) -> None:
    await driver.put_content("/src/data", b"payload")
    await driver.put_content("/dst/deep/data", b"old")
    await driver.move("/src/data", "/dst/deep/data")
    assert await driver.get_content("/dst/deep/data") == b"payload"
    with pytest.raises(PathNotFound):
        await driver.get_content("/src/data")
    await driver.put_content("/src/other", b"x")
    await driver.move("/src/other", "/fresh/a/b/c")
    assert await driver.get_content("/fresh/a/b/c") == b"x"


async def test_a_moved_file_is_modified_now(driver: StorageDriver) -> None:
    """A blob published by a move is young without a touch (S3 copies make a new object anyway)."""
    await driver.put_content("/src/aged", b"payload")
    written = (await driver.stat("/src/aged")).mtime
    await asyncio.sleep(1.1)  # S3 keeps whole seconds
    await driver.move("/src/aged", "/dst/aged")
    assert (await driver.stat("/dst/aged")).mtime > written


async def test_delete_file_and_tree(driver: StorageDriver) -> None:
    for path in ["/t/a/1", "/t/a/2/3", "/t/b"]:
        await driver.put_content(path, b"1")
    await driver.delete("/t/a")
    assert await driver.list_names("/t") == ["b"]
    await driver.delete("/t/b")
    with pytest.raises(PathNotFound):
        await driver.get_content("/t/b")


async def test_delete_does_not_touch_siblings_sharing_a_prefix(driver: StorageDriver) -> None:
    await driver.put_content("/p/a/1", b"1")
    await driver.put_content("/p/ab/1", b"2")
    await driver.delete("/p/a")
    assert await driver.get_content("/p/ab/1") == b"2"


async def test_touch_makes_a_file_young(driver: StorageDriver) -> None:
    await driver.put_content("/y/old", b"1")
    before = (await driver.stat("/y/old")).mtime
    await asyncio.sleep(1.1)  # S3 keeps whole seconds
    await driver.touch("/y/old")
    assert (await driver.stat("/y/old")).mtime > before
    assert await driver.get_content("/y/old") == b"1"
    with pytest.raises(PathNotFound):
        await driver.touch("/y/missing")


async def test_walk_is_depth_first_and_sorted(driver: StorageDriver) -> None:
    for path in ["/w/b/2", "/w/a/1", "/w/a/0/x"]:
        await driver.put_content(path, b"1")
    walked = [(info.path, info.is_dir) async for info in driver.walk("/w")]
    assert walked == [
        ("/w/a", True),
        ("/w/a/0", True),
        ("/w/a/0/x", False),
        ("/w/a/1", False),
        ("/w/b", True),
        ("/w/b/2", False),
    ]


async def test_redirect_urls_serve_the_bytes(driver: StorageDriver) -> None:
    await driver.put_content("/r/data", b"redirected bytes")
    url = await driver.redirect_url("/r/data")
    if driver.name != "s3":
        assert url is None
        return
    assert url is not None
    got = await asyncio.to_thread(requests.get, url, headers={"Range": "bytes=11-"}, timeout=10)
    assert (got.status_code, got.content) == (206, b"bytes")
    head = await driver.redirect_url("/r/data", "HEAD")
    assert head is not None
    answer = await asyncio.to_thread(requests.head, head, timeout=10)
    assert answer.headers["Content-Length"] == "16"


async def test_s3_keys_are_the_references(request: pytest.FixtureRequest) -> None:
    """``<rootdirectory>/docker/...`` without a leading slash, whatever slashes the root is given with."""
    seaweedfs = request.getfixturevalue("seaweedfs")
    root = seaweedfs.make_root("keys")
    for given in [f"{root}/", f"{root}//", root.lstrip("/")]:
        driver = S3Driver(s3_settings(seaweedfs.parameters(given)))
        await driver.put_content("/docker/registry/v2/x/link", b"sha256:1")
        assert seaweedfs.keys(root.lstrip("/")) == [f"{root.lstrip('/')}/docker/registry/v2/x/link"]
        assert await driver.list_names("/docker/registry/v2") == ["x"]
        await driver.delete("/docker")
        await driver.close()
        assert seaweedfs.keys(root.lstrip("/")) == []


async def test_filesystem_writes_land_under_the_root_only(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    await driver.put_content("/docker/registry/v2/x/link", b"sha256:1")
    assert (tmp_path / "root/docker/registry/v2/x/link").read_bytes() == b"sha256:1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert not [p for p in (tmp_path / "root").rglob(".tmp-*")]
    assert driver.local_path("/docker/registry/v2/x/link") == str(tmp_path / "root/docker/registry/v2/x/link")
    assert MemoryDriver().local_path("/x") is None
