"""The filesystem driver's stat-checked cache of small files and listings: served only while the file or
directory is exactly the one it read."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.storage.drivers.filesystem import FilesystemDriver, StatCache


def _settled_file(path: Path, data: bytes) -> os.stat_result:
    path.write_bytes(data)
    time.sleep(1.1)  # older than the cache's settling time
    return os.stat(path)


def test_entry_is_served_until_the_file_changes_in_any_way(tmp_path: Path) -> None:
    cache: StatCache[bytes] = StatCache()
    link = tmp_path / "link"
    identity = _settled_file(link, b"sha256:aaaa")
    cache.put(str(link), identity, b"cached bytes")
    assert cache.get(str(link)) == b"cached bytes"  # served from the cache, not read
    mtime = identity.st_mtime_ns
    link.write_bytes(b"sha256:bbbb")  # rewritten in place, same size, its mtime put back:
    os.utime(link, ns=(mtime, mtime))  # the ctime still moved
    assert cache.get(str(link)) is None
    replacement = tmp_path / "new"
    replacement.write_bytes(b"sha256:cccc")
    cache.put(str(link), _settled_file(link, b"sha256:dddd"), b"sha256:dddd")
    os.replace(replacement, link)  # replaced by another inode
    assert cache.get(str(link)) is None


def test_recently_changed_files_are_not_kept(tmp_path: Path) -> None:
    cache: StatCache[bytes] = StatCache()
    fresh = tmp_path / "fresh"
    fresh.write_bytes(b"x")
    cache.put(str(fresh), os.stat(fresh), b"x")
    assert cache.get(str(fresh)) is None


async def test_driver_reads_see_rewrites_by_other_writers(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    await driver.put_content("/tags/t/current/link", b"sha256:1111")
    time.sleep(1.1)
    assert await driver.get_content("/tags/t/current/link") == b"sha256:1111"
    (tmp_path / "tags/t/current/link").write_bytes(b"sha256:2222")  # in place, as the reference writes
    assert await driver.get_content("/tags/t/current/link") == b"sha256:2222"
    await driver.delete("/tags/t")
    assert not (tmp_path / "tags").joinpath("t").exists()


async def test_listings_follow_entries_added_and_removed_by_others(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    tags = tmp_path / "r" / "tags"
    for name in ("a", "b"):
        (tags / name).mkdir(parents=True)
    time.sleep(1.1)
    assert await driver.list_names("/r/tags") == ["a", "b"]
    assert await driver.list_names("/r/tags") == ["a", "b"]  # from the cache now
    (tags / "c").mkdir()  # another process adds a tag
    assert await driver.list_names("/r/tags") == ["a", "b", "c"]
    time.sleep(1.1)
    assert await driver.list_names("/r/tags") == ["a", "b", "c"]
    (tags / "a").rmdir()
    assert await driver.list_names("/r/tags") == ["b", "c"]
    listing = await driver.list_names("/r/tags")
    listing.clear()  # callers get their own copy
    assert await driver.list_names("/r/tags") == ["b", "c"]


async def test_listings_hide_the_temp_files_of_atomic_writes_only(tmp_path: Path) -> None:
    """``.tmp-<id>`` files (a write in progress here or in another process) are not listed; names that
    merely look alike are."""
    driver = FilesystemDriver(tmp_path)
    folder = tmp_path / "f"
    folder.mkdir()
    for name in (".tmp-", ".tmp-1a2b", ".tmp-zz", ".tmp.x", ".tmpfoo", ".a", "b"):
        (folder / name).write_bytes(b"1")
    assert await driver.list_names("/f") == [".a", ".tmp.x", ".tmpfoo", "b"]
    assert await driver.list_names("/f", ".tmp") == [".tmp.x", ".tmpfoo", "b"]
