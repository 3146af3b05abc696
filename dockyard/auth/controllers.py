"""The access controller (and, with ``auth.token.builtin``, the token issuer) that ``auth.*`` asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dockyard.auth.access import AccessController
from dockyard.config import AuthSettings, ConfigError, HtpasswdAuth, TokenAuth

if TYPE_CHECKING:
    from dockyard.auth.issuer import TokenIssuer


@dataclass(frozen=True, slots=True)
class TokenService:
    """dockyard's own token endpoint: where it is served and what issues the tokens."""

    path: str
    realm: str
    issuer: TokenIssuer


@dataclass(frozen=True, slots=True)
class AuthSetup:
    controller: AccessController
    token_service: TokenService | None = None


def build_auth(settings: AuthSettings | None) -> AuthSetup | None:
    """None when no auth is configured (everybody may do everything, as with the reference).
    Files that cannot be used are a :class:`ConfigError` naming the key."""
    if settings is None:
        return None
    # each scheme's modules load only when configured: JWT and X.509 (cryptography) cost every worker MiBs
    from dockyard.auth.htpasswd import HtpasswdController, HtpasswdError, HtpasswdFile

    if isinstance(settings, HtpasswdAuth):
        try:
            return AuthSetup(HtpasswdController(settings.realm, HtpasswdFile(settings.path)))
        except HtpasswdError as exc:
            raise ConfigError(f"auth.htpasswd.path: {exc}") from exc
    return _token_auth(settings)


def _token_auth(settings: TokenAuth) -> AuthSetup:
    from dockyard.auth.htpasswd import HtpasswdError, HtpasswdFile
    from dockyard.auth.issuer import ALGORITHM, TokenIssuer, load_or_create_signing_key
    from dockyard.auth.keys import TrustedKeys, TrustError, load_trusted_keys
    from dockyard.auth.policy import PolicyError, PolicyFile
    from dockyard.auth.token import DEFAULT_ALGORITHMS, ChallengeSettings, TokenController, TokenVerifier

    trusted = TrustedKeys()
    if settings.rootcertbundle or settings.jwks:
        try:
            trusted = load_trusted_keys(settings.rootcertbundle, settings.jwks)
        except TrustError as exc:
            raise ConfigError(f"auth.token: {exc}") from exc
    service = None
    builtin = settings.builtin
    if builtin is not None:
        try:
            issuer = TokenIssuer(
                settings.issuer,
                settings.service,
                HtpasswdFile(builtin.htpasswd),
                PolicyFile(builtin.access),
                load_or_create_signing_key(builtin.signing_key),
                builtin.expiration_seconds,
                builtin.refresh_expiration_seconds,
            )
        except HtpasswdError as exc:
            raise ConfigError(f"auth.token.builtin.htpasswd: {exc}") from exc
        except PolicyError as exc:
            raise ConfigError(f"auth.token.builtin.access: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"auth.token.builtin.signingkey: {exc}") from exc
        issuer.trust(trusted)
        path = settings.autoredirect_path if settings.autoredirect else urlsplit(settings.realm).path
        service = TokenService(path or "/auth/token", settings.realm, issuer)
    for algorithm in settings.signing_algorithms:
        if algorithm not in DEFAULT_ALGORITHMS:
            raise ConfigError(f"auth.token.signingalgorithms: unsupported signing algorithm {algorithm!r}")
    if service is not None and settings.signing_algorithms and ALGORITHM not in settings.signing_algorithms:
        raise ConfigError(f"auth.token.signingalgorithms: the built-in service signs with {ALGORITHM}")
    verifier = TokenVerifier(settings.issuer, settings.service, trusted, settings.signing_algorithms)
    challenge = ChallengeSettings(
        settings.realm, settings.service, settings.autoredirect, settings.autoredirect_path
    )
    return AuthSetup(TokenController(verifier, challenge), service)
