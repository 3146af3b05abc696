"""The access-controller interface: accesses a request needs, the grant or the challenge that answers it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

PULL = "pull"
PUSH = "push"
DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Access:
    """One action on one resource, as a token scope names it (``repository:library/alpine:pull``)."""

    type: str
    name: str
    action: str

    def as_detail(self) -> dict[str, str]:
        """The reference's JSON for an access record in an UNAUTHORIZED error's detail."""
        return {"Type": self.type, "Class": "", "Name": self.name, "Action": self.action}


CATALOG = Access("registry", "catalog", "*")


def repository(name: str, *actions: str) -> list[Access]:
    return [Access("repository", name, action) for action in actions]


def scope_param(accesses: Iterable[Access]) -> str:
    """``type:name:a,b`` per resource (first-seen order), space-separated, as in a Bearer challenge."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for access in accesses:
        actions = grouped.setdefault((access.type, access.name), [])
        if access.action not in actions:
            actions.append(access.action)
    return " ".join(f"{kind}:{name}:{','.join(actions)}" for (kind, name), actions in grouped.items())


def quoted(text: str) -> str:
    """A double-quoted header parameter value (as Go's ``%q`` writes it for printable text)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RequestCredentials:
    """What a controller sees of a request: its Authorization header and where it was addressed."""

    authorization: str | None
    scheme: str
    host: str


@dataclass(frozen=True, slots=True)
class Grant:
    user: str


class Challenge(Exception):
    """Access refused: ``www_authenticate`` tells the client how to authenticate; ``reason`` is for logs."""

    def __init__(self, www_authenticate: str, reason: str) -> None:
        super().__init__(reason)
        self.www_authenticate = www_authenticate
        self.reason = reason


class AccessController(Protocol):
    async def authorize(self, request: RequestCredentials, accesses: Sequence[Access]) -> Grant:
        """The grant for a request that may perform every one of ``accesses``; raises :class:`Challenge`."""
        ...
