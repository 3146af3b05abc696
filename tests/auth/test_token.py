"""Bearer token verification and the challenges of the token access controller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from dockyard.auth.access import CATALOG, Challenge, RequestCredentials, repository
from dockyard.auth.keys import load_trusted_keys, public_jwk
from dockyard.auth.token import ChallengeSettings, InvalidToken, TokenController, TokenVerifier
from tests.support.tokens import ISSUER, SERVICE, TokenMaker, certify


@pytest.fixture
def maker() -> TokenMaker:
    return TokenMaker.create()


def verifier_for(maker: TokenMaker, tmp_path: Path, algorithms: tuple[str, ...] = ()) -> TokenVerifier:
    trusted = load_trusted_keys(str(maker.write_bundle(tmp_path / "roots.pem")), None)
    return TokenVerifier(ISSUER, SERVICE, trusted, algorithms)


def bearer(token: str) -> RequestCredentials:
    return RequestCredentials(f"Bearer {token}", "http", "registry.test:5000")


def test_claims_are_read_from_a_trusted_token(maker: TokenMaker, tmp_path: Path) -> None:
    claims = verifier_for(maker, tmp_path).verify(maker.token([("repository", "a/b", ["pull", "push"])]))
    assert claims.subject == "tester"
    assert claims.access == {("repository", "a/b", "pull"), ("repository", "a/b", "push")}


def test_kid_from_a_jwks_file(tmp_path: Path) -> None:
    signer = certify("jwks signer")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public_jwk(signer.key.public_key()), "kid": "k1"}]}))
    verifier = TokenVerifier(ISSUER, SERVICE, load_trusted_keys(None, str(path)), ())
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": [SERVICE, "other"], "sub": "u", "exp": now + 60, "access": []}
    assert verifier.verify(jwt.encode(claims, signer.key, "ES256", headers={"kid": "k1"})).subject == "u"
    with pytest.raises(InvalidToken, match="untrusted"):
        verifier.verify(jwt.encode(claims, signer.key, "ES256", headers={"kid": "k2"}))
    with pytest.raises(InvalidToken, match="untrusted"):
        verifier.verify(jwt.encode(claims, certify("x").key, "ES256", headers={"kid": "k2"}))


def test_algorithm_confusion_none_and_unlisted_algorithms_are_refused(
    maker: TokenMaker, tmp_path: Path
) -> None:
    verifier = verifier_for(maker, tmp_path)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": SERVICE, "exp": now + 60, "access": []}
    public_pem = maker.leaf.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    x5c = {"x5c": [maker.leaf.der_b64(), maker.intermediate.der_b64()]}
    signing_input = b".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in ({"alg": "HS256", "typ": "JWT", **x5c}, claims)
    )
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()  # PyJWT itself refuses to do this
    forged_hmac = (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    unsigned = jwt.encode(claims, None, "none", headers=x5c)
    for token in (forged_hmac, unsigned):
        with pytest.raises(InvalidToken, match="not allowed"):
            verifier.verify(token)
    only_rsa = verifier_for(maker, tmp_path, ("RS256",))
    with pytest.raises(InvalidToken, match="not allowed"):
        only_rsa.verify(maker.token([]))
    without_exp = jwt.encode({"iss": ISSUER, "aud": SERVICE}, maker.leaf.key, "ES256", headers=x5c)
    with pytest.raises(InvalidToken, match="exp"):
        verifier.verify(without_exp)
    with pytest.raises(InvalidToken, match="access claim"):
        verifier.verify(maker.token([], access={"type": "repository"}))


async def test_challenges_carry_scope_and_error(maker: TokenMaker, tmp_path: Path) -> None:
    settings = ChallengeSettings("https://auth.test/token", SERVICE)
    controller = TokenController(verifier_for(maker, tmp_path), settings)
    needed = repository("a/b", "pull", "push") + repository("c/d", "pull")
    with pytest.raises(Challenge) as missing:
        await controller.authorize(RequestCredentials(None, "http", "h"), needed)
    assert missing.value.www_authenticate == (
        'Bearer realm="https://auth.test/token",service="test-registry",scope="repository:a/b:pull,push '
        'repository:c/d:pull"'
    )
    with pytest.raises(Challenge) as insufficient:
        await controller.authorize(bearer(maker.token([("repository", "a/b", ["pull", "push"])])), needed)
    assert insufficient.value.www_authenticate.endswith(',error="insufficient_scope"')
    with pytest.raises(Challenge) as invalid:
        await controller.authorize(bearer("a.b.c"), [CATALOG])
    assert invalid.value.www_authenticate.endswith('scope="registry:catalog:*",error="invalid_token"')
    grant = await controller.authorize(
        bearer(maker.token([("repository", "a/b", ["*"]), ("repository", "c/d", ["pull"])], subject="ann")),
        needed,
    )
    assert grant.user == "ann"


async def test_autoredirect_points_the_realm_at_this_host(maker: TokenMaker, tmp_path: Path) -> None:
    settings = ChallengeSettings("ignored", SERVICE, autoredirect=True, autoredirect_path="/auth/token")
    controller = TokenController(verifier_for(maker, tmp_path), settings)
    with pytest.raises(Challenge) as refused:
        await controller.authorize(RequestCredentials(None, "https", "registry.test:5000"), [])
    assert (
        refused.value.www_authenticate
        == 'Bearer realm="https://registry.test:5000/auth/token",service="test-registry"'
    )
