"""The reference registry's ``_state`` token: the upload's progress, HMAC-signed with ``http.secret``.

The token is ``base64url(HMAC-SHA256(secret, payload) + payload)`` where the payload is the JSON of
``{"Name", "UUID", "Offset", "StartedAt"}`` exactly as Go marshals it, so a reference node sharing the
secret and the storage continues an upload dockyard started, and the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

_MAC_SIZE = hashlib.sha256().digest_size


class InvalidUploadState(ValueError):
    """The token was forged, damaged or signed with another secret."""


@dataclass(frozen=True, slots=True)
class UploadState:
    name: str
    upload_id: str
    offset: int
    started_at: datetime


def _format_time(moment: datetime) -> str:
    """Go's RFC3339Nano: fractional seconds with trailing zeros trimmed."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


class UploadStateSigner:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def pack(self, state: UploadState) -> str:
        payload = json.dumps(
            {
                "Name": state.name,
                "UUID": state.upload_id,
                "Offset": state.offset,
                "StartedAt": _format_time(state.started_at),
            },
            separators=(",", ":"),
        ).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac + payload).decode("ascii")

    def unpack(self, token: str) -> UploadState:
        try:
            raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise InvalidUploadState("malformed upload state") from exc
        mac, payload = raw[:_MAC_SIZE], raw[_MAC_SIZE:]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        if len(mac) != _MAC_SIZE or not hmac.compare_digest(mac, expected):
            raise InvalidUploadState("upload state signature mismatch")
        try:
            fields = json.loads(payload)
            started_at = datetime.fromisoformat(fields["StartedAt"])
            state = UploadState(str(fields["Name"]), str(fields["UUID"]), int(fields["Offset"]), started_at)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidUploadState("malformed upload state") from exc
        if state.offset < 0:
            raise InvalidUploadState("negative upload offset")
        return state
