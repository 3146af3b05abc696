"""Upload sessions: bytes stream into ``_uploads/<id>/data``, are hashed once, and become a blob on commit.

The session's state lives in storage plus the signed ``_state`` token, so any process sharing the
storage and ``http.secret`` can continue it. After each chunk the running SHA-256 is saved where and as the
reference registry saves it (``hashstates/sha256/<offset>``, Go's binary format), so whichever process or
reference node gets the next chunk or the commit carries on from it instead of reading the upload back.
Only an upload without a usable saved state is hashed again from storage at commit.

A chunk the kernel moved into a local file is answered once its bytes are there, while the hash of its
last batches finishes behind the answer and is saved then (see ``_settle``): the next chunk's hashing
queues behind it in this process, and another process that finds no saved state at the upload's offset
waits briefly for it (``_STATE_FOLLOWS`` after the data's last change) rather than read the upload back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.errors import ErrorCode, RegistryError
from dockyard.registry.local_feed import MovableBody, feed_local
from dockyard.registry.resumable_sha256 import InvalidHashState, ResumableSha256
from dockyard.registry.upload_state import InvalidUploadState, UploadState, UploadStateSigner
from dockyard.storage.drivers.base import LocalUploadWriter, PathNotFound, StorageError, UploadWriter
from dockyard.storage.layout import StorageLayout

log = logging.getLogger(__name__)

UPLOAD_ID_RE = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_BATCH = 4 << 20  # bytes handed to a worker thread at once: amortises the hop
_IN_FLIGHT = 4  # batches being hashed or written while the next is read
_HASHERS_KEPT = 512
_SAVED = "sha256"  # the reference's canonical algorithm: the only one whose running state it saves
_STATE_FOLLOWS = 0.5  # seconds after an upload's last change within which its saved state may still come
_FIRST_LOOK = 0.002  # seconds before looking again for a saved state on its way, doubled each time


@dataclass(slots=True)
class _RunningHash:
    """A running sha256 of an upload's first ``offset`` bytes. ``settled`` (None: already) resolves once the
    hash has caught up with them and its state is saved: True when it holds every one of them."""

    offset: int
    hasher: ResumableSha256
    settled: asyncio.Future[bool] | None = None

    async def complete(self) -> bool:
        return True if self.settled is None else await self.settled


class _RunningHashes:
    """sha256 states of the uploads this process served last, valid only while their offset equals the
    stored size (they spare reading the saved state back)."""

    def __init__(self) -> None:
        self._states: OrderedDict[str, _RunningHash] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> _RunningHash | None:
        running = self._states.pop(upload_id, None)
        if running is None:
            return _RunningHash(0, ResumableSha256()) if offset == 0 else None
        return running if running.offset == offset else None

    def keep(self, upload_id: str, running: _RunningHash) -> None:
        self._states[upload_id] = running
        while len(self._states) > _HASHERS_KEPT:
            self._states.popitem(last=False)

    def forget(self, upload_id: str) -> _RunningHash | None:
        return self._states.pop(upload_id, None)


async def _after(previous: asyncio.Future[Any] | None, step: Coroutine[Any, Any, None]) -> None:
    """Run ``step`` once ``previous`` (the same stage's last batch) is done: each stage keeps byte order."""
    if previous is not None:
        try:
            await previous
        except BaseException:
            step.close()  # never started: the stage stops at its first failure
            raise
    await step


async def _feed(
    chunks: AsyncIterator[bytes],
    writer: UploadWriter,
    hasher: ResumableSha256 | None,
    after: asyncio.Future[bool] | None,
) -> asyncio.Future[Any] | None:
    """Read, hash and write at the same time: the event loop reads the socket into the next batch while
    one thread hashes and another writes earlier batches (OpenSSL and file writes release the GIL), each
    stage in order, the hash starting after ``after`` (the chunk before's). A batch is the list of chunks
    as they arrived: nothing is copied to join them. At most ``_IN_FLIGHT`` batches wait, which bounds the
    memory of one upload. A body that can move itself into a local file does so without passing through
    Python (see ``local_feed``), and returns with its hash possibly behind: the step to wait for before
    the writer closes. Otherwise every byte is written and hashed on return (None)."""
    if isinstance(chunks, MovableBody) and isinstance(writer, LocalUploadWriter):
        return await feed_local(chunks, writer, hasher, after)
    in_flight: deque[asyncio.Future[list[None]]] = deque()
    last_write: asyncio.Future[None] | None = None
    last_hash: asyncio.Future[Any] | None = after

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
        if hasher is not None and last_hash is not None:
            await last_hash  # an empty body: the chunk before's hash
    finally:
        if in_flight:  # a failure: let every started step finish before the writer is closed
            await asyncio.gather(*in_flight, return_exceptions=True)
    return None


def _hash_all(hasher: ResumableSha256, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


class UploadManager:
    def __init__(self, layout: StorageLayout, signer: UploadStateSigner) -> None:
        self._layout = layout
        self._signer = signer
        self._hashes = _RunningHashes()
        self._settling: set[asyncio.Future[bool]] = set()  # kept: the loop holds tasks weakly

    def token(self, state: UploadState) -> str:
        return self._signer.pack(state)

    async def start(self, name: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        started_at = datetime.now(UTC)
        await self._layout.create_upload(name, upload_id, started_at)
        return UploadState(name, upload_id, 0, started_at)

    async def resume(
        self,
        name: str,
        upload_id: str,
        token: str | None,
        *,
        allow_stale: bool = False,
        check_on_open: bool = False,
    ) -> UploadState:
        """The upload's current state; a token that was tampered with is refused, and so is one that says
        another offset than the stored one (replayed or stale) unless ``allow_stale`` (a status query).
        ``check_on_open``: a signed token's state is returned as it claims, unread; ``append`` and
        ``commit`` compare it with the stored size as they open the upload (on S3 one listing of its
        parts per request instead of two)."""
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
        if claimed is not None and check_on_open:
            return claimed
        stored_start: datetime | None
        if claimed is not None:  # the signed token carries the start time: the data alone says it exists
            stored_start, size = claimed.started_at, await self._layout.upload_size(name, upload_id)
        else:
            stored_start, size = await asyncio.gather(  # two round trips at once on S3
                self._layout.upload_started_at(name, upload_id), self._layout.upload_size(name, upload_id)
            )
        if size is None or stored_start is None:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id})
        if claimed is not None and claimed.offset != size and not allow_stale:
            raise RegistryError(ErrorCode.RANGE_INVALID, detail={"offset": size, "claimed": claimed.offset})
        return UploadState(name, upload_id, size, stored_start)

    async def append(
        self,
        state: UploadState,
        chunks: AsyncIterator[bytes],
        start: int | None,
        *,
        save_hash_state: bool = True,
    ) -> UploadState:
        """Append a chunk; ``start`` (from Content-Range) must equal the bytes already received. The running
        hash is saved for whoever continues, unless the caller commits next (``save_hash_state=False``);
        it may still be catching up with the chunk on return (see ``_settle``)."""
        writer = await self._opened(state)
        running: _RunningHash | None = None
        try:
            if start is not None and start != state.offset:
                raise RegistryError(
                    ErrorCode.RANGE_INVALID,
                    detail=f"chunk starts at {start}, upload has {state.offset} bytes",
                )
            running = self._hashes.take(state.upload_id, state.offset)
            if running is None:
                saved = await self._saved_hasher(state, writer, exact=True)
                running = None if saved is None else _RunningHash(state.offset, saved)
            if running is None:
                behind = await _feed(chunks, writer, None, None)
            else:
                behind = await _feed(chunks, writer, running.hasher, running.settled)
        except BaseException:
            await writer.close()
            if running is not None:  # its state saved before the upload can be deleted
                await running.complete()
            raise
        size = writer.size
        if running is None:
            await writer.close()
        elif behind is None:
            await writer.close()
            if await self._settle(state, size, running.hasher, None, None, save_hash_state):
                self._hashes.keep(state.upload_id, _RunningHash(size, running.hasher))
        else:
            settled = asyncio.ensure_future(
                self._settle(state, size, running.hasher, behind, writer, save_hash_state)
            )
            self._settling.add(settled)
            settled.add_done_callback(self._settling.discard)
            self._hashes.keep(state.upload_id, _RunningHash(size, running.hasher, settled))
        return UploadState(state.name, state.upload_id, size, state.started_at)

    async def _settle(
        self,
        state: UploadState,
        size: int,
        hasher: ResumableSha256,
        behind: asyncio.Future[Any] | None,
        writer: UploadWriter | None,
        save: bool,
    ) -> bool:
        """Let the hash catch up with the upload's ``size`` bytes (``behind``: its last step), close the
        ``writer`` it reads them through, and save its state; True when it holds every stored byte. A step
        that failed loses the running hash only: the bytes are stored, and a commit hashes them back."""
        try:
            if behind is not None:
                await behind
        except OSError as exc:
            log.warning(
                "upload %s: hashing stopped at %d of %d bytes: %s", state.upload_id, hasher.length, size, exc
            )
        finally:
            if writer is not None:
                await writer.close()
        complete = hasher.length == size
        if complete and save:
            await self._save_hasher(state.name, state.upload_id, hasher)
        return complete

    async def _opened(self, state: UploadState) -> UploadWriter:
        """The upload's writer, refused unless the upload holds exactly the state's offset (a token's
        claim may be stale or replayed)."""
        try:
            writer = await self._layout.upload_writer(state.name, state.upload_id)
        except PathNotFound as exc:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": state.upload_id}) from exc
        if writer.size != state.offset:
            await writer.close()
            raise RegistryError(
                ErrorCode.RANGE_INVALID, detail={"offset": writer.size, "claimed": state.offset}
            )
        return writer

    async def _save_hasher(self, name: str, upload_id: str, hasher: ResumableSha256) -> None:
        """Save the running hash as the reference does; without it a commit elsewhere reads the upload
        back, so a failure is logged, not answered (the chunk itself is stored)."""
        try:
            await self._layout.write_hash_state(name, upload_id, _SAVED, hasher.length, hasher.to_go())
        except StorageError as exc:
            log.warning("could not save the hash state of upload %s at %d: %s", upload_id, hasher.length, exc)

    async def _saved_hasher(
        self, state: UploadState, writer: UploadWriter, *, exact: bool
    ) -> ResumableSha256 | None:
        """The saved hash state at the upload's offset, or (unless ``exact``) the latest one below it.

        A state that is no Go SHA-256 state, or whose length is not its offset, is skipped."""
        offsets = await self._layout.hash_state_offsets(state.name, state.upload_id, _SAVED)
        if state.offset and state.offset not in offsets and isinstance(writer, LocalUploadWriter):
            offsets = await self._offsets_once_saved(state, writer.modified() + _STATE_FOLLOWS, offsets)
        usable = [o for o in offsets if o == state.offset or (not exact and o < state.offset)]
        for offset in reversed(usable):
            saved = await self._layout.read_hash_state(state.name, state.upload_id, _SAVED, offset)
            if saved is None:
                continue
            try:
                hasher = ResumableSha256.from_go(saved)
            except InvalidHashState as exc:
                log.warning("upload %s: hash state at %d skipped: %s", state.upload_id, offset, exc)
                continue
            if hasher.length == offset:
                return hasher
            log.warning("upload %s: hash state at %d says %d bytes", state.upload_id, offset, hasher.length)
        return None

    async def _offsets_once_saved(self, state: UploadState, until: float, offsets: list[int]) -> list[int]:
        """The saved offsets once the upload's own is among them, or at ``until`` (wall clock): the process
        that stored the last chunk may still be hashing its tail (see ``append``)."""
        delay = _FIRST_LOOK
        while state.offset not in offsets and (left := until - time.time()) > 0:
            await asyncio.sleep(min(delay, left))
            delay *= 2
            offsets = await self._layout.hash_state_offsets(state.name, state.upload_id, _SAVED)
        return offsets

    async def _hash_rest(
        self, state: UploadState, hasher: ResumableSha256 | hashlib._Hash, offset: int
    ) -> str:
        """Hash the sealed upload's bytes from ``offset`` (where ``hasher`` stands) to its end."""
        async for chunk in self._layout.upload_reader(state.name, state.upload_id, offset):
            await asyncio.to_thread(hasher.update, chunk)
        return hasher.hexdigest()

    async def _running_hasher(self, state: UploadState) -> ResumableSha256 | None:
        """This process's running hash of the whole upload, once it has caught up. Either way no state save
        of the upload is pending on return: none may land after the upload is gone."""
        running = self._hashes.forget(state.upload_id)
        if running is None:
            return ResumableSha256() if state.offset == 0 else None
        complete = await running.complete()
        return running.hasher if complete and running.offset == state.offset else None

    async def _stored_digest(self, state: UploadState, algorithm: str) -> tuple[str, bool]:
        """The digest of the upload's bytes, sealing them, and whether it came from a saved state: from
        this process's running hash, else from the latest saved state (hashing only the bytes after it),
        else by reading the whole upload back from storage."""
        hasher = await self._running_hasher(state)
        writer = await self._opened(state)
        saved = None
        if algorithm != _SAVED:
            hasher = None
        elif hasher is None:
            try:
                saved = await self._saved_hasher(state, writer, exact=False)
            except BaseException:
                await writer.close()
                raise
        await writer.commit()  # sealed: readable and movable
        if hasher is not None:
            return hasher.hexdigest(), False
        if saved is None:
            return await self._hash_rest(state, hashlib.new(algorithm), 0), False
        if saved.length == state.offset:
            return saved.hexdigest(), True
        return await self._hash_rest(state, saved, saved.length), True

    async def commit(self, state: UploadState, digest: Digest) -> None:
        """Verify the bytes against ``digest`` and publish them as a blob linked into the repository."""
        hexdigest, from_saved = await self._stored_digest(state, digest.algorithm)
        if hexdigest != digest.hex and from_saved:
            # a state saved by another node may be damaged or wrong: the bytes themselves decide
            hexdigest = await self._hash_rest(state, hashlib.new(digest.algorithm), 0)
        if hexdigest != digest.hex:
            await self.cancel(state)
            raise RegistryError(
                ErrorCode.DIGEST_INVALID,
                detail=f"upload has digest {digest.algorithm}:{hexdigest}, client said {digest}",
            )
        await self._layout.commit_upload(state.name, state.upload_id, digest)
        await self._layout.link_layer(state.name, digest, digest)
        await self._layout.delete_upload(state.name, state.upload_id)

    async def cancel(self, state: UploadState) -> None:
        await self._running_hasher(state)
        if not await self._layout.delete_upload(state.name, state.upload_id):
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": state.upload_id})
