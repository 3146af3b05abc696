"""``auth.htpasswd`` over HTTP, on the reference and on dockyard alike: the Basic challenge on ``/v2/`` and on
every repository route, the UNAUTHORIZED body naming the access asked for, and a user's pushes and pulls."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import KINDS, Kind, RegistryServer

from ._http import Api, assert_status, oci_image

REALM = "dockyard test realm"


def htpasswd_line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


def htpasswd_config(path: Path) -> dict[str, Any]:
    return {"auth": {"htpasswd": {"realm": REALM, "path": str(path)}}}


@pytest.fixture(params=KINDS)
def secured(
    request: pytest.FixtureRequest, registry_factory: RegistryFactory, tmp_path: Path
) -> RegistryServer:
    kind: Kind = request.param
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", "wonderland") + htpasswd_line("bob", "builder"))
    return registry_factory(kind, extra_config=htpasswd_config(path))


def assert_challenged(resp: requests.Response, details: list[dict[str, str]] | None) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'
    if resp.request.method == "HEAD":
        return
    assert resp.headers["Content-Type"].startswith("application/json")
    (error,) = json.loads(resp.content)["errors"]
    assert error["code"] == "UNAUTHORIZED"
    assert error["message"] == "authentication required"
    assert error.get("detail") == details


def access(name: str, *actions: str) -> list[dict[str, str]]:
    return [{"Type": "repository", "Class": "", "Name": name, "Action": action} for action in actions]


ROUTES = [
    ("GET", "/v2/", None),
    ("GET", "/v2/_catalog", [{"Type": "registry", "Class": "", "Name": "catalog", "Action": "*"}]),
    ("GET", "/v2/team/app/tags/list", access("team/app", "pull")),
    ("GET", "/v2/team/app/manifests/latest", access("team/app", "pull")),
    ("HEAD", "/v2/team/app/manifests/latest", access("team/app", "pull")),
    ("PUT", "/v2/team/app/manifests/latest", access("team/app", "pull", "push")),
    ("DELETE", f"/v2/team/app/manifests/sha256:{'a' * 64}", access("team/app", "delete")),
    ("GET", f"/v2/team/app/blobs/sha256:{'a' * 64}", access("team/app", "pull")),
    ("DELETE", f"/v2/team/app/blobs/sha256:{'a' * 64}", access("team/app", "delete")),
    ("POST", "/v2/team/app/blobs/uploads/", access("team/app", "pull", "push")),
    ("PATCH", "/v2/team/app/blobs/uploads/some-id", access("team/app", "pull", "push")),
    ("PUT", "/v2/team/app/blobs/uploads/some-id", access("team/app", "pull", "push")),
    ("DELETE", "/v2/team/app/blobs/uploads/some-id", access("team/app", "delete")),
]


@pytest.mark.parametrize(("method", "path", "details"), ROUTES)
def test_every_route_challenges_without_valid_credentials(
    secured: RegistryServer, method: str, path: str, details: list[dict[str, str]] | None
) -> None:
    before = sorted(p for p in secured.root.rglob("*"))
    for auth in (None, ("alice", "wrong"), ("nobody", "wonderland")):
        resp = requests.request(method, secured.url + path, auth=auth, data=b"{}", timeout=30)
        assert_challenged(resp, details)
    assert sorted(p for p in secured.root.rglob("*")) == before


def test_mount_needs_pull_on_the_source_too(secured: RegistryServer) -> None:
    resp = requests.post(
        f"{secured.url}/v2/team/app/blobs/uploads/",
        params={"mount": f"sha256:{'b' * 64}", "from": "other/repo"},
        timeout=30,
    )
    assert_challenged(resp, access("team/app", "pull", "push") + access("other/repo", "pull"))


def test_users_push_and_pull(secured: RegistryServer) -> None:
    api = Api(secured.url)
    api.session.auth = ("alice", "wonderland")
    assert_status(api.get("/v2/"), 200)
    image = oci_image()
    assert_status(image.push(api, "team/app", "v1"), 201)
    bob = Api(secured.url)
    bob.session.auth = ("bob", "builder")
    assert bob.get_manifest("team/app", "v1").content == image.manifest
    assert bob.get("/v2/_catalog").json()["repositories"] == ["team/app"]


def test_a_user_removed_from_the_file_is_refused_without_restart(
    secured: RegistryServer, tmp_path: Path
) -> None:
    path = tmp_path / "htpasswd"
    assert requests.get(f"{secured.url}/v2/", auth=("bob", "builder"), timeout=30).status_code == 200
    replacement = tmp_path / "htpasswd.new"
    replacement.write_text(htpasswd_line("alice", "wonderland"))
    os.replace(replacement, path)
    assert_challenged(requests.get(f"{secured.url}/v2/", auth=("bob", "builder"), timeout=30), None)
    assert requests.get(f"{secured.url}/v2/", auth=("alice", "wonderland"), timeout=30).status_code == 200
