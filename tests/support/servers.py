"""Start and stop registry servers (dockyard or the reference ``docker-registry``) for tests.

A :class:`RegistryServer` owns one config file, one log file and one loopback port. The storage root may be
shared between several servers (that is how the compatibility tests hand a tree from one implementation to
the other). ``stop()`` followed by ``start()`` brings the same server back on the same root and port.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import requests
import yaml

Kind = Literal["dockyard", "reference"]
KINDS: tuple[Kind, ...] = ("reference", "dockyard")

#: The shared HTTP secret every test server gets unless told otherwise, so that upload ``_state`` tokens made
#: by one server are accepted by another on the same root (as with several replicas of the reference).
DEFAULT_SECRET = "dockyard-test-shared-secret"

REFERENCE_BINARY = "docker-registry"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``extra`` (a new dict; neither input is changed)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def base_config(root: Path, port: int, secret: str) -> dict[str, Any]:
    """The reference registry's config for a filesystem root on 127.0.0.1:port."""
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secret},
    }


def s3_config(parameters: dict[str, Any], redirect: bool = True) -> dict[str, Any]:
    """``extra_config`` for a server on S3 (see ``tests/support/seaweed.py`` for ``parameters``).

    Upload purging is off: the reference's purger (started after a random 0-59 minute delay, so at once one
    time in 60) panics with "index out of range" in ``purgeuploads.go`` on the key SeaweedFS lists for an
    emptied folder (``…/_uploads/<id>/`` under its own prefix), whoever wrote the bucket."""
    return {
        "storage": {
            "s3": parameters,
            "redirect": {"disable": not redirect},
            "maintenance": {"uploadpurging": {"enabled": False}},
        }
    }


def clean_env() -> dict[str, str]:
    """The environment for a server: ours without ``REGISTRY_*`` overrides, which both servers would read,
    and without ``AWS_*`` settings (an ``AWS_CA_BUNDLE`` makes the reference's s3 driver refuse to start)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}


#: Every server process :func:`spawn` started in this test session, until it is reaped: what
#: :func:`stop_spawned` (tests/conftest.py, at the session's end) stops if no teardown did.
_spawned: set[subprocess.Popen[bytes]] = set()


def spawn(
    command: list[str], log_path: Path, cwd: Path, title: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own, its output appended to ``log_path`` under a title line
    (``env``: :func:`clean_env` unless given)."""
    with log_path.open("ab") as log:
        log.write(f"\n==== {title}: {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=clean_env() if env is None else env,
            start_new_session=True,
        )
    _spawned.difference_update([reaped for reaped in _spawned if reaped.returncode is not None])
    _spawned.add(process)
    return process


def stop_spawned() -> list[int]:
    """:func:`terminate` every spawned server still running; their pids. Only those: the pid of a child
    not reaped yet can stand for no other process, nor its process group."""
    left = [process for process in _spawned if process.poll() is None]
    for process in left:
        terminate(process)
    _spawned.clear()
    return [process.pid for process in left]


def terminate(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM the process's session (SIGKILL after ``timeout``); its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


class RegistryServerError(RuntimeError):
    """The server did not come up (or went away); the message carries the tail of its log."""


class RegistryServer:
    """One registry process: ``kind`` is ``"dockyard"`` or ``"reference"`` (``docker-registry``)."""

    def __init__(
        self,
        kind: Kind,
        workdir: Path,
        root: Path | None = None,
        *,
        secret: str | None = None,
        extra_config: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}; expected one of {KINDS}")
        self.kind: Kind = kind
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = Path(root) if root is not None else self.workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.secret = secret if secret is not None else DEFAULT_SECRET
        self.config: dict[str, Any] = deep_merge(
            base_config(self.root, self.port, self.secret), extra_config or {}
        )
        storage = self.config["storage"]
        if any(driver in storage for driver in ("s3", "inmemory")):
            del storage["filesystem"]  # another driver was asked for: the file tree is not used
        self.config_path = self.workdir / "config.yml"
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: with TLS: the CA file that verifies the server, and the client certificate and key for mTLS
        self.ca_file: str | None = None
        self.client_cert: tuple[str, str] | None = None
        self.write_config()

    # -- addresses -----------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as used in image references (``HOST/name:tag``)."""
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        """``https`` when the config has ``http.tls.certificate``, else ``http``."""
        return "https" if self.config.get("http", {}).get("tls", {}).get("certificate") else "http"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS)."""
        return f"{self.scheme}://{self.host}"

    @property
    def v2(self) -> Path:
        """The storage tree the seed describes: ``<root>/docker/registry/v2``."""
        return self.root / "docker" / "registry" / "v2"

    @property
    def requires_auth(self) -> bool:
        """Whether the config asks for authentication (then ``GET /v2/`` answers 401 when it is up)."""
        return bool(self.config.get("auth"))

    def __repr__(self) -> str:
        return f"RegistryServer({self.kind}, {self.host}, root={self.root})"

    # -- lifecycle -----------------------------------------------------------------------------------
    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def command(self) -> list[str]:
        if self.kind == "dockyard":
            return [sys.executable, "-m", "dockyard", "serve", str(self.config_path)]
        binary = shutil.which(REFERENCE_BINARY) or f"/usr/bin/{REFERENCE_BINARY}"
        return [binary, "serve", str(self.config_path)]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> RegistryServer:
        """Start the process and wait until ``GET /v2/`` answers 200."""
        if self.running:
            return self
        self.process = spawn(self.command(), self.log_path, self.workdir, f"start {self.kind}")
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise RegistryServerError(
                    f"{self.kind} registry exited with code {code} before answering /v2/\n{self.log_tail()}"
                )
            try:
                prefix = str(self.config.get("http", {}).get("prefix", "")).rstrip("/")
                response = requests.get(
                    f"{self.url}{prefix}/v2/", timeout=2, verify=self.ca_file or True, cert=self.client_cert
                )
                if response.status_code == 200 or (self.requires_auth and response.status_code == 401):
                    return self
                last_error = f"GET /v2/ answered {response.status_code}"
            except requests.RequestException as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        self.stop()
        raise RegistryServerError(
            f"{self.kind} registry on {self.host} not ready within {timeout:.0f}s ({last_error})\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the process (SIGKILL after ``timeout``); returns its exit code, None if not running."""
        process, self.process = self.process, None
        if process is None:
            return None
        return terminate(process, timeout)

    def kill(self) -> None:
        """SIGKILL the server and every process it started (its workers): a crash, nothing cleaned up."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self) -> RegistryServer:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"---- last {lines} lines of {self.log_path} ----\n{tail}"

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
