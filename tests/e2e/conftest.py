"""Fixtures for the real-client end-to-end tests: locally built images (once per session), confined
client configurations and registry servers on the session's SeaweedFS (per test)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.conftest import RegistryFactory
from tests.support import images as img
from tests.support.clients import Clients
from tests.support.seaweed import SeaweedServer
from tests.support.servers import Kind, RegistryServer, s3_config

#: Size of the large-layer image; DOCKYARD_TEST_LARGE_MIB overrides (default 300 MiB).
LARGE_MIB = int(os.environ.get("DOCKYARD_TEST_LARGE_MIB", "300"))


@dataclass(frozen=True)
class SeedImages:
    """The seed scenario's images, in one OCI layout: busybox 1.29.2 and latest (single platform) and the
    multi-platform hello (an image index over linux/amd64, linux/arm64, linux/arm/v7)."""

    layout: Path
    busybox_v1: img.OciImage
    busybox_v2: img.OciImage
    hello: img.OciImage


@pytest.fixture(scope="session")
def seed_images(tmp_path_factory: pytest.TempPathFactory) -> SeedImages:
    layout = tmp_path_factory.mktemp("images") / "seed"
    return SeedImages(
        layout=layout,
        busybox_v1=img.build_busybox(layout, "1.29.2"),
        busybox_v2=img.build_busybox(layout, "latest"),
        hello=img.build_hello(layout),
    )


@pytest.fixture(scope="session")
def large_image(tmp_path_factory: pytest.TempPathFactory) -> img.OciImage:
    layout = tmp_path_factory.mktemp("large") / "layout"
    return img.build_large(layout, LARGE_MIB * img.MiB)


@pytest.fixture
def clients_factory(tmp_path: Path) -> Iterator[Callable[[str], Clients]]:
    """``clients_factory(name)``: another confined client set (its own podman storage) in this test."""
    made: list[Clients] = []

    def make(name: str) -> Clients:
        made.append(Clients(tmp_path / name))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def clients(clients_factory: Callable[[str], Clients]) -> Clients:
    """skopeo/podman confined to this test's directory."""
    return clients_factory("clients")


class S3RegistryFactory(Protocol):
    def __call__(
        self, kind: Kind, root: str, *, redirect: bool = True, start: bool = True
    ) -> RegistryServer: ...


@pytest.fixture
def s3_registry_factory(registry_factory: RegistryFactory, seaweedfs: SeaweedServer) -> S3RegistryFactory:
    """``s3_registry_factory(kind, root)``: a registry server on ``root`` (from ``seaweedfs.make_root``) in
    the session's SeaweedFS bucket, made (and stopped at teardown) by ``registry_factory``."""

    def make(kind: Kind, root: str, *, redirect: bool = True, start: bool = True) -> RegistryServer:
        config = s3_config(seaweedfs.parameters(root), redirect)
        return registry_factory(kind, extra_config=config, start=start)

    return make


def push_seed(clients: Clients, server: RegistryServer, images: SeedImages) -> None:
    """The seed scenario's pushes: busybox v1 as 1.29.2, v2 as latest, hello (all platforms) as latest."""
    clients.mark_insecure(server.host)
    clients.copy(images.busybox_v1.transport, f"docker://{server.host}/busybox:1.29.2")
    clients.copy(images.busybox_v2.transport, f"docker://{server.host}/busybox:latest")
    clients.copy(images.hello.transport, f"docker://{server.host}/hello:latest", "--all")


def podman_round_trip(
    pusher: Clients, puller: Clients, source: img.OciImage, name: str, workdir: Path
) -> None:
    """podman pushes ``source`` as ``name`` (HOST/repo:tag) from one storage and pulls it into another: the
    same manifest digest and image id arrive."""
    host = name.split("/", 1)[0]
    for side in (pusher, puller):
        side.mark_insecure(host)
    pusher.podman("pull", source.transport)
    image_id = pusher.podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()[0]
    pusher.podman("tag", image_id, name)
    digestfile = workdir / "pushed.digest"
    pusher.podman("push", "--tls-verify=false", "--digestfile", str(digestfile), name)
    puller.podman("pull", "--tls-verify=false", name)
    pulled = json.loads(puller.podman("image", "inspect", name).stdout)[0]
    assert pulled["Digest"] == digestfile.read_text().strip()
    assert pulled["Id"] == image_id.removeprefix("sha256:")
