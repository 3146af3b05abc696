"""The seqlock between collectors and per-process caches, in process on a filesystem root (the same with
real server processes and the command: tests/e2e/test_gc_generation.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import Descriptor
from dockyard.registry.gc_generation import GenerationCheckedCache, Sweep
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.layout import StorageLayout

_BLOB = Digest.of(b"blob")
_DESCRIPTOR = Descriptor(_BLOB, 4)


async def _lookup(cache: GenerationCheckedCache) -> Descriptor | None:
    """As BlobStore.stat does: ask the cache, and on a miss put what storage said."""
    found = await cache.get("app", _BLOB)
    if found is None:
        await cache.put("app", _BLOB, _DESCRIPTOR)
    return found


async def test_a_sweep_announced_elsewhere_turns_the_cache_off_then_empties_it(tmp_path: Path) -> None:
    layout = StorageLayout(FilesystemDriver(tmp_path))
    cache = GenerationCheckedCache(layout, check_seconds=0.05)
    assert await _lookup(cache) is None
    assert await _lookup(cache) == _DESCRIPTOR
    sweep = Sweep(StorageLayout(FilesystemDriver(tmp_path)), wait_seconds=0.1)  # "another process"
    await sweep.begin()
    assert await _lookup(cache) is None  # sweeping: storage answers, nothing is kept
    assert await _lookup(cache) is None
    await sweep.end()
    await asyncio.sleep(0.1)
    assert await _lookup(cache) is None  # a new generation: an empty cache
    assert await _lookup(cache) == _DESCRIPTOR


async def test_what_a_lookup_read_before_a_sweep_is_not_kept_after_it(tmp_path: Path) -> None:
    layout = StorageLayout(FilesystemDriver(tmp_path))
    cache = GenerationCheckedCache(layout, check_seconds=0.0)  # a read-only server: reads every time
    assert await cache.get("app", _BLOB) is None  # the lookup begins ...
    sweep = Sweep(layout, wait_seconds=0.0)
    await sweep.begin()
    await sweep.end()
    assert await cache.get("other", _BLOB) is None  # (another request reads the new generation)
    await cache.put("app", _BLOB, _DESCRIPTOR)  # ... and ends with what storage said before the sweep
    assert await cache.get("app", _BLOB) is None


async def test_a_damaged_marker_keeps_the_cache_off(tmp_path: Path) -> None:
    layout = StorageLayout(FilesystemDriver(tmp_path))
    await layout.write_gc_generation(b"{not json")
    cache = GenerationCheckedCache(layout, check_seconds=0.0)
    assert await _lookup(cache) is None
    assert await _lookup(cache) is None
