"""The access controller that ``auth.*`` in the configuration asks for."""

from __future__ import annotations

from dockyard.auth.access import AccessController
from dockyard.auth.htpasswd import HtpasswdController, HtpasswdFile
from dockyard.config import AuthSettings, HtpasswdAuth


def access_controller(settings: AuthSettings | None) -> AccessController | None:
    """None when no auth is configured (everybody may do everything, as with the reference)."""
    if settings is None:
        return None
    if isinstance(settings, HtpasswdAuth):
        return HtpasswdController(settings.realm, HtpasswdFile(settings.path))
    raise AssertionError(f"unhandled auth settings {settings!r}")
