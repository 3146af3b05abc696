"""Upload sessions: bytes stream into ``_uploads/<id>/data``, are hashed once, and become a blob on commit.

The session's state lives in storage plus the signed ``_state`` token, so any process sharing the
storage and ``http.secret`` can continue it. A process keeps the running hash of the uploads it served
last; when the next chunk lands elsewhere the hash is rebuilt from storage at commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.upload_state import InvalidUploadState, UploadState, UploadStateSigner
from dockyard.storage.drivers.base import UploadWriter
from dockyard.storage.layout import StorageLayout

UPLOAD_ID_RE = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_BATCH = 4 << 20  # bytes handed to a worker thread at once: amortises the hop
_IN_FLIGHT = 4  # batches being hashed or written while the next is read
_HASHERS_KEPT = 512


class _RunningHashes:
    """sha256 states of recent uploads, valid only while their offset equals the stored size."""

    def __init__(self) -> None:
        self._states: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        entry = self._states.pop(upload_id, None)
        if entry is None:
            return hashlib.sha256() if offset == 0 else None
        return entry[1] if entry[0] == offset else None

    def keep(self, upload_id: str, offset: int, hasher: hashlib._Hash) -> None:
        self._states[upload_id] = (offset, hasher)
        while len(self._states) > _HASHERS_KEPT:
            self._states.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)


async def _after(previous: asyncio.Future[None] | None, step: Coroutine[Any, Any, None]) -> None:
    """Run ``step`` once ``previous`` (the same stage's last batch) is done: each stage keeps byte order."""
    if previous is not None:
        try:
            await previous
        except BaseException:
            step.close()  # never started: the stage stops at its first failure
            raise
    await step


async def _feed(chunks: AsyncIterator[bytes], writer: UploadWriter, hasher: hashlib._Hash | None) -> None:
    """Read, hash and write at the same time: the event loop reads the socket into the next batch while
    one thread hashes and another writes earlier batches (hashlib and file writes release the GIL), each
    stage in order. A batch is the list of chunks as they arrived: nothing is copied to join them. At most
    ``_IN_FLIGHT`` batches wait, which bounds the memory of one upload."""
    in_flight: deque[asyncio.Future[list[None]]] = deque()
    last_write: asyncio.Future[None] | None = None
    last_hash: asyncio.Future[None] | None = None

    def submit(batch: list[bytes]) -> None:
        nonlocal last_write, last_hash
        last_write = asyncio.ensure_future(_after(last_write, writer.write_chunks(batch)))
        stages = [last_write]
        if hasher is not None:
            last_hash = asyncio.ensure_future(_after(last_hash, asyncio.to_thread(_hash_all, hasher, batch)))
            stages.append(last_hash)
        in_flight.append(asyncio.gather(*stages))

    batch: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            batch.append(chunk)
            size += len(chunk)
            if size >= _BATCH:
                if len(in_flight) >= _IN_FLIGHT:
                    await in_flight.popleft()
                submit(batch)
                batch, size = [], 0
        if batch:
            submit(batch)
        while in_flight:
            await in_flight.popleft()
    finally:
        if in_flight:  # a failure: let every started step finish before the writer is closed
            await asyncio.gather(*in_flight, return_exceptions=True)


def _hash_all(hasher: hashlib._Hash, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


class UploadManager:
    def __init__(self, layout: StorageLayout, signer: UploadStateSigner) -> None:
        self._layout = layout
        self._signer = signer
        self._hashes = _RunningHashes()

    def token(self, state: UploadState) -> str:
        return self._signer.pack(state)

    async def start(self, name: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        started_at = datetime.now(UTC)
        await self._layout.create_upload(name, upload_id, started_at)
        return UploadState(name, upload_id, 0, started_at)

    async def resume(
        self, name: str, upload_id: str, token: str | None, *, allow_stale: bool = False
    ) -> UploadState:
        """The upload's current state; a token that was tampered with is refused, and so is one that says
        another offset than the stored one (replayed or stale) unless ``allow_stale`` (a status query)."""
        if not UPLOAD_ID_RE.match(upload_id):
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail="invalid upload id")
        claimed: UploadState | None = None
        if token:
            try:
                claimed = self._signer.unpack(token)
            except InvalidUploadState as exc:
                raise RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, detail=str(exc)) from exc
            if claimed.name != name or claimed.upload_id != upload_id:
                raise RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, detail="upload state does not match URL")
        stored_start, size = await asyncio.gather(  # two round trips at once on S3
            self._layout.upload_started_at(name, upload_id), self._layout.upload_size(name, upload_id)
        )
        if size is None or stored_start is None:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id})
        if claimed is not None and claimed.offset != size and not allow_stale:
            raise RegistryError(ErrorCode.RANGE_INVALID, detail={"offset": size, "claimed": claimed.offset})
        return UploadState(name, upload_id, size, claimed.started_at if claimed else stored_start)

    async def append(
        self, state: UploadState, chunks: AsyncIterator[bytes], start: int | None
    ) -> UploadState:
        """Append a chunk; ``start`` (from Content-Range) must equal the bytes already received."""
        if start is not None and start != state.offset:
            raise RegistryError(
                ErrorCode.RANGE_INVALID,
                detail=f"chunk starts at {start}, upload has {state.offset} bytes",
            )
        hasher = self._hashes.take(state.upload_id, state.offset)
        writer = await self._layout.upload_writer(state.name, state.upload_id)
        try:
            await _feed(chunks, writer, hasher)
        finally:
            size = writer.size
            await writer.close()
        # reached only when every byte was both written and hashed
        if hasher is not None:
            self._hashes.keep(state.upload_id, size, hasher)
        return UploadState(state.name, state.upload_id, size, state.started_at)

    async def commit(self, state: UploadState, digest: Digest) -> None:
        """Verify the bytes against ``digest`` and publish them as a blob linked into the repository."""
        hasher = self._hashes.take(state.upload_id, state.offset) if digest.algorithm == "sha256" else None
        await self._layout.seal_upload(state.name, state.upload_id)
        if hasher is None:
            hasher = hashlib.new(digest.algorithm)
            async for chunk in self._layout.upload_reader(state.name, state.upload_id):
                await asyncio.to_thread(hasher.update, chunk)
        actual = Digest(digest.algorithm, hasher.hexdigest())
        if actual != digest:
            await self.cancel(state)
            raise RegistryError(
                ErrorCode.DIGEST_INVALID, detail=f"upload has digest {actual}, client said {digest}"
            )
        await self._layout.commit_upload(state.name, state.upload_id, digest)
        await self._layout.link_layer(state.name, digest, digest)
        await self._layout.delete_upload(state.name, state.upload_id)

    async def cancel(self, state: UploadState) -> None:
        self._hashes.forget(state.upload_id)
        if not await self._layout.delete_upload(state.name, state.upload_id):
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": state.upload_id})
