"""No secret reaches a log line: passwords (right and wrong), bearer and refresh tokens, ``http.secret``, the
token signing key and the htpasswd hashes, whatever the log level, while logins, token requests, pushes,
pulls and refusals go on."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import requests

from tests.api._http import Api, oci_image
from tests.conftest import RegistryFactory
from tests.support.auth import (
    PASSWORDS,
    TOKEN_PATH,
    TOKEN_SERVICE,
    builtin_token_config,
    htpasswd_config,
    htpasswd_line,
)
from tests.support.servers import deep_merge

HTTP_SECRET = "s3cret-http-secret-for-upload-state"
WRONG = "wrong-password-that-must-not-be-logged"


def test_no_secret_in_any_log_line(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    server = registry_factory("dockyard", secret=HTTP_SECRET, start=False)
    auth = builtin_token_config(tmp_path / "auth", server.url)
    server.config = deep_merge(
        server.config, {**auth, "log": {"level": "debug", "accesslog": {"disabled": False}}}
    )
    server.write_config()
    server.start()
    url = server.url + TOKEN_PATH
    secrets = [HTTP_SECRET, WRONG, *PASSWORDS.values()]

    scope = "repository:team/app:pull,push"
    for user, password in (*PASSWORDS.items(), ("writer", WRONG), ("nobody", WRONG)):
        requests.get(
            url, params={"service": TOKEN_SERVICE, "scope": scope}, auth=(user, password), timeout=30
        )
    form = {"grant_type": "password", "username": "writer", "password": PASSWORDS["writer"], "scope": scope,
            "service": TOKEN_SERVICE, "access_type": "offline", "client_id": "test"}  # fmt: skip
    issued = requests.post(url, data=form, timeout=30).json()
    requests.post(url, data={**form, "password": WRONG}, timeout=30)
    again = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "scope": scope,
             "service": TOKEN_SERVICE}  # fmt: skip
    refreshed = requests.post(url, data=again, timeout=30).json()
    secrets += [issued["access_token"], issued["refresh_token"], refreshed["access_token"]]

    api = Api(server.url)
    api.session.headers["Authorization"] = f"Bearer {issued['access_token']}"
    oci_image().push(api, "team/app", "v1")
    api.get("/v2/team/other/tags/list")  # refused: insufficient scope
    requests.get(
        f"{server.url}/v2/", headers={"Authorization": "Bearer " + issued["refresh_token"]}, timeout=30
    )
    basic = base64.b64encode(f"writer:{WRONG}".encode()).decode()
    requests.get(f"{server.url}/v2/", headers={"Authorization": f"Basic {basic}"}, timeout=30)

    key = Path(auth["auth"]["token"]["builtin"]["signingkey"]).read_text()
    secrets += [line for line in key.splitlines() if not line.startswith("-----")]
    htpasswd = Path(auth["auth"]["token"]["builtin"]["htpasswd"]).read_text()
    secrets += [line.split(":", 1)[1] for line in htpasswd.splitlines()]
    server.stop()
    assert_not_logged(server.log_path.read_text(errors="replace"), secrets)


def test_no_password_in_htpasswd_mode_logs(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", "alice-pass"))
    server = registry_factory("dockyard", extra_config={**htpasswd_config(path), "log": {"level": "debug"}})
    for password in ("alice-pass", WRONG):
        requests.get(f"{server.url}/v2/team/app/tags/list", auth=("alice", password), timeout=30)
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "error authenticating user 'alice'" in log  # the refusal is logged, without the password
    assert_not_logged(log, ["alice-pass", WRONG, base64.b64encode(f"alice:{WRONG}".encode()).decode()])


def assert_not_logged(log: str, secrets: list[str]) -> None:
    assert log.count("\n") > 10, "the server logged (almost) nothing: the test would prove nothing"
    for secret in secrets:
        assert len(secret) >= 8
        for piece in {secret, secret[:24], secret[-24:]}:
            found = [line for line in log.splitlines() if piece in line]
            assert not found, f"a secret ({piece[:6]}…) is in the log: {found[0][:200]}"
    assert not re.search(r"Bearer [A-Za-z0-9_-]{20,}", log)
