"""atheris fuzz targets for dockyard's parsers: ``python fuzz_targets.py TARGET [libFuzzer options]``.

Each target feeds fuzzed bytes to one parser and allows only the parser's own refusal; any other exception,
or a broken invariant (a valid repository name with a ``..`` component), is a crash that atheris reports
with the input. tests/security/test_fuzz.py runs each for a few seconds.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["dockyard"]):
    import yaml

    from dockyard.auth.htpasswd import HtpasswdError, parse_htpasswd
    from dockyard.auth.issuer import parse_scopes
    from dockyard.auth.keys import TrustedKeys
    from dockyard.auth.policy import Policy, PolicyError
    from dockyard.auth.token import InvalidToken, TokenVerifier
    from dockyard.config import ConfigError, settings_from_tree
    from dockyard.grammar import Digest, GrammarError, is_valid_name, is_valid_tag
    from dockyard.registry.errors import RegistryError
    from dockyard.registry.manifest_format import MANIFEST_TYPES, parse_manifest
    from dockyard.registry.upload_state import InvalidUploadState, UploadStateSigner


def grammar(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(400)
    if is_valid_name(text):
        parts = text.split("/")
        assert all(part and part not in (".", "..") for part in parts), text
        assert text.isascii() and "\\" not in text and "\0" not in text, text
    if is_valid_tag(text):
        assert "/" not in text and text != ".." and not text.startswith("."), text
    try:
        digest = Digest.parse(text)
    except GrammarError:
        return
    assert str(digest) == text and "/" not in digest.hex and ".." not in str(digest), text


def manifests(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    types = sorted(MANIFEST_TYPES)
    content_type = types[provider.ConsumeIntInRange(0, len(types) - 1)] if provider.ConsumeBool() else None
    try:
        manifest = parse_manifest(content_type, provider.ConsumeBytes(provider.remaining_bytes()))
    except RegistryError:
        return
    assert manifest is not None


def config(data: bytes) -> None:
    try:
        tree = yaml.safe_load(data)
    except (yaml.YAMLError, ValueError, RecursionError):
        return
    if not isinstance(tree, dict):
        return
    try:
        settings_from_tree(tree)
    except ConfigError:
        return


def access_file(data: bytes) -> None:
    try:
        policy = Policy.parse(data.decode("utf-8", "replace"))
    except PolicyError:
        return
    policy.actions("user", "team/app")
    policy.may_list_catalog(None)


def htpasswd(data: bytes) -> None:
    try:
        parse_htpasswd(data.decode("utf-8", "replace"))
    except HtpasswdError:
        return


_VERIFIER = TokenVerifier("issuer", "service", TrustedKeys(), ())
_SIGNER = UploadStateSigner("fuzz-secret")


def tokens(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    text = provider.ConsumeUnicodeNoSurrogates(2000)
    with contextlib.suppress(InvalidToken):
        _VERIFIER.verify(text)
    with contextlib.suppress(InvalidUploadState):
        _SIGNER.unpack(text)
    parse_scopes([text])


TARGETS: dict[str, Callable[[bytes], None]] = {
    "grammar": grammar,
    "manifests": manifests,
    "config": config,
    "access_file": access_file,
    "htpasswd": htpasswd,
    "tokens": tokens,
}

if __name__ == "__main__":
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()
