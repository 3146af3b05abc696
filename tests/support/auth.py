"""Auth configurations for test servers: htpasswd files, and dockyard's built-in token service with an
access file (users reader, writer, admin; see ACCESS)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt

from tests.support.servers import RegistryServer, deep_merge

if TYPE_CHECKING:
    from tests.conftest import RegistryFactory

HTPASSWD_REALM = "dockyard test realm"

TOKEN_SERVICE = "dockyard-test"
TOKEN_ISSUER = "dockyard-test-issuer"
TOKEN_PATH = "/auth/token"

PASSWORDS = {"reader": "reader-pass-1", "writer": "writer-pass-2", "admin": "admin-pass-3"}

#: reader may pull team/*, writer may push team/* too, admin anything (also delete and the catalog);
#: public/** is pulled by anonymous clients.
ACCESS = """
groups:
  admins: [admin]
rules:
  - repositories: ["team/*"]
    users: [reader, writer]
    actions: [pull]
  - repositories: ["team/*"]
    users: [writer]
    actions: [push]
  - repositories: ["**"]
    groups: [admins]
    actions: [pull, push, delete, catalog]
  - repositories: ["public/**"]
    anonymous: true
    users: ["*"]
    actions: [pull]
"""


def htpasswd_line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


def htpasswd_config(path: Path) -> dict[str, Any]:
    return {"auth": {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(path)}}}


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    path.write_text("".join(htpasswd_line(user, password) for user, password in users.items()))
    return path


def builtin_token_config(
    workdir: Path, base_url: str, users: dict[str, str] | None = None, access: str = ACCESS
) -> dict[str, Any]:
    """``auth.token`` with ``builtin``: files written under ``workdir``, realm at ``base_url``."""
    workdir.mkdir(parents=True, exist_ok=True)
    htpasswd = write_htpasswd(workdir / "htpasswd", PASSWORDS if users is None else users)
    (workdir / "access.yml").write_text(access)
    return {
        "auth": {
            "token": {
                "realm": base_url + TOKEN_PATH,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "builtin": {
                    "htpasswd": str(htpasswd),
                    "access": str(workdir / "access.yml"),
                    "signingkey": str(workdir / "keys" / "token.pem"),
                },
            }
        }
    }


def start_builtin(factory: RegistryFactory, workdir: Path, access: str = ACCESS) -> RegistryServer:
    """A started dockyard serving its own tokens (realm on itself), files under ``workdir``."""
    return serve_builtin(factory("dockyard", start=False), workdir, access)


def serve_builtin(server: RegistryServer, workdir: Path, access: str = ACCESS) -> RegistryServer:
    """Start ``server`` (not started yet) with the built-in token service configured."""
    server.config = deep_merge(server.config, builtin_token_config(workdir, server.url, access=access))
    server.write_config()
    return server.start()
