"""The built-in token service's access file: which users and groups may do what on which repositories.

```yaml
groups:
  admins: [alice]
rules:
  - repositories: ["**"]            # glob: * and ? stay within one path component, ** crosses them
    groups: [admins]
    actions: [pull, push, delete, catalog]
  - repositories: ["team/*"]
    users: [bob, "*"]               # "*" is every authenticated user
    actions: [pull]
  - repositories: ["public/**"]
    anonymous: true                 # also clients that present no credentials
    actions: [pull]
```

Rules add up. ``catalog`` grants ``registry:catalog:*`` whatever the rule's repositories. The file is re-read
when it changes; a file that cannot be read or parsed grants nothing (fail closed) until it is fixed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dockyard.auth.access import DELETE, PULL, PUSH

log = logging.getLogger(__name__)

CATALOG_ACTION = "catalog"
ACTIONS = frozenset({PULL, PUSH, DELETE, CATALOG_ACTION})
EVERY_USER = "*"


class PolicyError(ValueError):
    """The access file cannot be used; the message names the rule and the key."""


def glob_pattern(glob: str) -> re.Pattern[str]:
    """A repository name glob as a regular expression over the whole name."""
    parts = []
    for token in re.split(r"(\*\*|\*|\?)", glob):
        parts.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token)))
    return re.compile("".join(parts) + r"\Z")


@dataclass(frozen=True, slots=True)
class Rule:
    repositories: tuple[re.Pattern[str], ...]
    users: frozenset[str]
    groups: frozenset[str]
    anonymous: bool
    actions: frozenset[str]

    def applies_to(self, user: str | None, groups: frozenset[str]) -> bool:
        if user is None:
            return self.anonymous
        return user in self.users or EVERY_USER in self.users or bool(self.groups & groups)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyError(f"{where}: must be a list of strings")
    return value


@dataclass(frozen=True, slots=True)
class Policy:
    groups: dict[str, frozenset[str]]
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, text: str) -> Policy:
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PolicyError(f"not valid YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise PolicyError("must be a mapping with groups and rules")
        unknown = set(document) - {"groups", "rules"}
        if unknown:
            raise PolicyError(f"unknown keys {sorted(map(str, unknown))}")
        group_section = document.get("groups") or {}
        if not isinstance(group_section, dict):
            raise PolicyError("groups: must map group names to lists of users")
        members: dict[str, set[str]] = {}
        for group, users in group_section.items():
            for user in _strings(users, f"groups.{group}"):
                members.setdefault(user, set()).add(str(group))
        rule_section = document.get("rules") or []
        if not isinstance(rule_section, list):
            raise PolicyError("rules: must be a list")
        rules = []
        for number, entry in enumerate(rule_section, start=1):
            where = f"rules[{number}]"
            if not isinstance(entry, dict):
                raise PolicyError(f"{where}: must be a mapping")
            unknown = set(entry) - {"repositories", "users", "groups", "anonymous", "actions"}
            if unknown:
                raise PolicyError(f"{where}: unknown keys {sorted(map(str, unknown))}")
            actions = _strings(entry.get("actions"), f"{where}.actions")
            bad = sorted(set(actions) - ACTIONS)
            if bad:
                raise PolicyError(f"{where}.actions: unknown actions {bad} (pull, push, delete, catalog)")
            anonymous = entry.get("anonymous", False)
            if not isinstance(anonymous, bool):
                raise PolicyError(f"{where}.anonymous: must be true or false")
            rules.append(
                Rule(
                    repositories=tuple(glob_pattern(g) for g in _strings(entry.get("repositories"), where)),
                    users=frozenset(_strings(entry.get("users"), f"{where}.users")),
                    groups=frozenset(_strings(entry.get("groups"), f"{where}.groups")),
                    anonymous=anonymous,
                    actions=frozenset(actions),
                )
            )
        return cls({user: frozenset(groups) for user, groups in members.items()}, tuple(rules))

    def actions(self, user: str | None, repository: str) -> frozenset[str]:
        """What ``user`` (None: anonymous) may do on ``repository`` (catalog not included)."""
        groups = self.groups.get(user, frozenset()) if user is not None else frozenset()
        allowed: set[str] = set()
        for rule in self.rules:
            if rule.applies_to(user, groups) and any(p.match(repository) for p in rule.repositories):
                allowed |= rule.actions
        return frozenset(allowed - {CATALOG_ACTION})

    def may_list_catalog(self, user: str | None) -> bool:
        groups = self.groups.get(user, frozenset()) if user is not None else frozenset()
        return any(CATALOG_ACTION in r.actions and r.applies_to(user, groups) for r in self.rules)


_NOTHING = Policy({}, ())


class PolicyFile:
    """The access file, re-read when its size, mtime or inode changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._policy = _NOTHING
        self._load(strict=True)

    def _load(self, strict: bool) -> None:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            self._policy = Policy.parse(self.path.read_text())
        except (OSError, PolicyError) as exc:
            message = exc.strerror if isinstance(exc, OSError) else str(exc)
            if strict:
                raise PolicyError(f"access file {self.path}: {message}") from exc
            log.error("access file %s: %s; granting nothing until it is fixed", self.path, message)
            self._policy = _NOTHING
            if isinstance(exc, OSError):
                self._stamp = None

    def current(self) -> Policy:
        self._load(strict=False)
        return self._policy
