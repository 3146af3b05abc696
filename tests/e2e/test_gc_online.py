"""Garbage collection while dockyard serves: 8 clients push, pull and delete overlapping images while
collections run back to back (the admin endpoint and the ``garbage-collect`` command, which sees the
servers' leases). No push or pull may fail and no blob may go missing; after the clients stop, a last
collection on the idle storage leaves exactly the tree the reference's collector leaves.

``DOCKYARD_TEST_GC_SECONDS`` sets how long the clients run (default 20).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api._http import Api, Image, oci_image, tar_gz_layer
from tests.conftest import RegistryFactory
from tests.e2e.test_gc import _dockyard_gc, _reference_gc, _summary, _tree
from tests.support.servers import RegistryServer

SECONDS = float(os.environ.get("DOCKYARD_TEST_GC_SECONDS", "20"))
CLIENTS = 8
CONFIG = {
    "storage": {
        "maintenance": {
            "gc": {"enabled": True, "interval": "0s", "graceperiod": "5s"},
            "uploadpurging": {"enabled": False},
        }
    }
}


def pull(api: Api, repo: str, tag: str, image: Image) -> None:
    manifest = api.get_manifest(repo, tag)
    assert manifest.status_code == 200, (repo, tag, manifest.status_code, manifest.text)
    assert manifest.content == image.manifest
    for digest in image.blobs:
        blob = api.get(f"/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200, (repo, tag, digest, blob.status_code)
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == digest


class Run:
    def __init__(self, servers: list[RegistryServer]) -> None:
        self.servers = servers
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.pushed = 0
        self.collections: list[dict[str, Any]] = []
        self.busy = 0
        self.kept: dict[str, list[tuple[str, Image]]] = {}  # repo -> (tag, image) still tagged
        # layers every client draws from: the same blobs pushed, deleted and pushed again everywhere
        self.pool = [tar_gz_layer(f"pool-{index}.txt") for index in range(6)]

    def client(self, number: int) -> None:
        push_api = Api(self.servers[number % len(self.servers)].url)
        pull_api = Api(self.servers[(number + 1) % len(self.servers)].url)  # another process, when two
        rng = random.Random(number)
        repo = f"client{number}/img"
        tagged: list[tuple[str, Image]] = []
        step = 0
        while not self.stop.is_set():
            step += 1
            tag = f"t{step}"
            image = oci_image(
                layer_blobs=[*rng.sample(self.pool, 2), tar_gz_layer(f"own-{number}-{step}.txt")]
            )
            try:
                image.push(push_api, repo, tag)
                self.pushed += 1
                pull(pull_api, repo, tag, image)
                tagged.append((tag, image))
                if len(tagged) > 2:  # garbage: an older image of this client goes
                    _, old = tagged.pop(0)
                    deleted = push_api.delete(f"/v2/{repo}/manifests/{old.digest}")
                    assert deleted.status_code == 202, deleted.text
            except (AssertionError, requests.RequestException) as exc:
                self.failures.append(f"client {number} step {step}: {exc}")
        self.kept[repo] = tagged

    def collector(self) -> None:
        turn = 0
        while not self.stop.is_set():
            turn += 1
            server = self.servers[turn % len(self.servers)]
            if turn % 3:
                answer = requests.post(f"{server.url}/dockyard/gc", timeout=120)
                if answer.status_code == 503:
                    self.busy += 1
                else:
                    assert answer.status_code == 200, answer.text
                    self.collections.append(answer.json())
            else:
                gc = ["garbage-collect", "--root", str(server.root), "--json", "--delete-untagged"]
                command = subprocess.run(
                    [sys.executable, "-m", "dockyard", *gc], capture_output=True, text=True, timeout=120
                )
                if command.returncode == 0:
                    self.collections.append(json.loads(command.stdout))
                elif "another garbage collection" in command.stderr:
                    self.busy += 1
                else:
                    self.failures.append(f"garbage-collect failed: {command.stderr}")
            time.sleep(0.2)


@pytest.mark.parametrize("processes", [1, 2])
def test_collecting_while_clients_push_pull_and_delete(
    registry_factory: RegistryFactory, tmp_path: Path, processes: int
) -> None:
    root = tmp_path / "shared-root"
    servers = [registry_factory("dockyard", root=root, extra_config=CONFIG) for _ in range(processes)]
    run = Run(servers)
    threads = [threading.Thread(target=run.client, args=(number,)) for number in range(CLIENTS)]
    collector = threading.Thread(target=run.collector)
    for thread in [*threads, collector]:
        thread.start()
    time.sleep(SECONDS)
    run.stop.set()
    for thread in [*threads, collector]:
        thread.join(timeout=300)

    assert run.failures == []
    assert run.pushed >= CLIENTS
    assert len(run.collections) >= 3
    assert all(collection["grace_seconds"] == 5 for collection in run.collections)  # servers were live
    deleted = sum(len(collection["blobs_eligible"]) for collection in run.collections)
    print(f"{processes} process(es): {run.pushed} pushes, {len(run.collections)} collections "
          f"({run.busy} busy), {deleted} blobs deleted while serving")  # fmt: skip
    assert deleted > 0, "the collections found no old garbage to delete: the run proves nothing"
    # nothing still tagged lost a blob
    api = Api(servers[0].url)
    for repo, tagged in run.kept.items():
        for tag, image in tagged:
            pull(api, repo, tag, image)

    # the idle storage: a last collection gives exactly the reference's result
    for server in servers:
        server.stop()
    assert not list((root / "dockyard" / "leases").iterdir())
    reference = tmp_path / "reference-copy"
    shutil.copytree(root, reference)
    expected = _reference_gc(reference)
    actual = _dockyard_gc(root)
    assert _summary(actual) == _summary(expected)
    assert _tree(root) == _tree(reference)
