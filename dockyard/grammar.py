"""The distribution spec's grammars for repository names, tags and digests, as value types.

Every name, tag and digest is checked here before it can become part of a storage path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

NAME_MAX_LENGTH = 255
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
_TAG = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
TAG_RE = re.compile(_TAG)
_TAG_LINES_RE = re.compile(rf"(?:{_TAG}\n)*")
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")

# Algorithms the registry can verify, with the length of their hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX_RE = re.compile(r"[a-f0-9]+")
_SHA256_RE = re.compile(r"sha256:([a-f0-9]{64})")  # nearly every digest: checked by one match


class GrammarError(ValueError):
    """A name, tag or digest that does not match the spec's grammar."""


def is_valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX_LENGTH and NAME_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def valid_tags(tags: list[str]) -> list[str]:
    """Those of ``tags`` that are valid; when all are (nearly always), one regex pass over all of them
    instead of one match per tag (a listing of thousands)."""
    lines = "\n".join(tags) + "\n"
    if lines.count("\n") == len(tags) and _TAG_LINES_RE.fullmatch(lines):
        return tags
    return [tag for tag in tags if is_valid_tag(tag)]


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        common = _SHA256_RE.fullmatch(text)
        if common is not None:
            return cls("sha256", common.group(1))
        match = _DIGEST_RE.fullmatch(text)
        if match is None:
            raise GrammarError(f"invalid digest format: {text!r}")
        algorithm, encoded = match.groups()
        expected = ALGORITHMS.get(algorithm)
        if expected is None:
            raise GrammarError(f"unsupported digest algorithm: {algorithm!r}")
        if len(encoded) != expected or not _HEX_RE.fullmatch(encoded):
            raise GrammarError(f"invalid {algorithm} digest: {text!r}")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def looks_like_digest(reference: str) -> bool:
    """A manifest reference is a digest when it has a colon; tags never do."""
    return ":" in reference
