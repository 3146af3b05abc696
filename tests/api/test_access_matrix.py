"""The access matrix of dockyard's built-in token service: every endpoint, every kind of client, a
repository the client is meant to reach and one it is not, each cell asserted through raw HTTP.

Clients get their tokens as real ones do (the Docker token GET with their Basic credentials, for the scope
the endpoint needs). The rights below are written out by hand from ``tests.support.auth.ACCESS``; they are
the expectation, not computed by dockyard's code. A refused cell must be a 401 Bearer challenge naming the
scope, with the spec's UNAUTHORIZED body, and must leave the storage tree as it was; a permitted cell must
get the endpoint's own success status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from tests.support.auth import PASSWORDS, TOKEN_ISSUER, TOKEN_PATH, TOKEN_SERVICE, serve_builtin
from tests.support.servers import RegistryServer

from ._http import OCI_MANIFEST, Api, digest_of, oci_image, snapshot

TEAM, PUBLIC, PRIVATE = "team/app", "public/app", "private/app"

#: What each client may do where (tests.support.auth.ACCESS, by hand). "catalog" is registry:catalog:*.
RIGHTS: dict[str, dict[str, set[str]]] = {
    "anonymous": {PUBLIC: {"pull"}},
    "reader": {TEAM: {"pull"}, PUBLIC: {"pull"}},
    "writer": {TEAM: {"pull", "push"}, PUBLIC: {"pull"}},
    "admin": {TEAM: {"pull", "push", "delete"}, PUBLIC: {"pull", "push", "delete"},
              PRIVATE: {"pull", "push", "delete"}, "": {"catalog"}},
    "wrong password": {},
    "expired token": {},
    "token for another repository": {},
}  # fmt: skip
#: The repository each client is meant to reach (the "permitted" column); the other column is PRIVATE,
#: except for the admin, whose other column is PUBLIC.
PERMITTED = {"anonymous": PUBLIC, "admin": PRIVATE}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    needs: tuple[str, ...]
    success: int
    #: (server, repository, admin api) -> (path, request kwargs); may prepare state as the admin
    prepare: Callable[[Api, str], tuple[str, dict[str, Any]]]


def _upload(admin: Api, repo: str) -> str:
    return str(admin.start_upload(repo).headers["Location"])


def _fresh_image(admin: Api, repo: str) -> str:
    image = oci_image()
    image.push(admin, repo)
    return image.digest


SEED = oci_image()
BLOB = b"a blob of the access matrix"


def _prep_manifest_put(admin: Api, repo: str) -> tuple[str, dict[str, Any]]:
    image = oci_image()
    for data in image.blobs.values():
        admin.push_blob(repo, data)
    return f"/v2/{repo}/manifests/pushed", {"data": image.manifest, "headers": {"Content-Type": OCI_MANIFEST}}


ENDPOINTS = [
    Endpoint("GET manifest", "GET", ("pull",), 200,
             lambda a, r: (f"/v2/{r}/manifests/seed", {"headers": {"Accept": OCI_MANIFEST}})),
    Endpoint("HEAD manifest", "HEAD", ("pull",), 200,
             lambda a, r: (f"/v2/{r}/manifests/{SEED.digest}", {"headers": {"Accept": OCI_MANIFEST}})),
    Endpoint("PUT manifest", "PUT", ("pull", "push"), 201, _prep_manifest_put),
    Endpoint("DELETE manifest", "DELETE", ("delete",), 202,
             lambda a, r: (f"/v2/{r}/manifests/{_fresh_image(a, r)}", {})),
    Endpoint("GET blob", "GET", ("pull",), 200, lambda a, r: (f"/v2/{r}/blobs/{digest_of(BLOB)}", {})),
    Endpoint("HEAD blob", "HEAD", ("pull",), 200, lambda a, r: (f"/v2/{r}/blobs/{digest_of(BLOB)}", {})),
    Endpoint("DELETE blob", "DELETE", ("delete",), 202,
             lambda a, r: (f"/v2/{r}/blobs/{a.push_blob(r, f'doomed {time.monotonic_ns()}'.encode())}", {})),
    Endpoint("POST upload", "POST", ("pull", "push"), 202, lambda a, r: (f"/v2/{r}/blobs/uploads/", {})),
    Endpoint("POST monolithic upload", "POST", ("pull", "push"), 201,
             lambda a, r: (f"/v2/{r}/blobs/uploads/?digest={digest_of(b'mono')}", {"data": b"mono"})),
    Endpoint("GET upload", "GET", ("pull",), 204, lambda a, r: (_upload(a, r), {})),
    Endpoint("PATCH upload", "PATCH", ("pull", "push"), 202,
             lambda a, r: (_upload(a, r), {"data": b"chunk"})),
    Endpoint("PUT upload", "PUT", ("pull", "push"), 201,
             lambda a, r: (_upload(a, r), {"params": {"digest": digest_of(b"last")}, "data": b"last"})),
    Endpoint("DELETE upload", "DELETE", ("delete",), 204, lambda a, r: (_upload(a, r), {})),
    Endpoint("GET tags", "GET", ("pull",), 200, lambda a, r: (f"/v2/{r}/tags/list", {})),
    Endpoint("GET referrers", "GET", ("pull",), 200, lambda a, r: (f"/v2/{r}/referrers/{SEED.digest}", {})),
]  # fmt: skip
CATALOG = Endpoint("GET catalog", "GET", ("catalog",), 200, lambda a, r: ("/v2/_catalog", {}))
BASE = Endpoint("GET /v2/", "GET", (), 200, lambda a, r: ("/v2/", {}))


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, Api]]:
    """One dockyard with the built-in token service, seeded as the admin (module-wide: 200+ cells)."""
    workdir = tmp_path_factory.mktemp("matrix")
    server = serve_builtin(RegistryServer("dockyard", workdir / "server"), workdir / "auth")
    admin = Api(server.url)
    admin.session.auth = TokenAuth(server, "admin")
    for repo in (TEAM, PUBLIC, PRIVATE):
        SEED.push(admin, repo, "seed")
        admin.push_blob(repo, BLOB)
    yield server, admin
    server.stop()


class TokenAuth(requests.auth.AuthBase):
    """Answers 401 challenges as a client does: a token for the challenged scope, as ``user``."""

    def __init__(self, server: RegistryServer, user: str) -> None:
        self.server = server
        self.user = user

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        scope = scope_for(request.method or "GET", request.path_url)
        request.headers["Authorization"] = f"Bearer {fetch_token(self.server, self.user, scope)}"
        return request


def scope_for(method: str, path: str) -> str:
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    for marker in ("/manifests/", "/blobs/", "/tags/", "/referrers/"):
        if marker in path:
            repo = path[len("/v2/") : path.index(marker)]
            actions = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "pull,push")
            return f"repository:{repo}:{actions}"
    return ""


def fetch_token(
    server: RegistryServer, user: str | None, scope: str, password: str | None = None
) -> str | None:
    auth = (user, password or PASSWORDS[user]) if user else None
    params = {"service": TOKEN_SERVICE, "scope": scope} if scope else {"service": TOKEN_SERVICE}
    resp = requests.get(server.url + TOKEN_PATH, params=params, auth=auth, timeout=30)
    if resp.status_code == 401:
        return None
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def expired_token(server: RegistryServer, scope: str) -> str:
    """A token from the service's own key, granting what was asked, expired five minutes ago."""
    key_path = Path(server.config["auth"]["token"]["builtin"]["signingkey"])
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    past = int(time.time()) - 300
    access = [{"type": kind, "name": name, "actions": actions.split(",")}] if scope else []
    claims = {"iss": TOKEN_ISSUER, "aud": TOKEN_SERVICE, "sub": "admin", "iat": past - 300, "nbf": past - 300,
              "exp": past, "access": access}  # fmt: skip
    kid = jwt.get_unverified_header(fetch_token(server, "admin", "") or "")["kid"]
    return jwt.encode(claims, key, "ES256", headers={"kid": kid})  # type: ignore[arg-type]


def token_for(server: RegistryServer, client: str, scope: str) -> str | None:
    """The bearer token ``client`` presents for ``scope`` (None: it has none to present)."""
    if client == "anonymous":
        return fetch_token(server, None, scope)
    if client == "wrong password":
        assert fetch_token(server, "writer", scope, password="not-the-password") is None
        return None
    if client == "expired token":
        return expired_token(server, scope)
    if client == "token for another repository":
        return fetch_token(server, "admin", "repository:team/other:pull,push,delete")
    return fetch_token(server, client, scope)


CLIENTS = list(RIGHTS)


def cells() -> list[Any]:
    found = []
    for client in CLIENTS:
        permitted = PERMITTED.get(client, TEAM)
        other = PUBLIC if client == "admin" else PRIVATE
        for endpoint in ENDPOINTS:
            for column, repo in (("permitted", permitted), ("other", other)):
                found.append(pytest.param(client, endpoint, repo, id=f"{client}-{endpoint.name}-{column}"))
        found.append(pytest.param(client, CATALOG, "", id=f"{client}-catalog"))
        found.append(pytest.param(client, BASE, "", id=f"{client}-base"))
    return found


@pytest.mark.parametrize(("client", "endpoint", "repo"), cells())
def test_access_matrix_cell(
    matrix_server: tuple[RegistryServer, Api], client: str, endpoint: Endpoint, repo: str
) -> None:
    server, admin = matrix_server
    path, kwargs = endpoint.prepare(admin, repo)
    scope = scope_for(endpoint.method, path.split("?")[0].replace(server.url, ""))
    token = token_for(server, client, scope)
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif client == "wrong password":
        headers["Authorization"] = requests.auth._basic_auth_str("writer", "not-the-password")
    before = snapshot(server.root)
    url = path if path.startswith("http") else server.url + path
    resp = requests.request(
        endpoint.method, url, headers=headers, timeout=30, allow_redirects=False, **kwargs
    )

    rights = RIGHTS[client].get(repo, set())
    if endpoint is BASE:
        allowed = client in ("anonymous", "reader", "writer", "admin", "token for another repository")
    else:
        allowed = set(endpoint.needs) <= rights
    if allowed:
        assert resp.status_code == endpoint.success, (
            f"{client} {endpoint.name} {repo}: {resp.status_code} {resp.text}"
        )
        return
    assert resp.status_code == 401, f"{client} {endpoint.name} {repo}: {resp.status_code} {resp.text}"
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{server.url}{TOKEN_PATH}",service="{TOKEN_SERVICE}"')
    if scope:
        assert f'scope="{scope}"' in challenge
    expected_error = {
        "expired token": "invalid_token",
        "wrong password": None,
    }.get(client, "insufficient_scope")
    if expected_error:
        assert f'error="{expected_error}"' in challenge
    else:
        assert "error=" not in challenge
    if endpoint.method != "HEAD":
        (error,) = json.loads(resp.content)["errors"]
        assert error["code"] == "UNAUTHORIZED"
    assert snapshot(server.root) == before
