"""``auth.token``: Bearer JWTs per the Docker token specification, verified as the reference does.

A token is accepted when its signing key is trusted (an ``x5c`` chain to the root bundle, or a ``kid`` from
the bundle or the JWKS), its algorithm is allowed, ``iss`` is the issuer, ``aud`` the service, and it is
within ``nbf``/``exp`` (60 s leeway). Its ``access`` claim must hold every access the request needs;
otherwise the challenge says which scope to ask for, and ``error="insufficient_scope"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from dockyard.auth.access import Access, Challenge, Grant, RequestCredentials, quoted, scope_param
from dockyard.auth.keys import PublicKey, TrustedKeys, TrustError

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
# Asymmetric only: an HMAC algorithm would let anyone holding a public key sign tokens.
DEFAULT_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
MAX_TOKEN_LENGTH = 64 * 1024


class InvalidToken(ValueError):
    """The token is malformed, untrusted, expired or meant for someone else; the message says which."""


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    access: frozenset[tuple[str, str, str]]

    def allows(self, access: Access) -> bool:
        return any((access.type, access.name, action) in self.access for action in (access.action, "*"))


def access_claim(claim: object) -> frozenset[tuple[str, str, str]]:
    """``[{"type", "name", "actions": [...]}, ...]`` as a set of (type, name, action)."""
    if claim is None:
        return frozenset()
    if not isinstance(claim, list):
        raise InvalidToken("access claim is not a list")
    granted: set[tuple[str, str, str]] = set()
    for entry in claim:
        if not isinstance(entry, dict):
            raise InvalidToken("access claim entry is not an object")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions") or []
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise InvalidToken("access claim entry is malformed")
        granted.update((kind, name, str(action)) for action in actions)
    return frozenset(granted)


class TokenVerifier:
    def __init__(self, issuer: str, service: str, trusted: TrustedKeys, algorithms: Sequence[str]) -> None:
        self.issuer = issuer
        self.service = service
        self.trusted = trusted
        self.algorithms = tuple(algorithms) or DEFAULT_ALGORITHMS

    def _signing_key(self, header: dict[str, Any]) -> PublicKey:
        if "x5c" in header:
            x5c = header["x5c"]
            if not isinstance(x5c, list):
                raise InvalidToken("x5c header is not a list")
            try:
                return self.trusted.chain_key(x5c)
            except TrustError as exc:
                raise InvalidToken(str(exc)) from exc
        key_id = header.get("kid")
        if isinstance(key_id, str) and key_id in self.trusted.by_id:
            return self.trusted.by_id[key_id]
        raise InvalidToken("token signed by an untrusted or unnamed key")

    def verify(self, raw: str) -> Claims:
        if len(raw) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            header = jwt.get_unverified_header(raw)
            algorithm = header.get("alg")
            if algorithm not in self.algorithms:
                raise InvalidToken(f"signing algorithm {str(algorithm)[:20]!r} not allowed")
            claims = jwt.decode(
                raw,
                self._signing_key(header),
                algorithms=[algorithm],
                audience=self.service,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from exc
        subject = claims.get("sub", "")
        return Claims(subject if isinstance(subject, str) else "", access_claim(claims.get("access")))


@dataclass(frozen=True, slots=True)
class ChallengeSettings:
    realm: str
    service: str
    autoredirect: bool = False
    autoredirect_path: str = "/auth/token"


class TokenController:
    """Bearer tokens only; anything else is challenged with where to get one and for which scope."""

    def __init__(self, verifier: TokenVerifier, challenge: ChallengeSettings) -> None:
        self.verifier = verifier
        self.challenge = challenge

    def _challenge(self, request: RequestCredentials, accesses: Sequence[Access], error: str | None) -> str:
        realm = self.challenge.realm
        if self.challenge.autoredirect:
            realm = f"{request.scheme}://{request.host}{self.challenge.autoredirect_path}"
        header = f"Bearer realm={quoted(realm)},service={quoted(self.challenge.service)}"
        scope = scope_param(accesses)
        if scope:
            header += f",scope={quoted(scope)}"
        if error:
            header += f",error={quoted(error)}"
        return header

    async def authorize(self, request: RequestCredentials, accesses: Sequence[Access]) -> Grant:
        scheme, _, raw = (request.authorization or "").partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise Challenge(self._challenge(request, accesses, None), "authorization token required")
        try:
            claims = self.verifier.verify(raw)
        except InvalidToken as exc:
            raise Challenge(
                self._challenge(request, accesses, "invalid_token"), f"invalid token: {exc}"
            ) from None
        if not all(claims.allows(access) for access in accesses):
            raise Challenge(
                self._challenge(request, accesses, "insufficient_scope"),
                f"insufficient scope for {claims.subject!r}",
            )
        return Grant(claims.subject)
