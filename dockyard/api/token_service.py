"""The built-in token service's endpoint (``auth.token.builtin``) at the realm's path.

``GET`` is the Docker token protocol: optional Basic credentials, ``service``, ``scope`` (repeatable),
``offline_token=true`` for a refresh token. ``POST`` is the OAuth2 flow clients prefer:
``grant_type=password`` (``username``, ``password``) or ``grant_type=refresh_token``, with ``service`` and
``scope`` (space-separated). Wrong credentials are refused; no credentials get the anonymous rights.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from dockyard.api.errors import error_response
from dockyard.auth.access import quoted
from dockyard.auth.htpasswd import basic_credentials
from dockyard.auth.issuer import Scope, TokenIssuer, parse_scopes
from dockyard.auth.token import InvalidToken
from dockyard.registry.errors import ErrorCode, RegistryError

log = logging.getLogger(__name__)

MAX_SCOPES = 64
MAX_PARAMETER = 4096


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return _json({"error": error, "error_description": description}, status)


def _scopes(texts: list[str]) -> list[Scope] | None:
    if sum(len(text) for text in texts) > MAX_PARAMETER:
        return None
    scopes = parse_scopes(texts)
    return scopes if len(scopes) <= MAX_SCOPES else None


def _scope_text(access: list[dict[str, Any]]) -> str:
    return " ".join(f"{entry['type']}:{entry['name']}:{','.join(entry['actions'])}" for entry in access)


class TokenEndpoint:
    def __init__(self, issuer: TokenIssuer, realm: str) -> None:
        self.issuer = issuer
        self.basic_challenge = {"WWW-Authenticate": f"Basic realm={quoted(realm)}"}

    def _wrong_service(self, service: str | None) -> bool:
        return service not in (None, "", self.issuer.service)

    async def get(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        scopes = _scopes(query.getall("scope", []))
        if scopes is None or self._wrong_service(query.get("service")):
            raise RegistryError(ErrorCode.DENIED, detail="unknown service or too many scopes")
        user: str | None = None
        if request.headers.get("Authorization"):
            credentials = basic_credentials(request.headers["Authorization"])
            if credentials is None or not await self.issuer.users.verify(*credentials):
                log.info("token refused: wrong credentials for %r", credentials[0] if credentials else None)
                response = error_response(RegistryError(ErrorCode.UNAUTHORIZED))
                response.headers.update(self.basic_challenge)
                return response
            user = credentials[0]
        issued = self.issuer.access_token(user, scopes)
        payload: dict[str, Any] = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
        }
        if user is not None and query.get("offline_token") == "true":
            payload["refresh_token"] = self.issuer.refresh_token(user)
        log.info("token issued to %r: %s", user or "anonymous", _scope_text(issued.access) or "no access")
        return _json(payload)

    async def post(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        scopes = _scopes([fields.get("scope", "")])
        if scopes is None or self._wrong_service(fields.get("service")):
            return _oauth_error("invalid_request", "unknown service or too many scopes")
        grant_type = fields.get("grant_type")
        refresh = None
        if grant_type == "password":
            user = fields.get("username", "")
            if not await self.issuer.users.verify(user, fields.get("password", "")):
                log.info("token refused: wrong credentials for %r", user)
                return _oauth_error("invalid_grant", "wrong username or password")
            if fields.get("access_type") == "offline":
                refresh = self.issuer.refresh_token(user)
        elif grant_type == "refresh_token":
            try:
                user = self.issuer.refresh_subject(fields.get("refresh_token", ""))
            except InvalidToken as exc:
                log.info("token refused: refresh token not accepted (%s)", exc)
                return _oauth_error("invalid_grant", "refresh token not accepted")
            refresh = fields["refresh_token"]
        else:
            return _oauth_error("unsupported_grant_type", "grant_type must be password or refresh_token")
        issued = self.issuer.access_token(user, scopes)
        payload: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "scope": _scope_text(issued.access),
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
        }
        if refresh is not None:
            payload["refresh_token"] = refresh
        log.info("token issued to %r: %s", user, payload["scope"] or "no access")
        return _json(payload)


def add_token_routes(app: web.Application, path: str, issuer: TokenIssuer, realm: str) -> None:
    endpoint = TokenEndpoint(issuer, realm)
    app.router.add_route("GET", path, endpoint.get)
    app.router.add_route("POST", path, endpoint.post)
