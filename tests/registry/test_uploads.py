"""Upload sessions across processes: each chunk saves the running SHA-256 where the reference saves it, and
whoever commits carries on from it instead of reading the upload back. Two registries on one root stand for
two processes; a filesystem driver that records its reads shows what was read back. On S3 (SeaweedFS) the
requests of a small push are counted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.config import s3_settings
from dockyard.grammar import Digest
from dockyard.registry import local_feed, uploads
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.resumable_sha256 import ResumableSha256
from dockyard.registry.service import Registry, RegistryOptions
from dockyard.registry.upload_state import UploadState
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.s3 import S3Driver
from tests.support.seaweed import SeaweedServer

NAME = "team/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


class ReadRecordingDriver(FilesystemDriver):
    """The filesystem driver, recording every stream it opens as (path, offset)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[tuple[str, int]] = []

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        self.reads.append((path, offset))
        return super().reader(path, offset, length)


def _registry(root: Path) -> tuple[Registry, ReadRecordingDriver]:
    driver = ReadRecordingDriver(root)
    return Registry(driver, RegistryOptions(secret="s", delete_enabled=True)), driver


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _upload_dir(root: Path, state: UploadState) -> Path:
    return root / "docker/registry/v2/repositories" / state.name / "_uploads" / state.upload_id


def _state_of(data: bytes) -> bytes:
    hasher = ResumableSha256()
    hasher.update(data)
    return hasher.to_go()


async def _handed_over(source: Registry, target: Registry, state: UploadState) -> UploadState:
    """The upload as the other process sees it, from the token the first one handed out."""
    return await target.uploads.resume(state.name, state.upload_id, source.uploads.token(state))


async def _blob(registry: Registry, digest: Digest) -> bytes:
    return b"".join([chunk async for chunk in registry.layout.blob_reader(digest)])


async def test_each_chunk_saves_the_hash_state_where_the_reference_does(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    chunk1, chunk2 = os.urandom(100_000), os.urandom(77)
    state = await registry.uploads.start(NAME)
    state = await registry.uploads.append(state, _body(chunk1[:5000], chunk1[5000:]), 0)
    state = await registry.uploads.append(state, _body(chunk2), state.offset)
    states = _upload_dir(tmp_path, state) / "hashstates" / "sha256"
    assert sorted(int(p.name) for p in states.iterdir()) == [100_000, 100_077]
    assert (states / "100000").read_bytes() == _state_of(chunk1)
    assert (states / "100077").read_bytes() == _state_of(chunk1 + chunk2)

    last = os.urandom(10)  # a chunk a commit follows at once saves nothing
    state = await registry.uploads.append(state, _body(last), state.offset, save_hash_state=False)
    assert sorted(int(p.name) for p in states.iterdir()) == [100_000, 100_077]


async def test_another_process_continues_and_commits_without_reading_back(tmp_path: Path) -> None:
    first, first_driver = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    chunk1, chunk2 = os.urandom(300_001), os.urandom(4099)
    digest = Digest.of(chunk1 + chunk2)
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(chunk1), 0)
    state = await _handed_over(first, second, state)
    state = await second.uploads.append(state, _body(chunk2), state.offset)
    state = await _handed_over(second, first, state)
    await first.uploads.commit(state, digest)  # the first process's running hash is one chunk behind
    assert first_driver.reads == [] and second_driver.reads == []
    assert await _blob(first, digest) == chunk1 + chunk2
    assert not _upload_dir(tmp_path, state).exists()


async def test_without_a_state_at_the_end_only_the_bytes_after_the_last_one_are_read(tmp_path: Path) -> None:
    first, _ = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    chunk1, chunk2 = os.urandom(70_000), os.urandom(5_000)
    digest = Digest.of(chunk1 + chunk2)
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(chunk1), 0)
    state = await first.uploads.append(state, _body(chunk2), state.offset, save_hash_state=False)
    await second.uploads.commit(await _handed_over(first, second, state), digest)
    assert [offset for _, offset in second_driver.reads] == [len(chunk1)]
    assert await _blob(second, digest) == chunk1 + chunk2


class _MovedBody:
    """A body that puts itself into the upload file, as a spliced socket does (``local_feed``): the path on
    which a chunk is answered before its hash has caught up."""

    def __init__(self, data: bytes) -> None:
        self._left = memoryview(data)

    async def move_into(self, fd: int, limit: int) -> int:
        piece, self._left = self._left[:limit], self._left[limit:]
        written = 0
        while written < len(piece):
            written += os.write(fd, piece[written:])
        return written

    def __aiter__(self) -> _MovedBody:
        return self

    async def __anext__(self) -> bytes:
        if not self._left:
            raise StopAsyncIteration
        piece, self._left = self._left.tobytes(), self._left[:0]
        return piece


@pytest.fixture
def held_hashing(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every hash step of a moved body waits until the event is set (the real step runs then)."""
    gate = threading.Event()
    real = local_feed._hash_range

    def held(*args: Any) -> None:
        assert gate.wait(10), "hashing held for good"
        real(*args)

    monkeypatch.setattr(local_feed, "_hash_range", held)
    return gate


async def test_a_chunk_is_answered_before_its_hash_catches_up(
    tmp_path: Path, held_hashing: threading.Event
) -> None:
    """Both chunks are stored while no byte is hashed yet; the next chunk's hashing queues behind, and a
    commit in another process waits for the saved state instead of reading the upload back."""
    first, first_driver = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    chunk1, chunk2 = os.urandom((9 << 20) + 5), os.urandom(1 << 20)
    digest = Digest.of(chunk1 + chunk2)
    state = await first.uploads.start(NAME)
    state = await asyncio.wait_for(first.uploads.append(state, _MovedBody(chunk1), 0), 5)
    state = await asyncio.wait_for(first.uploads.append(state, _MovedBody(chunk2), state.offset), 5)
    states = _upload_dir(tmp_path, state) / "hashstates" / "sha256"
    assert not states.exists() or not any(states.iterdir())
    commit = asyncio.ensure_future(second.uploads.commit(await _handed_over(first, second, state), digest))
    await asyncio.sleep(0.1)
    assert not commit.done()
    held_hashing.set()
    await asyncio.wait_for(commit, 5)
    assert first_driver.reads == [] and second_driver.reads == []
    assert await _blob(second, digest) == chunk1 + chunk2
    assert not _upload_dir(tmp_path, state).exists()


async def test_a_cancel_waits_for_the_state_still_to_be_saved(
    tmp_path: Path, held_hashing: threading.Event
) -> None:
    """A state saved after the upload was deleted would bring its folder back: the cancel waits for it."""
    registry, _ = _registry(tmp_path)
    state = await registry.uploads.start(NAME)
    state = await asyncio.wait_for(registry.uploads.append(state, _MovedBody(os.urandom(5 << 20)), 0), 5)
    cancel = asyncio.ensure_future(registry.uploads.cancel(state))
    await asyncio.sleep(0.1)
    assert not cancel.done()
    held_hashing.set()
    await asyncio.wait_for(cancel, 5)
    await asyncio.sleep(0.1)
    assert not _upload_dir(tmp_path, state).exists()


async def test_a_commit_elsewhere_waits_for_a_missing_state_only_after_a_recent_change(
    tmp_path: Path,
) -> None:
    """A state that never comes (here: deleted) is waited for only while the upload's last change is
    recent; after that the commit reads the bytes back at once."""
    first, _ = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    data = os.urandom(2 << 20)
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(data), 0)  # the state saved on return
    upload = _upload_dir(tmp_path, state)
    for saved in (upload / "hashstates" / "sha256").iterdir():
        saved.unlink()
    long_ago = time.time() - 3600
    os.utime(upload / "data", (long_ago, long_ago))
    started = time.monotonic()
    await second.uploads.commit(await _handed_over(first, second, state), Digest.of(data))
    assert time.monotonic() - started < uploads._STATE_FOLLOWS
    assert [offset for _, offset in second_driver.reads] == [0]


def _damaged(kind: str, good: bytes) -> bytes:
    if kind == "garbage":
        return os.urandom(200)
    if kind == "truncated":
        return good[:50]
    if kind == "wrong-length":  # a Go state of 8 bytes, saved under the name of the real offset
        return _state_of(b"12345678")
    # a well-formed state of other bytes of the same length: only the digest can tell
    return _state_of(os.urandom(len(good)))


@pytest.mark.parametrize("kind", ["garbage", "truncated", "wrong-length", "other-bytes"])
async def test_a_damaged_hash_state_never_makes_a_wrong_digest(tmp_path: Path, kind: str) -> None:
    first, _ = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    data = os.urandom(123_457)
    digest = Digest.of(data)
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(data), 0)
    saved = _upload_dir(tmp_path, state) / "hashstates" / "sha256" / str(len(data))
    saved.write_bytes(_damaged(kind, data))
    await second.uploads.commit(await _handed_over(first, second, state), digest)
    assert [offset for _, offset in second_driver.reads][-1] == 0  # the bytes themselves were hashed
    assert await _blob(second, digest) == data


async def test_a_wrong_digest_is_refused_after_a_saved_state(tmp_path: Path) -> None:
    first, _ = _registry(tmp_path)
    second, _ = _registry(tmp_path)
    data = os.urandom(10_000)
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(data), 0)
    wrong = Digest.of(data + b"!")
    with pytest.raises(RegistryError) as refused:
        await second.uploads.commit(await _handed_over(first, second, state), wrong)
    assert refused.value.code is ErrorCode.DIGEST_INVALID
    assert await second.layout.blob_size(wrong) is None
    assert not _upload_dir(tmp_path, state).exists()


async def test_sha512_uploads_are_hashed_from_storage(tmp_path: Path) -> None:
    """The reference saves sha256 states only; a sha512 digest is checked against the stored bytes."""
    first, _ = _registry(tmp_path)
    second, second_driver = _registry(tmp_path)
    data = os.urandom(5_000)
    digest = Digest("sha512", hashlib.sha512(data).hexdigest())
    state = await first.uploads.start(NAME)
    state = await first.uploads.append(state, _body(data), 0)
    await second.uploads.commit(await _handed_over(first, second, state), digest)
    assert [offset for _, offset in second_driver.reads] == [0]
    assert await _blob(second, digest) == data


async def test_a_claimed_offset_is_checked_where_the_upload_is_opened(tmp_path: Path) -> None:
    """A state resumed from its token unread (``check_on_open``) that is stale is refused by ``append``
    and ``commit`` with the stored size, and nothing is written or sealed: the upload carries on."""
    registry, _ = _registry(tmp_path)
    data = os.urandom(300)
    started = await registry.uploads.start(NAME)
    state = await registry.uploads.append(started, _body(data[:100]), 0)
    stale = await _resumed(registry, started)
    assert stale.offset == 0
    for attempt in (
        registry.uploads.append(stale, _body(data[100:]), None),
        registry.uploads.commit(stale, Digest.of(b"")),
    ):
        with pytest.raises(RegistryError) as refused:
            await attempt
        assert refused.value.code is ErrorCode.RANGE_INVALID
        assert refused.value.detail == {"offset": 100, "claimed": 0}
    state = await registry.uploads.append(await _resumed(registry, state), _body(data[100:]), 100)
    await registry.uploads.commit(await _resumed(registry, state), Digest.of(data))
    assert await _blob(registry, Digest.of(data)) == data


async def test_an_upload_gone_is_unknown_where_it_is_opened(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    state = await _resumed(registry, await registry.uploads.start(NAME))
    await registry.uploads.cancel(state)
    for attempt in (
        registry.uploads.append(state, _body(b"x"), 0),
        registry.uploads.commit(state, Digest.of(b"")),
    ):
        with pytest.raises(RegistryError) as refused:
            await attempt
        assert refused.value.code is ErrorCode.BLOB_UPLOAD_UNKNOWN


async def _resumed(registry: Registry, state: UploadState) -> UploadState:
    """As a PATCH or PUT resumes: from the signed token, its offset checked where the upload is opened."""
    token = registry.uploads.token(state)
    return await registry.uploads.resume(state.name, state.upload_id, token, check_on_open=True)


async def test_a_small_push_on_s3_makes_only_these_requests(seaweedfs: SeaweedServer) -> None:
    """Every S3 request costs the event loop more CPU than its round trip costs time: the requests of a
    small blob's push (HEAD, POST, PATCH, PUT as the API handlers make them) and of a manifest PUT are
    counted, so that one creeping back in fails here."""
    driver = S3Driver(s3_settings(seaweedfs.parameters(seaweedfs.make_root("requests"))))
    registry = Registry(driver, RegistryOptions(secret="s", delete_enabled=True))
    calls: list[str] = []
    client = await driver.client()
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    def made() -> list[str]:
        made, calls[:] = sorted(calls), []
        return made

    async def push(data: bytes) -> tuple[Digest, dict[str, list[str]]]:
        digest = Digest.of(data)
        with pytest.raises(RegistryError):
            await registry.blobs.stat(NAME, digest)
        head = made()
        state = await registry.uploads.start(NAME)
        post = made()
        state = await _resumed(registry, state)
        state = await registry.uploads.append(state, _body(data), None)
        patch = made()
        state = await _resumed(registry, state)
        await registry.uploads.commit(state, digest)
        return digest, {"HEAD": head, "POST": post, "PATCH": patch, "PUT": made()}

    try:
        layer, requests = await push(os.urandom(4096))
        assert requests == {
            "HEAD": ["GetObject"],  # the repository's layer link
            "POST": ["CreateMultipartUpload", "PutObject"],  # startedat; no listing of uploads first
            "PATCH": ["ListParts", "PutObject", "UploadPart"],  # the parts once; the hash state
            "PUT": [
                "CompleteMultipartUpload",
                "CopyObject",  # no HEAD of the blob before, nor of the sealed upload for its size
                "DeleteObject",
                "DeleteObjects",  # the upload's folder: startedat, hash states
                "ListMultipartUploads",
                "ListObjectsV2",
                "ListParts",
                "PutObject",  # the layer link
            ],
        }
        config, _ = await push(b"{}")
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": str(config), "size": 2},
                "layers": [{"mediaType": OCI_LAYER, "digest": str(layer), "size": 4096}],
            }
        ).encode()
        await registry.manifests.put(NAME, "latest", OCI_MANIFEST, manifest)
        assert made() == ["GetObject"] * 2 + ["HeadObject"] * 2 + ["PutObject"] * 4  # links, blobs; manifest,
        assert await registry.layout.blob_bytes(layer) is not None  # revision, tag index and current
    finally:
        await registry.close()
