"""The server fixtures themselves: start, answer /v2/, restart on the same root and port, shared roots; the
session's safety net that stops what an interrupted run left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import KINDS, Kind, RegistryServer, RegistryServerError


def test_registry_answers_v2(registry: RegistryServer) -> None:
    response = requests.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    assert registry.config_path.is_file()
    assert str(registry.root) in registry.config_path.read_text()


def test_restart_keeps_port_and_root(registry: RegistryServer) -> None:
    port, root = registry.port, registry.root
    assert registry.stop() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{registry.url}/v2/", timeout=2)
    registry.start()
    assert (registry.port, registry.root) == (port, root)
    assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 200


def test_two_kinds_share_one_root(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    root = tmp_path / "shared-root"
    ref = registry_factory("reference", root=root)
    dock = registry_factory("dockyard", root=root)
    assert ref.root == dock.root == root
    assert ref.port != dock.port


@pytest.mark.parametrize("kind", KINDS)
def test_bad_config_fails_with_log_tail(tmp_path: Path, kind: Kind) -> None:
    """A config naming a storage driver nobody has: the server exits, and the error shows its log."""
    server = RegistryServer(kind, tmp_path / "bad", extra_config={"storage": {"nosuchdriver": {}}})
    with pytest.raises(RegistryServerError, match="exited with code"):
        server.start(timeout=10)
    assert not server.running
    assert "nosuchdriver" in server.log_tail()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_run_ended_by_sigterm_stops_the_servers_its_tests_left_running(tmp_path: Path) -> None:
    """A pytest run (with tests/conftest.py) whose test starts Redis, never stops it and is still running
    when the run gets SIGTERM: the run ends as interrupted and Redis is gone with it."""
    pid_file = tmp_path / "redis.pid"
    (tmp_path / "test_left_running.py").write_text(textwrap.dedent(f"""
        import time
        from pathlib import Path

        from tests.support.redis_server import RedisServer

        def test_left_running(tmp_path):
            server = RedisServer(tmp_path / "redis").start()
            Path({str(pid_file)!r} + ".part").write_text(str(server.process.pid))
            Path({str(pid_file)!r} + ".part").rename({str(pid_file)!r})
            time.sleep(600)
    """))  # fmt: skip
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
               "--rootdir", str(tmp_path), str(tmp_path / "test_left_running.py")]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    pid = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        assert _alive(pid)
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0]
        assert run.returncode == pytest.ExitCode.INTERRUPTED, output
        assert f"stopped server processes left running: [{pid}]" in output
        assert not _alive(pid)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if pid is not None and _alive(pid):
            os.killpg(pid, signal.SIGKILL)
