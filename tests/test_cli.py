"""The ``dockyard`` command as a newcomer meets it: help, version, the embedded default, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from dockyard import __version__
from tests.support.servers import free_port


def _dockyard(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def test_version_and_help() -> None:
    assert _dockyard("--version").stdout.strip() == f"dockyard {__version__}"
    help_text = _dockyard("serve", "--help").stdout
    assert "CONFIG" in help_text and "REGISTRY_" in help_text and ":5000" in help_text


def test_unsafe_config_is_refused_at_start_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\nauth: {silly: {realm: r}}\n"
    )
    result = _dockyard("serve", str(config))
    assert result.returncode == 2
    assert "auth.silly" in result.stderr


def test_a_missing_htpasswd_file_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\n"
        f"auth: {{htpasswd: {{realm: r, path: {tmp_path / 'absent'}}}}}\n"
    )
    result = _dockyard("serve", str(config))
    assert result.returncode == 2
    assert "auth.htpasswd.path" in result.stderr and "cannot read" in result.stderr


def test_serve_without_config_uses_a_local_folder_and_prints_where(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        response = requests.post(f"http://127.0.0.1:{port}/v2/first/blobs/uploads/", timeout=5)
        assert response.status_code == 202
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert f"listening on http://127.0.0.1:{port}" in output
    assert "storage root: ./registry-data" in output
    assert (tmp_path / "registry-data/docker/registry/v2/repositories/first/_uploads").is_dir()


def test_token_auth_without_a_readable_bundle_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\n"
        f"auth: {{token: {{realm: r, service: s, issuer: i, rootcertbundle: {tmp_path / 'absent.pem'}}}}}\n"
    )
    result = _dockyard("serve", str(config))
    assert result.returncode == 2
    assert "auth.token" in result.stderr and "cannot read root certificate bundle" in result.stderr
