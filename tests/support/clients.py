"""The real registry clients (skopeo, podman, the docker CLI through ``podman system service``), each
confined to a test directory: its own registries.conf (test registries marked insecure), signature policy,
storage.conf (``vfs`` driver, graph root and run root under the test directory) and containers.conf.
Nothing here touches the machine's default container storage or configuration.

registries.conf: skopeo 1.9 ignores ``CONTAINERS_REGISTRIES_CONF`` (only podman reads it) and no tool takes
the drop-in directory from the environment; every one of them reads the per-user
``$HOME/.config/containers/registries.conf`` and its ``registries.conf.d/`` drop-ins, also as root. So the
clients run with ``HOME`` in the test directory, and a test registry is marked insecure by a drop-in there.

The blob info cache: as root, skopeo and podman keep one at /var/lib/containers/cache (where each blob was
seen, on which registry and repository; they try cross-repository mounts from it), a place no option moves.
Left there, a test's requests would depend on earlier runs that used the same port. So every client runs in
a mount namespace of its own (``unshare --mount``) with a test directory bound over that path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.images import run
from tests.support.servers import spawn, terminate

INSECURE_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}
BLOB_INFO_CACHE = "/var/lib/containers/cache"
# mkdir runs on the host's tree (the path must exist to be a mount point); the bind only in the namespace
CONFINE = 'mkdir -p "$1" && mount --bind "$0" "$1" && shift && exec "$@"'


def confined(cache_dir: Path, cmd: list[str]) -> list[str]:
    """``cmd`` in a private mount namespace where ``cache_dir`` stands in for the blob info cache."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONFINE, str(cache_dir),
            BLOB_INFO_CACHE, *cmd]  # fmt: skip


class Clients:
    """skopeo and podman with configuration files written under ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy = self.workdir / "policy.json"
        self.home = self.workdir / "home"
        self.registries_conf = self.home / ".config" / "containers" / "registries.conf"
        self.registries_dropins = self.home / ".config" / "containers" / "registries.conf.d"
        self.storage_conf = self.workdir / "storage.conf"
        self.containers_conf = self.workdir / "containers.conf"
        self.graph_root = self.workdir / "storage"
        # podman refuses a run root longer than 50 characters, and a unix socket path is limited too:
        # these live in a short directory of their own, removed by close()
        self.short_dir = Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp"))
        self.run_root = self.short_dir / "run"
        self.tmpdir = self.workdir / "tmp"
        self.auth_file = self.workdir / "auth.json"
        self.blob_info_cache = self.workdir / "blob-info-cache"
        self.insecure_hosts: set[str] = set()
        for directory in (
            self.registries_dropins, self.graph_root, self.run_root, self.tmpdir, self.blob_info_cache
        ):  # fmt: skip
            directory.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(json.dumps(INSECURE_POLICY))
        self.auth_file.write_text("{}")
        self.registries_conf.write_text('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
        self.storage_conf.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{self.graph_root}"\nrunroot = "{self.run_root}"\n'
        )
        self.containers_conf.write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.workdir / "events.log"}"\n'
            f'tmp_dir = "{self.tmpdir}"\n'
            f'static_dir = "{self.graph_root / "libpod"}"\n'
            f'volume_path = "{self.graph_root / "volumes"}"\n'
            "[containers]\n"
            'log_driver = "k8s-file"\n'
        )

    def close(self) -> None:
        shutil.rmtree(self.short_dir, ignore_errors=True)

    def mark_insecure(self, host: str) -> Path:
        """A registries.conf drop-in marking ``host`` (``127.0.0.1:PORT``) insecure (plain HTTP). A running
        ``podman system service`` may have read the configuration already: mark hosts before starting it."""
        self.insecure_hosts.add(host)
        dropin = self.registries_dropins / f"{host.replace(':', '_')}.conf"
        dropin.write_text(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
        return dropin

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "CONTAINERS_", "XDG_"))}
        env.update(
            HOME=str(self.home),
            CONTAINERS_STORAGE_CONF=str(self.storage_conf),
            CONTAINERS_CONF=str(self.containers_conf),
            REGISTRY_AUTH_FILE=str(self.auth_file),
            TMPDIR=str(self.tmpdir),
        )
        return env

    # -- skopeo ------------------------------------------------------------------------------------------
    def skopeo(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(["skopeo", "--policy", str(self.policy), *args], timeout=timeout)

    def copy(self, src: str, dest: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``skopeo copy`` with TLS verification off on both sides (the test registries are plain HTTP)."""
        return self.skopeo(
            "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *args, src, dest, timeout=timeout
        )

    def login(self, host: str, user: str, password: str, *, tool: str = "skopeo") -> None:
        """``skopeo login`` (or ``podman login``) to ``host``: the credentials go to this set's auth.json,
        which every later skopeo/podman command here uses. The password goes through stdin."""
        base = ["skopeo"] if tool == "skopeo" else self.podman_args()
        self.run_with_input(
            [*base, "login", "--tls-verify=false", "--username", user, "--password-stdin", host], password
        )

    def logout(self, host: str) -> None:
        self.skopeo("logout", host)

    def inspect_raw(self, ref: str, *args: str) -> bytes:
        """The manifest bytes exactly as the registry serves them (``skopeo inspect --raw``)."""
        proc = subprocess.run(
            self.confined(
                ["skopeo", "--policy", str(self.policy), "inspect", "--raw", "--tls-verify=false", *args, ref]
            ),
            capture_output=True,
            env=self.env(),
            timeout=120,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"skopeo inspect --raw {ref} failed:\n{proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout

    def inspect_config(self, ref: str, *args: str) -> dict[str, Any]:
        """The image config blob (``skopeo inspect --config``), parsed."""
        proc = self.skopeo("inspect", "--config", "--tls-verify=false", *args, ref)
        config: dict[str, Any] = json.loads(proc.stdout)
        return config

    # -- podman ------------------------------------------------------------------------------------------
    def podman_args(self) -> list[str]:
        return [
            "podman",
            "--root", str(self.graph_root),
            "--runroot", str(self.run_root),
            "--storage-driver", "vfs",
            "--tmpdir", str(self.tmpdir),
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]  # fmt: skip

    def podman(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run([*self.podman_args(), *args], timeout=timeout)

    def confined(self, cmd: list[str]) -> list[str]:
        return confined(self.blob_info_cache, cmd)

    # -- buildah -----------------------------------------------------------------------------------------
    def buildah(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """buildah on the same confined vfs storage as podman."""
        return self.run(
            [
                "buildah",
                "--root", str(self.graph_root),
                "--runroot", str(self.run_root),
                "--storage-driver", "vfs",
                *args,
            ],
            timeout=timeout,
        )  # fmt: skip

    def run(self, cmd: list[str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(self.confined(cmd), timeout=timeout, env=self.env())

    def run_with_input(self, cmd: list[str], stdin: str, *, timeout: float = 120) -> str:
        """Run ``cmd`` confined with ``stdin`` as its input; raise with its output if it fails."""
        proc = subprocess.run(
            self.confined(cmd), input=stdin, capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout


class PodmanService:
    """``podman system service`` on a unix socket: the Docker-compatible API the docker CLI talks to."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.socket = clients.short_dir / "podman.sock"
        self.log_path = clients.workdir / "podman-service.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 30) -> PodmanService:
        command = self.clients.confined(
            [*self.clients.podman_args(), "system", "service", "--time=0", self.docker_host]
        )
        self.process = spawn(
            command, self.log_path, self.clients.workdir, "start podman system service", self.clients.env()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"podman system service exited:\n{self.log_path.read_text()[-4000:]}")
            if self.socket.exists():
                proc = subprocess.run(
                    self.docker_cmd("version", "--format", "{{.Server.APIVersion}}"),
                    capture_output=True,
                    text=True,
                    env=self.docker_env(),
                    timeout=30,
                )
                if proc.returncode == 0:
                    return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"podman system service not ready:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process, timeout=15)

    def docker_env(self) -> dict[str, str]:
        env = self.clients.env()
        env["DOCKER_CONFIG"] = str(self.clients.workdir / "docker-config")
        env.pop("DOCKER_HOST", None)
        return env

    def docker_cmd(self, *args: str) -> list[str]:
        docker = shutil.which("docker") or "docker"
        return [docker, "-H", self.docker_host, *args]

    def docker(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(self.docker_cmd(*args), timeout=timeout, env=self.docker_env())
