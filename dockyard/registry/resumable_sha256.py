"""SHA-256 whose running state can be saved and restored in Go's ``crypto/sha256`` binary format.

The reference registry saves the hash of an upload after each chunk (``MarshalBinary``) so that whichever
node gets the next chunk or the final ``PUT`` carries on without reading the upload back. Python's
``hashlib`` cannot export its state, so this drives OpenSSL's SHA-256 directly through ctypes: the same
library and assembly ``hashlib`` uses, with a context struct whose fields are public (``SHA256_CTX`` in
``openssl/sha.h``). ctypes releases the GIL during each call, so hashing runs beside other threads.

Go's format (108 bytes): ``"sha\\x03"``, the eight state words big-endian, the 64-byte block buffer (the
first ``length % 64`` bytes meaningful, the rest zero), the total length in bytes as a big-endian uint64.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from typing import Self

GO_MAGIC = b"sha\x03"
GO_STATE_SIZE = len(GO_MAGIC) + 8 * 4 + 64 + 8
_BLOCK = 64
_DIGEST_SIZE = 32


class InvalidHashState(ValueError):
    """Bytes that are no Go SHA-256 state (wrong magic or size)."""


class _Context(ctypes.Structure):
    """``SHA256_CTX`` of OpenSSL 1.1 and 3: ``h[8]``, bit count ``Nl``/``Nh``, ``data[16]`` (the partial
    block as raw bytes), ``num`` bytes in it, ``md_len``."""

    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint8 * _BLOCK),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    library = ctypes.CDLL(name)
    context = ctypes.POINTER(_Context)
    library.SHA256_Init.argtypes = [context]
    library.SHA256_Init.restype = ctypes.c_int
    library.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]  # the cheapest call
    library.SHA256_Update.restype = ctypes.c_int
    library.SHA256_Final.argtypes = [ctypes.c_char_p, context]
    library.SHA256_Final.restype = ctypes.c_int
    return library


_crypto = _load()
_init = _crypto.SHA256_Init
_update = _crypto.SHA256_Update
_final = _crypto.SHA256_Final


class ResumableSha256:
    """``hashlib.sha256``'s ``update``/``hexdigest``/``copy``, plus :meth:`to_go` and :meth:`from_go`."""

    __slots__ = ("_address", "_context")

    def __init__(self) -> None:
        self._context = _Context()
        self._address = ctypes.addressof(self._context)
        _init(ctypes.byref(self._context))

    @property
    def length(self) -> int:
        """Bytes hashed so far."""
        bits: int = (self._context.Nh << 32) | self._context.Nl
        return bits >> 3

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytes):
            _update(self._address, data, len(data))
            return
        view = memoryview(data).cast("B")
        if view.readonly:  # ctypes takes the address of bytes or of a writable buffer only
            self.update(view.tobytes())
            return
        buffer = (ctypes.c_char * len(view)).from_buffer(view)
        _update(self._address, buffer, len(view))

    def copy(self) -> ResumableSha256:
        other = ResumableSha256()
        ctypes.memmove(other._address, self._address, ctypes.sizeof(_Context))
        return other

    def digest(self) -> bytes:
        finished = _Context.from_buffer_copy(self._context)  # Final pads the context: keep ours
        out = ctypes.create_string_buffer(_DIGEST_SIZE)
        _final(out, ctypes.byref(finished))
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()

    def to_go(self) -> bytes:
        """The state as Go's ``sha256.digest.MarshalBinary`` writes it."""
        context = self._context
        buffered = bytes(context.data[: context.num])
        return b"".join(
            (
                GO_MAGIC,
                struct.pack(">8I", *context.h),
                buffered.ljust(_BLOCK, b"\0"),
                struct.pack(">Q", self.length),
            )
        )

    @classmethod
    def from_go(cls, state: bytes) -> Self:
        """A hasher continuing from a state Go's ``MarshalBinary`` (or :meth:`to_go`) wrote."""
        if len(state) != GO_STATE_SIZE or not state.startswith(GO_MAGIC):
            raise InvalidHashState(f"not a Go sha256 state ({len(state)} bytes)")
        words = struct.unpack_from(">8I", state, len(GO_MAGIC))
        block_at = len(GO_MAGIC) + 8 * 4
        (length,) = struct.unpack_from(">Q", state, block_at + _BLOCK)
        hasher = cls()
        context = hasher._context
        context.h[:] = words
        bits = (length << 3) & 0xFFFFFFFFFFFFFFFF
        context.Nl, context.Nh = bits & 0xFFFFFFFF, bits >> 32
        buffered = length % _BLOCK
        context.data[:buffered] = state[block_at : block_at + buffered]
        context.num = buffered
        return hasher
