"""Forged and replayed upload ``_state`` tokens: refused, and the upload they name is left as it was."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.servers import RegistryServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    registry = RegistryServer("dockyard", tmp_path_factory.mktemp("state"))
    registry.start()
    yield registry
    registry.stop()


def _state(location: str) -> str:
    return parse_qs(urlsplit(location).query)["_state"][0]


def _with_state(location: str, state: str) -> str:
    return location.split("?")[0] + "?_state=" + state


def _upload_bytes(server: RegistryServer, name: str, upload_id: str) -> bytes:
    path = server.v2 / "repositories" / name / "_uploads" / upload_id / "data"
    return Path(path).read_bytes()


def test_replayed_state_is_refused_and_the_upload_continues_intact(server: RegistryServer) -> None:
    start = requests.post(f"{server.url}/v2/state/replay/blobs/uploads/", timeout=30)
    first = start.headers["Location"]
    upload_id = start.headers["Docker-Upload-UUID"]
    second = requests.patch(first, data=b"hello ", timeout=30).headers["Location"]
    third = requests.patch(second, data=b"world", timeout=30).headers["Location"]

    for stale in (first, second):  # an attacker (or a confused client) re-sends an earlier URL
        for method in ("PATCH", "PUT", "DELETE"):
            params = (
                {"digest": "sha256:" + hashlib.sha256(b"hello world!").hexdigest()} if method == "PUT" else {}
            )
            resp = requests.request(method, stale, data=b"!", params=params, timeout=30)
            assert resp.status_code == 416, (method, resp.text)
            assert resp.json()["errors"][0]["code"] == "RANGE_INVALID"
            assert resp.headers["Range"] == "0-10"
    assert _upload_bytes(server, "state/replay", upload_id) == b"hello world"

    status = requests.get(first, timeout=30)  # a status query tells where the upload really stands
    assert status.status_code == 204 and status.headers["Range"] == "0-10"
    data = b"hello world!"
    done = requests.put(
        third, params={"digest": "sha256:" + hashlib.sha256(data).hexdigest()}, data=b"!", timeout=30
    )
    assert done.status_code == 201, done.text
    assert requests.get(f"{server.url}/v2/state/replay/blobs/{done.headers['Docker-Content-Digest']}",
                        timeout=30).content == data  # fmt: skip
    after = requests.patch(third, data=b"more", timeout=30)  # the finished upload is gone
    assert after.status_code == 404 and after.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_forged_states_and_states_of_other_uploads_are_refused(server: RegistryServer) -> None:
    a = requests.post(f"{server.url}/v2/state/a/blobs/uploads/", timeout=30)
    b = requests.post(f"{server.url}/v2/state/b/blobs/uploads/", timeout=30)
    a_location, b_location = a.headers["Location"], b.headers["Location"]
    raw = bytearray(base64.urlsafe_b64decode(_state(a_location)))
    raw[-3] ^= 0x01  # one bit of the payload: the MAC no longer matches
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()
    unsigned = base64.urlsafe_b64encode(b"\0" * 32 + raw[32:]).decode()
    for location in (
        _with_state(a_location, forged),
        _with_state(a_location, unsigned),
        _with_state(a_location, "not base64 at all!"),
        _with_state(a_location, _state(b_location)),  # another upload's (valid) token
        _with_state(b_location, _state(a_location)),
    ):
        resp = requests.patch(location, data=b"x", timeout=30)
        assert resp.status_code == 404, resp.text
        assert resp.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    for name, upload in (("state/a", a), ("state/b", b)):
        assert _upload_bytes(server, name, upload.headers["Docker-Upload-UUID"]) == b""
