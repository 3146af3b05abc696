"""The built-in token service's tokens: who asked (htpasswd user or anonymous), what the access file lets
them have of the scopes they asked for, signed with a key dockyard keeps (made at first start).

Access tokens are the Docker token specification's JWTs (``aud`` = service), verified by the same
:class:`~dockyard.auth.token.TokenVerifier` as a third party's. Refresh tokens are JWTs too, with their own
audience so they are never accepted as access tokens; using one re-reads the user's current rights.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.keys import TrustedKeys, libtrust_key_id
from dockyard.auth.policy import PolicyFile
from dockyard.auth.token import InvalidToken
from dockyard.grammar import is_valid_name

ALGORITHM = "ES256"
REFRESH_AUDIENCE_SUFFIX = "#refresh"


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]


def parse_scopes(texts: list[str]) -> list[Scope]:
    """``repository:team/app:pull,push`` (several per text, space-separated); malformed ones are dropped."""
    scopes = []
    for text in texts:
        for item in text.split():
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            kind = kind.split("(")[0]  # resource class, e.g. repository(plugin)
            if kind and name and actions:
                scopes.append(Scope(kind, name, tuple(a for a in actions.split(",") if a)))
    return scopes


def load_or_create_signing_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in ``path`` (PEM); made and written (mode 0600, atomically) when there is none."""
    target = Path(path)
    if target.exists():
        key = serialization.load_pem_private_key(target.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{target}: the token signing key must be an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-key-")
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, pem)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, target)
    return key


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: datetime
    access: list[dict[str, Any]]


class TokenIssuer:
    def __init__(
        self,
        issuer: str,
        service: str,
        users: HtpasswdFile,
        policy: PolicyFile,
        key: ec.EllipticCurvePrivateKey,
        expiration_seconds: float,
        refresh_expiration_seconds: float,
    ) -> None:
        self.issuer = issuer
        self.service = service
        self.users = users
        self.policy = policy
        self._key = key
        self.key_id = libtrust_key_id(key.public_key())
        self.expiration_seconds = int(expiration_seconds)
        self.refresh_expiration_seconds = int(refresh_expiration_seconds)

    def trust(self, trusted: TrustedKeys) -> None:
        """Let a verifier accept this issuer's tokens."""
        trusted.add(self._key.public_key(), self.key_id)

    def granted(self, user: str | None, scopes: list[Scope]) -> list[dict[str, Any]]:
        """The ``access`` claim: each scope's actions the access file allows ``user`` (None: anonymous)."""
        policy = self.policy.current()
        access: list[dict[str, Any]] = []
        for scope in scopes:
            if scope.type == "repository" and is_valid_name(scope.name):
                allowed = policy.actions(user, scope.name)
                actions = [a for a in dict.fromkeys(scope.actions) if a in allowed or (a == "*" and allowed)]
                if "*" in actions:
                    actions = sorted(allowed)
            elif (scope.type, scope.name) == ("registry", "catalog") and policy.may_list_catalog(user):
                actions = ["*"]
            else:
                continue
            if actions:
                access.append({"type": scope.type, "name": scope.name, "actions": actions})
        return access

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.key_id, "typ": "JWT"})

    def access_token(self, user: str | None, scopes: list[Scope]) -> IssuedToken:
        now = int(time.time())
        access = self.granted(user, scopes)
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.expiration_seconds,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        return IssuedToken(
            self._sign(claims), self.expiration_seconds, datetime.fromtimestamp(now, UTC), access
        )

    def refresh_token(self, user: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service + REFRESH_AUDIENCE_SUFFIX,
            "exp": now + self.refresh_expiration_seconds,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
        }
        return self._sign(claims)

    def refresh_subject(self, token: str) -> str:
        """The user a refresh token was issued to, while they are still in the htpasswd file."""
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=[ALGORITHM],
                audience=self.service + REFRESH_AUDIENCE_SUFFIX,
                issuer=self.issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from exc
        user = claims["sub"]
        if not isinstance(user, str) or user not in self.users.entries():
            raise InvalidToken("the refresh token's user no longer exists")
        return user
