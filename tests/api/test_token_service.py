"""dockyard's built-in token service (``auth.token.builtin``) over HTTP: the Docker token GET with Basic
credentials, the OAuth2 password and refresh_token POSTs, anonymous clients, the access file's grants (also
after it changes, without a restart), and the registry honouring exactly what a token grants."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.auth import PASSWORDS, TOKEN_ISSUER, TOKEN_PATH, TOKEN_SERVICE, start_builtin
from tests.support.servers import RegistryServer

from ._http import Api, assert_status, oci_image


@pytest.fixture
def builtin(registry_factory: RegistryFactory, tmp_path: Path) -> RegistryServer:
    return start_builtin(registry_factory, tmp_path / "auth")


def get_token(
    server: RegistryServer, *scopes: str, user: str | None = None, **params: str
) -> requests.Response:
    auth = (user, PASSWORDS[user]) if user else None
    query: dict[str, Any] = {"service": TOKEN_SERVICE, "scope": list(scopes), **params}
    return requests.get(server.url + TOKEN_PATH, params=query, auth=auth, timeout=30)


def access_of(token: str) -> list[dict[str, Any]]:
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == TOKEN_ISSUER and claims["aud"] == TOKEN_SERVICE
    access: list[dict[str, Any]] = claims["access"]
    return access


def test_the_registry_points_clients_at_the_builtin_realm(builtin: RegistryServer) -> None:
    resp = requests.get(f"{builtin.url}/v2/team/app/tags/list", timeout=30)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == (
        f'Bearer realm="{builtin.url}{TOKEN_PATH}",service="{TOKEN_SERVICE}",scope="repository:team/app:pull"'
    )


def test_get_grants_what_the_access_file_allows_of_what_was_asked(builtin: RegistryServer) -> None:
    push = "repository:team/app:pull,push"
    cases = {
        "reader": [{"type": "repository", "name": "team/app", "actions": ["pull"]}],
        "writer": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}],
        "admin": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}],
    }
    for user, expected in cases.items():
        resp = get_token(builtin, push, user=user)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["token"] == body["access_token"] and body["expires_in"] == 300
        assert access_of(body["token"]) == expected
    assert access_of(get_token(builtin, push).json()["token"]) == []
    public = get_token(builtin, "repository:public/base:pull,push").json()["token"]
    assert access_of(public) == [{"type": "repository", "name": "public/base", "actions": ["pull"]}]
    catalog = "registry:catalog:*"
    assert access_of(get_token(builtin, catalog, user="admin").json()["token"])[0]["actions"] == ["*"]
    assert access_of(get_token(builtin, catalog, user="writer").json()["token"]) == []
    several = get_token(
        builtin, "repository:team/a:pull repository:team/b:push", "repository:x/y:pull", user="writer"
    )
    assert [entry["name"] for entry in access_of(several.json()["token"])] == ["team/a", "team/b"]


def test_wrong_credentials_and_wrong_service_are_refused(builtin: RegistryServer) -> None:
    wrong = requests.get(
        builtin.url + TOKEN_PATH, params={"service": TOKEN_SERVICE}, auth=("writer", "nope"), timeout=30
    )
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    unknown = requests.get(builtin.url + TOKEN_PATH, auth=("ghost", "x"), timeout=30)
    assert unknown.status_code == 401
    other = get_token(builtin, "repository:team/app:pull", user="reader", service="elsewhere")
    assert other.status_code == 403


def test_tokens_open_exactly_what_they_grant(builtin: RegistryServer) -> None:
    writer = Api(builtin.url)
    token = get_token(builtin, "repository:team/app:pull,push", user="writer").json()["token"]
    writer.session.headers["Authorization"] = f"Bearer {token}"
    image = oci_image()
    assert_status(image.push(writer, "team/app", "v1"), 201)
    assert writer.get("/v2/team/other/tags/list").status_code == 401  # not in the token
    reader = get_token(builtin, "repository:team/app:pull,push", user="reader").json()["token"]
    headers = {"Authorization": f"Bearer {reader}"}
    assert (
        requests.get(f"{builtin.url}/v2/team/app/tags/list", headers=headers, timeout=30).status_code == 200
    )
    refused = requests.put(f"{builtin.url}/v2/team/app/manifests/v2", headers=headers, data=b"{}", timeout=30)
    assert refused.status_code == 401 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_oauth2_password_and_refresh_token_flow(builtin: RegistryServer, tmp_path: Path) -> None:
    url = builtin.url + TOKEN_PATH
    form = {
        "grant_type": "password",
        "username": "writer",
        "password": PASSWORDS["writer"],
        "service": TOKEN_SERVICE,
        "scope": "repository:team/app:pull,push",
        "client_id": "test",
        "access_type": "offline",
    }
    first = requests.post(url, data=form, timeout=30)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["scope"] == "repository:team/app:pull,push" and body["token_type"] == "Bearer"
    refresh = body["refresh_token"]
    headers = {"Authorization": f"Bearer {refresh}"}  # a refresh token is no access token
    assert (
        requests.get(f"{builtin.url}/v2/team/app/tags/list", headers=headers, timeout=30).status_code == 401
    )

    again = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": TOKEN_SERVICE,
              "scope": "repository:team/app:pull"},
        timeout=30,
    )  # fmt: skip
    assert again.status_code == 200 and again.json()["scope"] == "repository:team/app:pull"
    assert again.json()["refresh_token"] == refresh

    assert (
        requests.post(url, data={**form, "password": "wrong"}, timeout=30).json()["error"] == "invalid_grant"
    )
    forged = {"grant_type": "refresh_token", "refresh_token": refresh[:-3] + "AAA", "service": TOKEN_SERVICE}
    assert requests.post(url, data=forged, timeout=30).json()["error"] == "invalid_grant"
    assert (
        requests.post(url, data={"grant_type": "magic"}, timeout=30).json()["error"]
        == "unsupported_grant_type"
    )

    # the user leaves the htpasswd file: the refresh token is refused from then on
    htpasswd = tmp_path / "auth" / "htpasswd"
    kept = [line for line in htpasswd.read_text().splitlines(keepends=True) if not line.startswith("writer:")]
    replacement = tmp_path / "htpasswd.new"
    replacement.write_text("".join(kept))
    os.replace(replacement, htpasswd)
    gone = {"grant_type": "refresh_token", "refresh_token": refresh, "service": TOKEN_SERVICE}
    assert requests.post(url, data=gone, timeout=30).json()["error"] == "invalid_grant"


def test_access_file_changes_take_effect_without_restart(builtin: RegistryServer, tmp_path: Path) -> None:
    scope = "repository:team/app:pull,push"
    assert access_of(get_token(builtin, scope, user="reader").json()["token"])[0]["actions"] == ["pull"]
    access = tmp_path / "auth" / "access.yml"
    replacement = tmp_path / "access.new"
    replacement.write_text("rules: [{repositories: ['team/**'], users: [reader], actions: [pull, push]}]\n")
    os.replace(replacement, access)
    assert access_of(get_token(builtin, scope, user="reader").json()["token"])[0]["actions"] == [
        "pull",
        "push",
    ]
    access.write_text("rules: [broken\n")
    assert access_of(get_token(builtin, scope, user="reader").json()["token"]) == []


def test_the_signing_key_is_made_once_and_kept_across_restarts(
    builtin: RegistryServer, tmp_path: Path
) -> None:
    key = tmp_path / "auth" / "keys" / "token.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    before = key.read_bytes()
    token = get_token(builtin, "repository:team/app:pull", user="reader").json()["token"]
    builtin.restart()
    assert key.read_bytes() == before
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        requests.get(f"{builtin.url}/v2/team/app/tags/list", headers=headers, timeout=30).status_code == 404
    )
