"""``auth.htpasswd`` over HTTP, on the reference and on dockyard alike: the Basic challenge on ``/v2/`` and on
every repository route, the UNAUTHORIZED body naming the access asked for, and a user's pushes and pulls."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.auth import HTPASSWD_REALM as REALM
from tests.support.auth import htpasswd_config, htpasswd_line
from tests.support.servers import KINDS, Kind, RegistryServer
from tests.support.tokens import ISSUER, SERVICE, TokenMaker, certify

from ._http import OCI_MANIFEST, Api, assert_status, oci_image


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


# -- auth.token: bearer tokens from a token server the test plays -----------------------------------------
TOKEN_REALM = "https://auth.example.test/token"


@pytest.fixture(params=KINDS)
def token_secured(
    request: pytest.FixtureRequest, registry_factory: RegistryFactory, tmp_path: Path
) -> tuple[RegistryServer, TokenMaker]:
    kind: Kind = request.param
    maker = TokenMaker.create()
    bundle = maker.write_bundle(tmp_path / "token-roots.pem")
    token = {"realm": TOKEN_REALM, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(bundle)}
    return registry_factory(kind, extra_config={"auth": {"token": token}}), maker


def bearer_challenge(resp: requests.Response) -> dict[str, str]:
    """The parameters of a Bearer challenge (scope actions sorted: the reference's order is random)."""
    assert resp.status_code == 401, resp.text
    header = resp.headers["WWW-Authenticate"]
    assert header.startswith("Bearer "), header
    params = dict(re.findall(r'(\w+)="([^"]*)"', header))
    if "scope" in params:
        params["scope"] = " ".join(
            sorted(
                f"{kind}:{name}:{','.join(sorted(actions.split(',')))}"
                for kind, name, actions in (s.rsplit(":", 2) for s in params["scope"].split())
            )
        )
    (error,) = json.loads(resp.content)["errors"]
    assert error["code"] == "UNAUTHORIZED"
    return params


def with_token(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_challenges_name_realm_service_and_scope(
    token_secured: tuple[RegistryServer, TokenMaker],
) -> None:
    server, _ = token_secured
    base = {"realm": TOKEN_REALM, "service": SERVICE}
    assert bearer_challenge(requests.get(f"{server.url}/v2/", timeout=30)) == base
    assert bearer_challenge(requests.get(f"{server.url}/v2/team/app/tags/list", timeout=30)) == {
        **base,
        "scope": "repository:team/app:pull",
    }
    put = requests.put(f"{server.url}/v2/team/app/manifests/v1", data=b"{}", timeout=30)
    assert bearer_challenge(put) == {**base, "scope": "repository:team/app:pull,push"}
    assert bearer_challenge(requests.get(f"{server.url}/v2/_catalog", timeout=30)) == {
        **base,
        "scope": "registry:catalog:*",
    }
    basic = requests.get(f"{server.url}/v2/team/app/tags/list", auth=("alice", "x"), timeout=30)
    assert "error" not in bearer_challenge(basic)


def test_tokens_grant_what_their_access_claim_says(token_secured: tuple[RegistryServer, TokenMaker]) -> None:
    server, maker = token_secured
    api = Api(server.url)
    api.session.headers.update(with_token(maker.token([("repository", "team/app", ["pull", "push"])])))
    image = oci_image()
    assert_status(image.push(api, "team/app", "v1"), 201)

    reader = with_token(maker.token([("repository", "team/app", ["pull"])]))
    got = requests.get(
        f"{server.url}/v2/team/app/manifests/v1", headers={**reader, "Accept": OCI_MANIFEST}, timeout=30
    )
    assert got.status_code == 200 and got.content == image.manifest
    refused = requests.put(f"{server.url}/v2/team/app/manifests/v2", headers=reader, data=b"{}", timeout=30)
    assert bearer_challenge(refused)["error"] == "insufficient_scope"
    assert bearer_challenge(refused)["scope"] == "repository:team/app:pull,push"

    elsewhere = with_token(maker.token([("repository", "team/other", ["pull", "push"])]))
    other = requests.get(f"{server.url}/v2/team/app/manifests/v1", headers=elsewhere, timeout=30)
    assert bearer_challenge(other)["error"] == "insufficient_scope"

    everything = with_token(maker.token([("repository", "team/app", ["*"]), ("registry", "catalog", ["*"])]))
    assert requests.get(f"{server.url}/v2/team/app/tags/list", headers=everything, timeout=30).json() == {
        "name": "team/app",
        "tags": ["v1"],
    }
    catalog = requests.get(f"{server.url}/v2/_catalog", headers=everything, timeout=30)
    assert catalog.json() == {"repositories": ["team/app"]}


def test_untrusted_expired_and_misaddressed_tokens_are_invalid(
    token_secured: tuple[RegistryServer, TokenMaker],
) -> None:
    server, maker = token_secured
    access = [("repository", "team/app", ["pull"])]
    stranger_root = certify("stranger root", ca=True)
    stranger = certify("stranger signer", stranger_root)
    for token in (
        maker.token(access, lifetime=-180),  # expired three minutes ago (beyond the 60 s leeway)
        maker.token(access, nbf=int(time.time()) + 600),
        maker.token(access, aud="another-registry"),
        maker.token(access, iss="another-issuer"),
        maker.token(access, signer=stranger, chain=[stranger, stranger_root]),
        maker.token(access, chain=[maker.leaf]),  # the intermediate is missing
        maker.token(access)[:-4] + "AAAA",  # signature damaged
        "not-a-token",
    ):
        resp = requests.get(f"{server.url}/v2/team/app/tags/list", headers=with_token(token), timeout=30)
        assert bearer_challenge(resp)["error"] == "invalid_token", token
