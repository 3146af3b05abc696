"""Certificates and Docker-spec bearer tokens made by the tests: a CA, an intermediate, a signing leaf, and
JWTs with any claims (expired, another audience, another repository ...)."""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ISSUER = "test-token-issuer"
SERVICE = "test-registry"


@dataclass
class CertifiedKey:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def der_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()


def certify(
    name: str,
    issuer: CertifiedKey | None = None,
    *,
    ca: bool = False,
    days: float = 30,
    not_before: dt.datetime | None = None,
    sans: list[x509.GeneralName] | None = None,
    client: bool = False,
) -> CertifiedKey:
    """An EC P-256 key and a certificate for it, signed by ``issuer`` (self-signed without one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    signer = issuer.key if issuer else key
    return CertifiedKey(key, builder.sign(signer, hashes.SHA256()))


@dataclass
class TokenMaker:
    """Signs tokens with ``leaf``, whose chain (``leaf``, ``intermediate``) leads to ``root``."""

    root: CertifiedKey
    intermediate: CertifiedKey
    leaf: CertifiedKey
    issuer: str = ISSUER
    service: str = SERVICE
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls) -> TokenMaker:
        root = certify("test token root", ca=True)
        intermediate = certify("test token intermediate", root, ca=True)
        return cls(root, intermediate, certify("test token signer", intermediate))

    def write_bundle(self, path: Path) -> Path:
        path.write_bytes(self.root.pem())
        return path

    def token(
        self,
        grants: list[tuple[str, str, list[str]]],
        *,
        subject: str = "tester",
        lifetime: float = 300,
        signer: CertifiedKey | None = None,
        chain: list[CertifiedKey] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + int(lifetime),
            "nbf": now - 1,
            "iat": now - 1,
            "jti": f"jti-{now}-{subject}",
            "access": [{"type": t, "name": n, "actions": a} for t, n, a in grants],
        }
        payload.update(claims)
        key = signer or self.leaf
        x5c = [c.der_b64() for c in (chain if chain is not None else [self.leaf, self.intermediate])]
        return jwt.encode(payload, key.key, algorithm="ES256", headers={"x5c": x5c, "typ": "JWT"})
