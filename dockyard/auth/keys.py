"""Token signing keys a registry trusts: a root certificate bundle (``x5c`` chains end there) and a JWKS
(``kid`` names a key). Key ids are both the RFC 7638 thumbprint and the libtrust fingerprint that token
servers written for the reference 2.x put in ``kid``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWKSet
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWKSetError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
MAX_CHAIN = 8


class TrustError(ValueError):
    """A bundle, JWKS or certificate chain that cannot be used; the message says why."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: PublicKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(key, as_dict=True)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(key, as_dict=True)
    return OKPAlgorithm.to_jwk(key, as_dict=True)


def thumbprint(key: PublicKey) -> str:
    """RFC 7638: SHA-256 over the JWK's required members, sorted, without whitespace."""
    jwk = public_jwk(key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    return _b64url(
        hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    )


def libtrust_key_id(key: PublicKey) -> str:
    """docker/libtrust's key id: base32 of the first 240 bits of SHA-256(DER SubjectPublicKeyInfo), in
    twelve groups of four separated by colons."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


def _as_public_key(key: object) -> PublicKey:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return key
    raise TrustError(f"unsupported key type {type(key).__name__}")


@dataclass(slots=True)
class TrustedKeys:
    roots: list[x509.Certificate] = field(default_factory=list)
    by_id: dict[str, PublicKey] = field(default_factory=dict)

    def add(self, key: PublicKey, *key_ids: str) -> None:
        for key_id in (*key_ids, thumbprint(key), libtrust_key_id(key)):
            self.by_id[key_id] = key

    def __bool__(self) -> bool:
        return bool(self.roots or self.by_id)

    def chain_key(self, x5c: Sequence[object], now: datetime | None = None) -> PublicKey:
        """The leaf's public key of an ``x5c`` chain that leads to one of the roots."""
        if not x5c or len(x5c) > MAX_CHAIN or not all(isinstance(item, str) for item in x5c):
            raise TrustError("malformed x5c certificate chain")
        try:
            chain = [
                x509.load_der_x509_certificate(base64.b64decode(str(item), validate=True)) for item in x5c
            ]
        except ValueError as exc:
            raise TrustError(f"unreadable x5c certificate: {exc}") from exc
        moment = now or datetime.now(UTC)
        for cert in chain:
            if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
                raise TrustError("x5c certificate outside its validity period")
        leaf_key = _as_public_key(chain[0].public_key())
        for position, cert in enumerate(chain):
            if cert in self.roots or any(_issued_by(cert, root) for root in self.roots):
                return leaf_key
            if position + 1 == len(chain):
                break
            parent = chain[position + 1]
            if not _is_ca(parent) or not _issued_by(cert, parent):
                raise TrustError("x5c chain is broken: a certificate is not issued by the next one")
        raise TrustError("x5c chain does not lead to a trusted root certificate")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def load_trusted_keys(rootcertbundle: str | None, jwks: str | None) -> TrustedKeys:
    """The roots of ``rootcertbundle`` (PEM) and the keys of ``jwks`` (a JSON Web Key Set file)."""
    trusted = TrustedKeys()
    if rootcertbundle:
        try:
            certificates = x509.load_pem_x509_certificates(Path(rootcertbundle).read_bytes())
        except OSError as exc:
            raise TrustError(f"cannot read root certificate bundle {rootcertbundle}: {exc.strerror}") from exc
        except ValueError as exc:
            raise TrustError(f"root certificate bundle {rootcertbundle}: {exc}") from exc
        for cert in certificates:
            trusted.roots.append(cert)
            trusted.add(_as_public_key(cert.public_key()))
    if jwks:
        try:
            key_set = PyJWKSet.from_json(Path(jwks).read_text())
        except OSError as exc:
            raise TrustError(f"cannot read jwks {jwks}: {exc.strerror}") from exc
        except (PyJWKSetError, ValueError) as exc:
            raise TrustError(f"jwks {jwks}: {exc}") from exc
        for jwk in key_set.keys:
            trusted.add(_as_public_key(jwk.key), *([jwk.key_id] if jwk.key_id else []))
    if not trusted:
        raise TrustError("token auth requires at least one token signing key (rootcertbundle or jwks)")
    return trusted
