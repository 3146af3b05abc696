"""The htpasswd file: bcrypt entries (as ``htpasswd -B`` writes them), comments, reload on change, and the
Basic challenge for missing or wrong credentials."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import bcrypt
import pytest

from dockyard.auth.access import Challenge, RequestCredentials, repository
from dockyard.auth.htpasswd import HtpasswdController, HtpasswdError, HtpasswdFile, parse_htpasswd


def entry(user: str, password: str, prefix: bytes = b"$2b$") -> str:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    return f"{user}:{(prefix + hashed[4:]).decode()}"


def basic(user: str, password: str) -> RequestCredentials:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return RequestCredentials(authorization=f"Basic {token}", scheme="http", host="localhost")


def test_parse_skips_comments_and_blank_lines_and_refuses_lines_without_colon() -> None:
    assert parse_htpasswd("# users\n\n  alice:$2y$05$abc  \n") == {"alice": b"$2y$05$abc"}
    with pytest.raises(HtpasswdError, match="line 2"):
        parse_htpasswd("alice:x\nbob\n")


async def test_verify_accepts_2y_and_2b_entries_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    md5 = "carol:$apr1$abcdefgh$0123456789abcdefghijkl"  # htpasswd -m: the reference refuses it too
    path.write_text("\n".join((entry("alice", "wonder", b"$2y$"), entry("bob", "builder"), md5)) + "\n")
    users = HtpasswdFile(path)
    assert await users.verify("alice", "wonder")
    assert await users.verify("alice", "wonder")  # the remembered answer
    assert await users.verify("bob", "builder")
    assert not await users.verify("alice", "builder")
    assert not await users.verify("carol", "anything")
    assert not await users.verify("dave", "wonder")


async def test_changes_take_effect_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "one") + "\n")
    users = HtpasswdFile(path)
    assert await users.verify("alice", "one")
    replacement = tmp_path / "new"
    replacement.write_text(entry("alice", "two") + "\n")
    os.replace(replacement, path)
    assert not await users.verify("alice", "one")
    assert await users.verify("alice", "two")


def test_a_missing_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(HtpasswdError, match="cannot read"):
        HtpasswdFile(tmp_path / "absent")


async def test_controller_challenges_missing_malformed_and_wrong_credentials(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "wonder") + "\n")
    controller = HtpasswdController('My "Realm"', HtpasswdFile(path))
    needed = repository("team/app", "pull", "push")
    assert (await controller.authorize(basic("alice", "wonder"), needed)).user == "alice"
    for credentials in (
        RequestCredentials(None, "http", "h"),
        RequestCredentials("Basic !!!notbase64", "http", "h"),
        RequestCredentials("Bearer abc", "http", "h"),
        basic("alice", "wrong"),
        basic("mallory", "wonder"),
    ):
        with pytest.raises(Challenge) as refused:
            await controller.authorize(credentials, needed)
        assert refused.value.www_authenticate == 'Basic realm="My \\"Realm\\""'


async def test_a_broken_file_refuses_everybody_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(entry("alice", "wonder") + "\n")
    controller = HtpasswdController("r", HtpasswdFile(path))
    path.write_text(entry("alice", "wonder") + "\nbroken line\n")
    with pytest.raises(Challenge):
        await controller.authorize(basic("alice", "wonder"), [])
    path.write_text(entry("alice", "wonder") + "\n")
    assert (await controller.authorize(basic("alice", "wonder"), [])).user == "alice"
