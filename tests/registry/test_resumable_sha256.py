"""The resumable SHA-256 (OpenSSL through ctypes): the same digests as hashlib, and states in Go's
``MarshalBinary`` format that continue where they stopped, in both directions."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest

from dockyard.registry.resumable_sha256 import GO_STATE_SIZE, InvalidHashState, ResumableSha256

# lengths around the 64-byte block and its 56-byte padding limit, and a few blocks more
LENGTHS = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 65536 + 7]


@pytest.mark.parametrize("length", LENGTHS)
def test_digests_match_hashlib(length: int) -> None:
    data = os.urandom(length)
    hasher = ResumableSha256()
    for start in range(0, length, 37):  # odd pieces cross every block boundary
        hasher.update(data[start : start + 37])
    assert hasher.length == length
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert hasher.digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("length", LENGTHS)
def test_go_state_layout(length: int) -> None:
    """magic, 8 big-endian words, the partial block zero-padded to 64 bytes, the length big-endian."""
    data = os.urandom(length)
    hasher = ResumableSha256()
    hasher.update(data)
    state = hasher.to_go()
    assert len(state) == GO_STATE_SIZE == 108
    assert state[:4] == b"sha\x03"
    partial = length % 64
    assert state[36 : 36 + partial] == data[length - partial :]
    assert state[36 + partial : 100] == bytes(64 - partial)
    assert struct.unpack(">Q", state[100:])[0] == length
    if length == 0:  # FIPS 180-4's initial hash value
        assert struct.unpack(">8I", state[4:36])[0] == 0x6A09E667


@pytest.mark.parametrize("length", LENGTHS)
def test_a_restored_state_carries_on(length: int) -> None:
    data = os.urandom(length + 300)
    first = ResumableSha256()
    first.update(data[:length])
    restored = ResumableSha256.from_go(first.to_go())
    assert restored.length == length
    assert restored.to_go() == first.to_go()
    restored.update(data[length:])
    assert restored.hexdigest() == hashlib.sha256(data).hexdigest()


def test_digest_and_copy_leave_the_running_state_alone() -> None:
    hasher = ResumableSha256()
    hasher.update(b"abc")
    twin = hasher.copy()
    assert hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    twin.update(b"def")
    hasher.update(b"xyz")
    assert twin.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()
    assert hasher.hexdigest() == hashlib.sha256(b"abcxyz").hexdigest()


def test_any_buffer_can_be_hashed() -> None:
    hasher = ResumableSha256()
    hasher.update(bytearray(b"ab"))
    hasher.update(memoryview(b"cd"))
    hasher.update(memoryview(bytearray(b"ef")))
    assert hasher.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


@pytest.mark.parametrize(
    "state",
    [b"", b"sha\x03", b"sha\x02" + bytes(104), b"sha\x03" + bytes(103), b"sha\x03" + bytes(105), bytes(108)],
)
def test_what_is_no_state_is_refused(state: bytes) -> None:
    with pytest.raises(InvalidHashState):
        ResumableSha256.from_go(state)
