"""``auth.htpasswd``: Basic authentication against an Apache htpasswd file of bcrypt entries.

As the reference registry: any valid user may do anything, the file is re-read when it changes, and a
failure answers ``WWW-Authenticate: Basic realm="<realm>"``. bcrypt is slow on purpose, so it runs off the
event loop, and a successful check is remembered (as an HMAC under a per-process key, never the password)
until the user's entry changes: clients send the same credentials with every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from aiohttp import BasicAuth

from dockyard.auth.access import Access, Challenge, Grant, RequestCredentials, quoted

log = logging.getLogger(__name__)

_REMEMBERED = 1024
# Compared against when the user is unknown, so that the answer takes as long as for a known user.
_DUMMY_HASH = bcrypt.hashpw(b"dockyard-no-such-user", bcrypt.gensalt(rounds=10))


class HtpasswdError(ValueError):
    """The file cannot be read or has a line that is not ``user:hash``."""


def parse_htpasswd(text: str) -> dict[str, bytes]:
    """``user -> bcrypt hash`` from htpasswd text; blank lines and ``#`` comments are skipped."""
    entries: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon:
            raise HtpasswdError(f"htpasswd: invalid entry at line {number}")
        entries[user] = hashed.encode()
    return entries


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: tuple[int, int, int]
    entries: dict[str, bytes]


class HtpasswdFile:
    """The users of one htpasswd file, re-read whenever its size, mtime or inode changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._snapshot: _Snapshot | None = None
        self._key = secrets.token_bytes(32)
        self._remembered: OrderedDict[bytes, None] = OrderedDict()
        self.entries()  # a missing or broken file stops the server at start

    def entries(self) -> dict[str, bytes]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if self._snapshot is None or self._snapshot.stamp != stamp:
                self._snapshot = _Snapshot(stamp, parse_htpasswd(self.path.read_text(errors="replace")))
        except OSError as exc:
            raise HtpasswdError(f"cannot read htpasswd file {self.path}: {exc.strerror}") from exc
        return self._snapshot.entries

    async def verify(self, user: str, password: str) -> bool:
        hashed = self.entries().get(user)
        secret = password.encode()
        key = hmac.new(self._key, b"\0".join((user.encode(), secret, hashed or b"")), hashlib.sha256).digest()
        if hashed is not None and key in self._remembered:
            self._remembered.move_to_end(key)
            return True
        ok = await asyncio.to_thread(_checkpw, secret, hashed or _DUMMY_HASH)
        if not ok or hashed is None:
            return False
        self._remembered[key] = None
        if len(self._remembered) > _REMEMBERED:
            self._remembered.popitem(last=False)
        return True


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # not a bcrypt hash: the reference accepts only bcrypt too
        return False


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """User and password of a ``Basic`` Authorization header; None when absent or malformed."""
    if not authorization:
        return None
    try:
        auth = BasicAuth.decode(authorization)
    except ValueError:
        return None
    return auth.login, auth.password


class HtpasswdController:
    """Any user of the file may do anything; everybody else is challenged for Basic credentials."""

    def __init__(self, realm: str, users: HtpasswdFile) -> None:
        self.users = users
        self.challenge_header = f"Basic realm={quoted(realm)}"

    async def authorize(self, request: RequestCredentials, accesses: Sequence[Access]) -> Grant:
        credentials = basic_credentials(request.authorization)
        if credentials is None:
            raise Challenge(self.challenge_header, "no basic auth credentials")
        user, password = credentials
        try:
            ok = await self.users.verify(user, password)
        except HtpasswdError as exc:
            log.error("%s; refusing every user until it is fixed", exc)
            ok = False
        if not ok:
            log.error("error authenticating user %r: authentication failure", user)
            raise Challenge(self.challenge_header, "authentication failure")
        return Grant(user)
