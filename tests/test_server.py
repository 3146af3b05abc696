"""What a running server loads: only the libraries its configuration needs (each costs every worker MiBs).

The server runs with ``PYTHONPROFILEIMPORTTIME``, so every module it imports, at start or later while
serving, is written to its log; the test pushes and pulls a blob first so request-time imports show too.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer, free_port

# libraries only some configurations need: S3, Redis, metrics, token auth (JWT, X.509), test tools
OPTIONAL = ("botocore", "aiobotocore", "redis", "prometheus_client", "jwt", "cryptography", "hypothesis")


def _imported(server: RegistryServer) -> set[str]:
    """Top-level packages the server imported, from its ``-X importtime`` lines."""
    text = server.log_path.read_text(errors="replace")
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([A-Za-z_][\w]*)", text, re.MULTILINE))


def _serve_a_blob(server: RegistryServer) -> None:
    data = b"imports" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    base = f"{server.url}/v2/imports/test"
    started = requests.post(f"{base}/blobs/uploads/", timeout=30)
    assert started.status_code == 202
    upload = requests.put(started.headers["Location"], params={"digest": digest}, data=data, timeout=30)
    assert upload.status_code == 201
    assert requests.get(f"{base}/blobs/{digest}", timeout=30).content == data


def _start(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> set[str]:
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    server = registry_factory("dockyard", extra_config={"http": {"workers": 1}, **extra})
    _serve_a_blob(server)
    imported = _imported(server)
    assert {"aiohttp", "dockyard", "yaml"} <= imported  # the log does list imports
    return imported


def test_filesystem_server_loads_no_optional_library(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported = _start(registry_factory, monkeypatch, {})
    assert not imported & set(OPTIONAL)


def test_metrics_load_prometheus_only_when_configured(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    debug = {"addr": f"127.0.0.1:{free_port()}", "prometheus": {"enabled": True}}
    imported = _start(registry_factory, monkeypatch, {"http": {"workers": 1, "debug": debug}})
    assert "prometheus_client" in imported
    assert not imported & {"botocore", "redis", "jwt", "cryptography", "hypothesis"}
