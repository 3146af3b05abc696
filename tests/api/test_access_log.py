"""JSON access logs (``log.formatter: json``): one line per request with the id the response carried in
``X-Request-Id``; neither the ``Authorization`` header nor the upload ``_state`` token is ever written."""

from __future__ import annotations

import json
import os

from tests.conftest import RegistryFactory

from ._http import Api, assert_status, digest_of, wait_until

SECRET_AUTH = "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3N3b3Jk"


def test_json_access_log_carries_request_ids_and_no_secrets(registry_factory: RegistryFactory) -> None:
    server = registry_factory(
        "dockyard", extra_config={"log": {"level": "info", "formatter": "json", "fields": {"env": "test"}}}
    )
    api = Api(server.url)
    api.session.headers["Authorization"] = SECRET_AUTH
    data = os.urandom(1000)
    start = api.start_upload("logged/repo")
    location = start.headers["Location"]
    token = location.split("_state=", 1)[1]
    finish = assert_status(api.finish_upload(location, digest_of(data), data), 201)
    missing = api.get("/v2/logged/repo/manifests/nothing")
    ids = [response.headers["X-Request-Id"] for response in (start, finish, missing)]
    assert len(set(ids)) == 3

    # a line is written once its response is out: give the worker a moment
    assert wait_until(lambda: all(request_id in server.log_path.read_text() for request_id in ids))
    text = server.log_path.read_text()
    assert token not in text and SECRET_AUTH not in text and "c2VjcmV0" not in text
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = {entry["request_id"]: entry for entry in entries if entry["logger"] == "dockyard.access"}
    assert set(ids) <= set(access)
    assert access[ids[0]]["method"] == "POST" and access[ids[0]]["status"] == 202
    assert access[ids[1]]["status"] == 201 and "_state=REDACTED" in access[ids[1]]["uri"]
    assert access[ids[1]]["bytes"] == 0 and access[ids[2]]["status"] == 404
    assert all(entry["env"] == "test" and entry["level"] for entry in entries)


def test_access_log_durations_are_finer_than_milliseconds(registry_factory: RegistryFactory) -> None:
    """uvloop's clock, which aiohttp times requests with, moves in whole milliseconds: every fast request
    would read 0.0 or 1.0 ms. Durations come from ``perf_counter`` instead."""
    server = registry_factory("dockyard", extra_config={"log": {"level": "info", "formatter": "json"}})
    api = Api(server.url)
    ids = [api.get("/v2/").headers["X-Request-Id"] for _ in range(5)]
    assert wait_until(lambda: all(request_id in server.log_path.read_text() for request_id in ids))
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    durations = [entry["duration_ms"] for entry in lines if entry.get("request_id") in ids]
    assert len(durations) == 5 and all(duration >= 0 for duration in durations)
    assert any(duration != int(duration) for duration in durations), durations
