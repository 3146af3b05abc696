"""The docker CLI against the registry, through podman's Docker-compatible API (``podman system
service`` on a unix socket; there is no Docker engine on these machines). The registry is plain HTTP: it
is marked insecure in a registries.conf drop-in that the service reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients, PodmanService
from tests.support.servers import RegistryServer
from tests.support.tree import read_tree


@pytest.fixture
def docker_service(
    registry: RegistryServer, clients_factory: Callable[[str], Clients]
) -> Iterator[PodmanService]:
    """The service, started after ``registry`` was marked insecure in its registries.conf drop-in."""
    clients = clients_factory("docker-service")
    clients.mark_insecure(registry.host)
    service = PodmanService(clients)
    yield service.start()
    service.stop()


def test_docker_push_pull(
    registry: RegistryServer, docker_service: PodmanService, seed_images: SeedImages
) -> None:
    clients = docker_service.clients
    source = seed_images.busybox_v1
    name = f"{registry.host}/docker/busybox:1.29.2"
    clients.podman("pull", source.transport)
    (image_id,) = clients.podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()
    docker_service.docker("tag", image_id, name)

    pushed = docker_service.docker("push", name)
    assert "digest: sha256:" in pushed.stdout, pushed.stdout
    digest = pushed.stdout.split("digest: ")[1].split()[0]
    repo = read_tree(registry.v2).repositories["docker/busybox"]
    assert repo.tags == {"1.29.2": digest}

    # remove it locally and pull it back through the docker CLI
    docker_service.docker("rmi", name)
    docker_service.docker("rmi", image_id)
    assert clients.podman("images", "-q").stdout.strip() == ""
    docker_service.docker("pull", name)
    inspected = json.loads(docker_service.docker("image", "inspect", name).stdout)[0]
    assert inspected["Id"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
    assert f"{registry.host}/docker/busybox@{digest}" in inspected["RepoDigests"]
    assert (inspected["Os"], inspected["Architecture"]) == ("linux", "amd64")
