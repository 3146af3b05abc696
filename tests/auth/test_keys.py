"""Trusted token signing keys: RFC 7638 thumbprints, libtrust key ids, JWKS files, x5c chains."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from jwt.algorithms import RSAAlgorithm

from dockyard.auth.keys import TrustError, libtrust_key_id, load_trusted_keys, public_jwk, thumbprint
from tests.support.tokens import certify

# RFC 7638 section 3.1's example key and its thumbprint
RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
    "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zg"
    "dAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
    "-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
}


def test_rfc7638_thumbprint_of_the_rfc_example() -> None:
    key = RSAAlgorithm.from_jwk(json.dumps(RFC7638_KEY))
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # type: ignore[arg-type]


def test_libtrust_key_id_is_twelve_groups_of_four_base32() -> None:
    key = certify("k").key.public_key()
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", libtrust_key_id(key))
    assert libtrust_key_id(key) != libtrust_key_id(certify("other").key.public_key())


def test_jwks_keys_are_trusted_by_kid_and_thumbprint(tmp_path: Path) -> None:
    key = certify("jwks").key.public_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public_jwk(key), "kid": "key-1", "alg": "ES256"}]}))
    trusted = load_trusted_keys(None, str(path))
    assert trusted.by_id["key-1"] == key
    assert trusted.by_id[thumbprint(key)] == key


def test_a_bundle_or_jwks_is_required_and_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="at least one"):
        load_trusted_keys(None, None)
    with pytest.raises(TrustError, match="cannot read"):
        load_trusted_keys(str(tmp_path / "absent.pem"), None)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TrustError, match="jwks"):
        load_trusted_keys(None, str(tmp_path / "bad.json"))


def test_x5c_chains(tmp_path: Path) -> None:
    root = certify("root", ca=True)
    intermediate = certify("intermediate", root, ca=True)
    leaf = certify("leaf", intermediate)
    (tmp_path / "roots.pem").write_bytes(root.pem())
    trusted = load_trusted_keys(str(tmp_path / "roots.pem"), None)
    assert trusted.chain_key([leaf.der_b64(), intermediate.der_b64()]) == leaf.key.public_key()
    assert trusted.chain_key([intermediate.der_b64()]) == intermediate.key.public_key()
    assert trusted.chain_key([root.der_b64()]) == root.key.public_key()

    not_ca = certify("not a ca", root)
    under_leaf = certify("under a leaf", not_ca)
    stranger = certify("stranger", certify("stranger root", ca=True))
    expired = certify("old", root, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=60), days=30)
    for chain, reason in (
        ([leaf.der_b64()], "does not lead"),
        ([under_leaf.der_b64(), not_ca.der_b64()], "broken"),
        ([stranger.der_b64()], "does not lead"),
        ([expired.der_b64()], "validity"),
        (["@@@"], "unreadable"),
        ([], "malformed"),
        ([leaf.der_b64()] * 9, "malformed"),
    ):
        with pytest.raises(TrustError, match=reason):
            trusted.chain_key(chain)
