"""Stateless replicas on one bucket behind nginx: uploads cross replicas, a mixed dockyard + reference
cluster, and faults (a replica killed mid-push, Redis restarted, S3 away for seconds) that lose nothing that
was reported pushed."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages, podman_round_trip, push_seed
from tests.e2e.test_s3 import pull_and_compare
from tests.support import images as img
from tests.support.balancer import Balancer
from tests.support.clients import Clients
from tests.support.redis_server import RedisServer
from tests.support.seaweed import SeaweedServer
from tests.support.servers import Kind, RegistryServer, s3_config


def replica_config(seaweedfs: SeaweedServer, root: str, redis: RedisServer | None) -> dict[str, Any]:
    config = s3_config(seaweedfs.parameters(root))
    if redis is not None:
        config["storage"]["cache"] = {"blobdescriptor": "redis"}
        config["redis"] = {"addr": redis.addr, "dialtimeout": "500ms", "readtimeout": "500ms"}
    return config


def start_cluster(
    registry_factory: RegistryFactory,
    kinds: list[Kind],
    config: dict[str, Any],
    workdir: Path,
    crossing: bool,
) -> tuple[list[RegistryServer], Balancer]:
    replicas = [registry_factory(kind, extra_config=config) for kind in kinds]
    balancer = Balancer(workdir, [replica.host for replica in replicas], crossing=crossing).start()
    return replicas, balancer


@pytest.fixture
def balancers() -> Iterator[list[Balancer]]:
    made: list[Balancer] = []
    yield made
    for balancer in made:
        balancer.stop()


def test_push_and_pull_through_three_replicas(
    registry_factory: RegistryFactory,
    seaweedfs: SeaweedServer,
    redis_server: RedisServer,
    seed_images: SeedImages,
    clients_factory: Callable[[str], Clients],
    balancers: list[Balancer],
    tmp_path: Path,
) -> None:
    """skopeo (a multi-arch index) and podman through nginx; every upload's requests hit two replicas."""
    config = replica_config(seaweedfs, seaweedfs.make_root("replicas"), redis_server)
    _, balancer = start_cluster(registry_factory, ["dockyard"] * 3, config, tmp_path / "nginx", True)
    balancers.append(balancer)
    pusher, puller = clients_factory("pusher"), clients_factory("puller")
    push_seed(pusher, balancer, seed_images)
    pull_and_compare(puller, balancer.host, seed_images, tmp_path / "pulled")

    podman_round_trip(pusher, puller, seed_images.busybox_v2, f"{balancer.host}/podman/busybox:v2", tmp_path)

    uploads = balancer.upstreams_by_upload()
    assert len(uploads) >= 5
    assert all(len(upstreams) >= 2 for upstreams in uploads.values()), uploads


def test_mixed_cluster_of_dockyard_and_the_reference(
    registry_factory: RegistryFactory,
    seaweedfs: SeaweedServer,
    seed_images: SeedImages,
    clients_factory: Callable[[str], Clients],
    balancers: list[Balancer],
    tmp_path: Path,
) -> None:
    config = replica_config(seaweedfs, seaweedfs.make_root("mixed"), None)
    replicas, balancer = start_cluster(
        registry_factory, ["dockyard", "reference"], config, tmp_path / "nginx", True
    )
    balancers.append(balancer)
    push_seed(clients_factory("pusher"), balancer, seed_images)
    pull_and_compare(clients_factory("puller"), balancer.host, seed_images, tmp_path / "pulled")
    for replica in replicas:  # each one alone serves everything the cluster took
        alone = clients_factory(f"alone-{replica.kind}")
        pull_and_compare(alone, replica.host, seed_images, tmp_path / replica.kind)
    uploads = balancer.upstreams_by_upload()
    assert uploads and all(len(upstreams) == 2 for upstreams in uploads.values()), uploads


@dataclass(frozen=True)
class Push:
    image: img.OciImage
    name: str
    ok: bool
    started: float
    finished: float


def _push(clients: Clients, image: img.OciImage, host: str, name: str) -> Push:
    started = time.monotonic()
    try:
        clients.copy(image.transport, f"docker://{host}/{name}", "--retry-times", "2", timeout=300)
    except AssertionError:
        return Push(image, name, False, started, time.monotonic())
    return Push(image, name, True, started, time.monotonic())


def _spec_error_or(response: requests.Response, *ok: int) -> None:
    """A status in ``ok``, or a 5xx whose body is the spec's JSON error (never a traceback or HTML)."""
    if response.status_code in ok:
        return
    assert response.status_code >= 500, (response.status_code, response.text)
    assert response.json()["errors"][0]["code"] in ("UNAVAILABLE", "UNKNOWN"), response.text


def test_faults_lose_nothing_that_was_reported_pushed(
    registry_factory: RegistryFactory,
    redis_server: RedisServer,
    clients_factory: Callable[[str], Clients],
    balancers: list[Balancer],
    tmp_path: Path,
) -> None:
    """8 workers push images through two replicas, round robin, while one replica is killed -9, Redis
    restarts and S3 goes away for seconds. A client sees success or a spec error body; afterwards every
    image reported pushed pulls back byte-identical from either replica, and pushes work again."""
    s3 = SeaweedServer(tmp_path / "s3").start()
    try:
        config = replica_config(s3, s3.make_root("faults"), redis_server)
        replicas, balancer = start_cluster(
            registry_factory, ["dockyard"] * 2, config, tmp_path / "nginx", False
        )
        balancers.append(balancer)
        layout = tmp_path / "images"
        rounds = 6
        plans = [
            [
                (img.build_busybox(layout, f"fault-{w}-{r}"), f"faults/worker-{w}:round-{r}")
                for r in range(rounds)
            ]
            for w in range(8)
        ]
        clients = clients_factory("pusher")
        clients.mark_insecure(balancer.host)
        marks: dict[str, float] = {}

        first_pushed = threading.Event()

        def worker(plan: list[tuple[img.OciImage, str]]) -> list[Push]:
            done = []
            for image, name in plan:
                done.append(_push(clients, image, balancer.host, name))
                if done[-1].ok:
                    first_pushed.set()
            return done

        def faults() -> None:
            assert first_pushed.wait(timeout=240), "no push got through before the faults"
            time.sleep(0.3)  # the other workers are mid-push
            marks["kill"] = time.monotonic()
            replicas[1].kill()
            for _ in range(2):  # round robin: one of the two lands on the dead replica
                _spec_error_or(
                    requests.post(f"{balancer.url}/v2/faults/probe/blobs/uploads/", timeout=60), 202
                )
            time.sleep(1.0)
            replicas[1].start()
            redis_server.restart()
            time.sleep(1.0)
            s3.stop()
            outage = requests.get(f"{replicas[0].url}/v2/faults/worker-0/tags/list", timeout=60)
            assert outage.status_code == 503, outage.text
            assert outage.json()["errors"][0]["code"] == "UNAVAILABLE"
            time.sleep(2.0)
            s3.start()
            marks["healed"] = time.monotonic()

        with ThreadPoolExecutor(9) as pool:
            futures = [pool.submit(worker, plan) for plan in plans]
            injected = pool.submit(faults)
            pushes = [push for future in futures for push in future.result()]
            injected.result()

        pushed = [push for push in pushes if push.ok]
        story = [
            (
                push.name,
                push.ok,
                round(push.started - marks["kill"], 1),
                round(push.finished - marks["kill"], 1),
            )
            for push in pushes
        ] + [("healed", round(marks["healed"] - marks["kill"], 1))]
        assert any(push.started < marks["kill"] < push.finished for push in pushes), story
        assert any(push.finished < marks["kill"] for push in pushed)
        # after recovery: everything reported pushed is there, byte for byte, on either replica
        puller = clients_factory("puller")
        for replica in replicas:
            puller.mark_insecure(replica.host)
        for push in pushed:
            for replica in replicas:
                raw = puller.inspect_raw(f"docker://{replica.host}/{push.name}")
                assert hashlib.sha256(raw).hexdigest() == push.image.digest[7:], (replica.host, push.name)
            dest = tmp_path / "pulled" / push.name.replace("/", "_").replace(":", "_")
            dest.parent.mkdir(exist_ok=True)
            puller.copy(f"docker://{balancer.host}/{push.name}", f"oci:{dest}:x")
            for digest in push.image.blob_digests():
                blob = (dest / "blobs" / "sha256" / digest[7:]).read_bytes()
                assert hashlib.sha256(blob).hexdigest() == digest[7:]
        # and the healed cluster takes pushes again
        again = _push(clients, plans[0][0][0], balancer.host, "faults/after:v1")
        assert again.ok
    finally:
        s3.stop()
