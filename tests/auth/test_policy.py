"""The built-in token service's access file: globs, users, groups, anonymous, catalog, reloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.auth.policy import Policy, PolicyError, PolicyFile, glob_pattern

ACCESS = """
groups:
  admins: [root]
  team: [bob, carol]
rules:
  - repositories: ["**"]
    groups: [admins]
    actions: [pull, push, delete, catalog]
  - repositories: ["team/*"]
    groups: [team]
    actions: [pull, push]
  - repositories: ["team/*", "docs/?"]
    users: ["*"]
    actions: [pull]
  - repositories: ["public/**"]
    anonymous: true
    actions: [pull]
"""


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [
        ("team/*", "team/app", True),
        ("team/*", "team/app/sub", False),
        ("team/*", "xteam/app", False),
        ("team/**", "team/app/sub", True),
        ("**", "anything/at/all", True),
        ("docs/?", "docs/a", True),
        ("docs/?", "docs/ab", False),
        ("a.b", "axb", False),
    ],
)
def test_globs(glob: str, name: str, matches: bool) -> None:
    assert bool(glob_pattern(glob).match(name)) is matches


def test_rules_add_up_for_users_groups_everyone_and_anonymous() -> None:
    policy = Policy.parse(ACCESS)
    assert policy.actions("root", "any/repo") == {"pull", "push", "delete"}
    assert policy.actions("bob", "team/app") == {"pull", "push"}
    assert policy.actions("dave", "team/app") == {"pull"}
    assert policy.actions("dave", "docs/x") == {"pull"}
    assert policy.actions("dave", "other/app") == set()
    assert policy.actions(None, "team/app") == set()
    assert policy.actions(None, "public/base/image") == {"pull"}
    assert policy.actions("bob", "public/base/image") == set()  # anonymous-only rule
    assert policy.may_list_catalog("root")
    assert not policy.may_list_catalog("bob")
    assert not policy.may_list_catalog(None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("rules: [{repositories: [a], actions: [fly]}]", "unknown actions"),
        ("rules: [{repositories: a, actions: [pull]}]", "list of strings"),
        ("rules: [{repository: [a]}]", "unknown keys"),
        ("rules: [{anonymous: yes please}]", "anonymous"),
        ("groups: [a]", "groups"),
        ("users: {}", "unknown keys"),
        ("[1, 2]", "mapping"),
        ("rules: [unclosed", "YAML"),
    ],
)
def test_mistakes_are_refused_with_the_place(text: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        Policy.parse(text)


def test_the_file_is_reread_when_it_changes_and_a_broken_one_grants_nothing(tmp_path: Path) -> None:
    path = tmp_path / "access.yml"
    path.write_text(ACCESS)
    policies = PolicyFile(path)
    assert policies.current().actions("dave", "team/app") == {"pull"}
    replacement = tmp_path / "new.yml"
    replacement.write_text("rules: [{repositories: ['team/*'], users: [dave], actions: [pull, push]}]")
    os.replace(replacement, path)
    assert policies.current().actions("dave", "team/app") == {"pull", "push"}
    path.write_text("rules: [{repositories: ['team/*'], users: [dave], actions: [pull, fly]}]")
    assert policies.current().actions("dave", "team/app") == set()
    path.unlink()
    assert policies.current().actions("dave", "team/app") == set()
    with pytest.raises(PolicyError, match="access file"):
        PolicyFile(path)
