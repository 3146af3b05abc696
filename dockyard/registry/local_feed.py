"""Zero-copy upload bodies: the kernel moves the bytes into the upload file, the hash reads them back.

A body that can move itself into a file (the HTTP layer's spliced socket, see ``dockyard.api.spliced_body``)
and a writer over a local file (the filesystem driver's) need no Python bytes per chunk: one thread moves
a batch socket → pipe → file while another hashes the batch before it from the page cache, in order.
The hash may run behind the body: the caller gets the body's end as soon as its bytes are in the file,
with the last hash step still to wait for (the upload's chunk is answered while its tail is hashed).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol, runtime_checkable

from dockyard.storage.drivers.base import LocalUploadWriter

_BATCH = 4 << 20  # bytes moved before their hashing starts
_IN_FLIGHT = 4  # batches moved ahead of the hash
_HASH_READ = 1 << 20  # bytes read back from the page cache at once


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...


@runtime_checkable
class MovableBody(Protocol):
    """A request body that can put its bytes into a file descriptor itself."""

    async def move_into(self, fd: int, limit: int) -> int:
        """Append up to ``limit`` more bytes of the body at ``fd``'s position; 0 once all are there.
        Raises (ConnectionError) when the client goes away before the whole body arrived."""


async def feed_local(
    body: MovableBody,
    writer: LocalUploadWriter,
    hasher: Hasher | None,
    after: asyncio.Future[Any] | None = None,
) -> asyncio.Future[Any] | None:
    """Move ``body`` into ``writer``'s file and hash it from there, the two stages overlapping; the first
    hash step waits for ``after`` (the hash of the chunk before, possibly still running). Returns once every
    byte is in the file: the last hash step (``after`` when the body was empty), which may still be running
    and reads the file through ``writer`` (close it only after that step), or None without a hasher."""
    buffer = bytearray(_HASH_READ)  # one per chunk: its hash steps run one after another
    hashed: deque[asyncio.Future[None]] = deque()
    last: asyncio.Future[Any] | None = after
    offset = writer.size
    try:
        while count := await body.move_into(writer.fileno(), _BATCH):
            writer.appended(count)
            if hasher is not None:
                if len(hashed) >= _IN_FLIGHT:
                    await hashed.popleft()
                last = asyncio.ensure_future(_hash_after(last, writer, hasher, offset, count, buffer))
                hashed.append(last)
            offset += count
    except BaseException:
        if hashed:  # no hash step may still read the file when the writer closes
            await asyncio.gather(*hashed, return_exceptions=True)
        raise
    return last if hasher is not None else None


async def _hash_after(
    previous: asyncio.Future[Any] | None,
    writer: LocalUploadWriter,
    hasher: Hasher,
    offset: int,
    count: int,
    buffer: bytearray,
) -> None:
    if previous is not None:
        await previous
    await asyncio.to_thread(_hash_range, writer, hasher, offset, count, buffer)


def _hash_range(
    writer: LocalUploadWriter, hasher: Hasher, offset: int, count: int, buffer: bytearray
) -> None:
    view = memoryview(buffer)
    end = offset + count
    while offset < end:
        read = writer.read_back(offset, view[: end - offset])
        if read <= 0:
            raise OSError(f"upload file ended at {offset} of {end} bytes")
        hasher.update(view[:read])
        offset += read
