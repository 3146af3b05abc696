"""The ``_state`` token: Go's JSON and HMAC layout, and refusal of anything forged or damaged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from dockyard.registry.upload_state import InvalidUploadState, UploadState, UploadStateSigner

STATE = UploadState(
    "library/busybox",
    "6c2bde4c-5a4e-4b1d-a0f2-6a2d3c1e9b10",
    42,
    datetime(2026, 12, 1, 11, 4, 43, 123450, UTC),
)


def test_token_layout_is_the_reference_registrys() -> None:
    token = UploadStateSigner("secret").pack(STATE)
    raw = base64.urlsafe_b64decode(token)
    mac, payload = raw[:32], raw[32:]
    assert payload == (
        b'{"Name":"library/busybox","UUID":"6c2bde4c-5a4e-4b1d-a0f2-6a2d3c1e9b10",'
        b'"Offset":42,"StartedAt":"2026-12-01T11:04:43.12345Z"}'
    )
    assert mac == hmac.new(b"secret", payload, hashlib.sha256).digest()


def test_round_trip_and_go_nanoseconds() -> None:
    signer = UploadStateSigner("secret")
    assert signer.unpack(signer.pack(STATE)) == STATE
    payload = json.dumps(
        {"Name": "a", "UUID": "u", "Offset": 7, "StartedAt": "2026-12-01T11:04:43.123456789Z"},
        separators=(",", ":"),
    ).encode()
    token = base64.urlsafe_b64encode(hmac.new(b"secret", payload, hashlib.sha256).digest() + payload).decode()
    assert signer.unpack(token).offset == 7


@pytest.mark.parametrize(
    "mutate", ["other-secret", "flip-byte", "truncate", "not-base64", "empty", "negative"]
)
def test_forged_or_damaged_tokens_are_refused(mutate: str) -> None:
    signer = UploadStateSigner("secret")
    token = signer.pack(STATE)
    if mutate == "other-secret":
        token = UploadStateSigner("other").pack(STATE)
    elif mutate == "flip-byte":
        raw = bytearray(base64.urlsafe_b64decode(token))
        raw[40] ^= 1
        token = base64.urlsafe_b64encode(bytes(raw)).decode()
    elif mutate == "truncate":
        token = base64.urlsafe_b64encode(base64.urlsafe_b64decode(token)[:20]).decode()
    elif mutate == "not-base64":
        token = "!!!" + token
    elif mutate == "empty":
        token = ""
    elif mutate == "negative":
        token = signer.pack(UploadState("a", "u", -1, STATE.started_at))
    with pytest.raises(InvalidUploadState):
        signer.unpack(token)
