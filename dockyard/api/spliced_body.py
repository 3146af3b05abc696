"""Large request bodies moved by the kernel: socket → pipe → upload file with ``splice``, no Python bytes.

aiohttp parses the request head as always (and every chunked or TLS body, which keep the ordinary path).
For a plain-TCP body with a ``Content-Length`` of at least ``_MIN_BYTES``, the connection's reading is held
as the upload starts (so aiohttp reads no more of the body while the upload is prepared), and the upload path
may take the connection over: the bytes aiohttp already read are handed on as they are, and the rest of the
body is spliced from the socket — exactly the announced count, never a byte of a
pipelined request behind it. Then aiohttp's parser is walked over the same count of zero bytes, so it is
at the end of the body exactly as if it had read it (its body counters, the bytes-in metric, included),
and the connection goes back to aiohttp for the response and the next request.

A client that goes away mid-body raises ``ConnectionResetError``, as aiohttp's own reads do; the bytes
that arrived stay in the upload (which stays resumable), and the connection is closed after the answer.
One that sends nothing for ``stall`` seconds (``http.timeouts.read``) is cut off as the ordinary path
does (:class:`ClientStalled`, the connection closed unanswered).

The reading hold uses aiohttp's own flow-control hold (``_pause_reading_for_buffer``), which keeps the
socket unread however the body stream is drained; where an aiohttp lacks it, bodies take the ordinary path.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
from collections.abc import Iterator
from types import TracebackType

from aiohttp import web

from dockyard.api.context import ClientStalled, stream_body

_MIN_BYTES = 1 << 20  # smaller bodies: the takeover costs more than it saves
_PIPE_BYTES = 1 << 20  # pipe capacity asked for (the kernel may give less)
_STALL_TICK = 1.0  # seconds a splice thread waits for bytes before it lets the event loop look in
_FILLER = bytes(1 << 20)  # what aiohttp's parser is walked over in place of the spliced bytes


class SplicedBody:
    """The body of one request: its pieces as aiohttp delivers them (``async for``), or moved into a file
    by :meth:`move_into`. Use as an async context manager around the upload: on exit the connection goes
    back to aiohttp (or, after a body cut short, is closed once answered)."""

    def __init__(self, request: web.Request, stall: float) -> None:
        self._request = request
        self._stall = stall
        self._left = request.content_length or 0
        self._held = False  # aiohttp's reading of the connection is held
        self._taken = False  # and the rest of the body comes by splice
        self._spliced = 0
        self._pipe: tuple[int, int] | None = None
        self._ended = False  # the client closed its side before the whole body came
        self._chunks = stream_body(request)

    @staticmethod
    def possible(request: web.Request) -> bool:
        """A large plain-TCP body with a Content-Length and no encoding (what is spliced is stored as is)."""
        transport = request.transport
        headers = request.headers
        return (
            request.content_length is not None
            and request.content_length >= _MIN_BYTES
            and "Transfer-Encoding" not in headers
            and headers.get("Content-Encoding", "identity").lower() == "identity"
            and transport is not None
            and transport.get_extra_info("ssl_object") is None
            and transport.get_extra_info("socket") is not None
            and hasattr(os, "splice")
            and hasattr(request.protocol, "_pause_reading_for_buffer")
        )

    async def __aenter__(self) -> SplicedBody:
        self._request.protocol._pause_reading_for_buffer()
        self._held = True
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        protocol = self._request.protocol
        if not self._taken:
            self._release()
            return
        if self._left:
            # cut short: the rest of the body is still on the wire, so the connection cannot carry another
            # request; the answer goes out, then aiohttp closes it (nothing more is read from it)
            protocol.close()
            self._request.content.feed_eof()
            return
        await self._walk_parser()
        self._release()

    def _release(self) -> None:
        """aiohttp reads the connection again."""
        if self._held:
            self._held = False
            self._request.protocol._resume_reading_for_buffer()

    def __aiter__(self) -> SplicedBody:
        return self

    async def __anext__(self) -> bytes:
        """The next piece as aiohttp delivers it: the ordinary path, for writers that are no local file."""
        if not self._taken:
            self._release()
        return await self._chunks.__anext__()

    async def move_into(self, fd: int, limit: int) -> int:
        """Append up to ``limit`` bytes at ``fd``: first what aiohttp already read, then from the socket."""
        if not self._taken:
            buffered = self._take_over()
            if buffered:
                await asyncio.to_thread(_write_all, fd, buffered)
                return sum(len(piece) for piece in buffered)
        if not self._left:
            return 0
        loop = asyncio.get_running_loop()
        tick = min(_STALL_TICK, self._stall)
        last_bytes = loop.time()
        while True:
            step = loop.run_in_executor(None, self._splice, fd, min(limit, self._left), tick)
            try:
                moved = await asyncio.shield(step)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await step  # the thread still uses the descriptors: let it finish its tick
                raise
            if moved:
                self._left -= moved
                self._spliced += moved
                return moved
            transport = self._request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the connection closed in the middle of the request body")
            if loop.time() - last_bytes >= self._stall:
                transport.close()
                raise ClientStalled(f"no body bytes for {self._stall:g}s")

    def _take_over(self) -> list[bytes]:
        """Take what aiohttp buffered of the body; the reading hold keeps the socket unread meanwhile."""
        assert self._held, "move_into outside the body's context"
        content = self._request.content
        pieces = []
        while piece := content.read_nowait():  # may let the parser hand over what it held back
            pieces.append(piece)
        self._taken = True
        self._left -= sum(len(piece) for piece in pieces)
        read, write = os.pipe2(os.O_CLOEXEC)
        self._pipe = (read, write)
        with contextlib.suppress(OSError):
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        return pieces

    def _splice(self, fd: int, limit: int, tick: float) -> int:
        """In a worker thread: move up to ``limit`` bytes socket → pipe → file; returns the count, 0 when
        nothing came for ``tick`` seconds. The socket stays non-blocking: waits are ``poll``s. At
        the client's end of stream, what came is returned first; the next call raises."""
        if self._ended:
            raise ConnectionResetError(f"the client closed the connection with {self._left} bytes unsent")
        assert self._pipe is not None and self._request.transport is not None
        sock = self._request.transport.get_extra_info("socket").fileno()
        read_end, write_end = self._pipe
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLRDHUP)
        moved = 0
        while moved < limit:
            try:
                count = os.splice(
                    sock, write_end, min(limit - moved, _PIPE_BYTES), flags=os.SPLICE_F_NONBLOCK
                )
            except BlockingIOError:
                if not poller.poll(tick * 1000):
                    return moved
                continue
            if count == 0:
                self._ended = True
                if not moved:
                    raise ConnectionResetError(
                        f"the client closed the connection with {self._left} bytes unsent"
                    )
                return moved
            while count:
                written = os.splice(read_end, fd, count)
                count -= written
                moved += written
        return moved

    async def _walk_parser(self) -> None:
        """Feed aiohttp's parser as many zero bytes as were spliced and drop them from the body stream,
        a slice at a time with the event loop free between slices (the reading hold keeps the socket
        unread): the parser ends the body where the client did."""
        protocol = self._request.protocol
        content = self._request.content
        for size in _slices(self._spliced, len(_FILLER)):
            if self._request.transport is None:
                return  # the client went away after its body: no connection left to hand back
            protocol.data_received(_FILLER if size == len(_FILLER) else _FILLER[:size])
            while content.read_nowait():
                pass
            await asyncio.sleep(0)
        if not content.is_eof() and self._request.transport is not None:
            raise RuntimeError("the HTTP parser did not reach the end of a spliced body")


def _slices(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(total, size)
        total -= size


def _write_all(fd: int, pieces: list[bytes]) -> None:
    for piece in pieces:
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view) :]
