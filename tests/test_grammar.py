"""Names, tags and digests: the spec's grammars, whole strings only (a final newline is no part of one)."""

from __future__ import annotations

import pytest

from dockyard.grammar import Digest, GrammarError, is_valid_name, is_valid_tag, valid_tags

HEX = "a" * 64


@pytest.mark.parametrize("name", ["library/ubuntu\n", "a\nb", "\nubuntu", ""])
def test_a_name_with_a_newline_is_invalid(name: str) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize("tag", ["latest\n", "a\nb", "", "-x", ".x", "x" * 129])
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)


@pytest.mark.parametrize("text", [f"sha256:{HEX}\n", f"sha512:{'a' * 128}\n", f"sha256:{HEX[:-1]}A"])
def test_a_digest_with_a_trailing_newline_or_bad_hex_is_refused(text: str) -> None:
    with pytest.raises(GrammarError):
        Digest.parse(text)


def test_valid_tags_keeps_every_tag_of_a_clean_listing_in_order() -> None:
    tags = [f"t{index:05d}" for index in range(2000)] + ["v1.2.3", "_x", "x" * 128]
    assert valid_tags(tags) == tags


def test_valid_tags_drops_exactly_the_invalid_ones() -> None:
    tags = ["a", "b\nc", "-x", "ok.1", "x" * 129, "y" * 128, "latest\n", "", "z"]
    assert valid_tags(tags) == ["a", "ok.1", "y" * 128, "z"]
    assert valid_tags(["a\nb"]) == []  # two valid tags' worth of text, yet one invalid tag
    assert valid_tags([]) == []
