"""A real Redis (Debian's ``redis-server``) on a free loopback port, for the cache and cluster tests."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from tests.support.servers import free_port, spawn, terminate

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, timeout: float = 20.0) -> RedisServer:
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        self.process = spawn(command, self.workdir / "redis.log", self.workdir, "start redis")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.workdir / "redis.log").read_text(errors="replace"))
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis on {self.addr} not ready")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)

    def restart(self) -> RedisServer:
        """Stop and start on the same port, empty (no persistence): the cache is gone, as after a crash."""
        self.stop()
        return self.start()
