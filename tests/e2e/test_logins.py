"""The real clients against a dockyard that asks for credentials: ``skopeo login`` / ``podman login``, then
pushes and pulls; without a login (or with a wrong password) they are refused."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages
from tests.support.auth import PASSWORDS, htpasswd_config, htpasswd_line, start_builtin
from tests.support.clients import Clients
from tests.support.images import read_index
from tests.support.servers import RegistryServer


@pytest.fixture
def htpasswd_dockyard(registry_factory: RegistryFactory, tmp_path: Path) -> RegistryServer:
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", "wonderland"))
    return registry_factory("dockyard", extra_config=htpasswd_config(path))


@pytest.mark.parametrize("tool", ["skopeo", "podman"])
def test_login_then_push_and_pull(
    htpasswd_dockyard: RegistryServer, clients: Clients, seed_images: SeedImages, tmp_path: Path, tool: str
) -> None:
    server = htpasswd_dockyard
    clients.mark_insecure(server.host)
    ref = f"docker://{server.host}/secure/busybox:v1"
    with pytest.raises(AssertionError, match=r"(?i)authentication required|unauthorized"):
        clients.copy(seed_images.busybox_v1.transport, ref)
    with pytest.raises(AssertionError, match=r"(?i)invalid username/password|unauthorized"):
        clients.login(server.host, "alice", "wrong", tool=tool)

    clients.login(server.host, "alice", "wonderland", tool=tool)
    clients.copy(seed_images.busybox_v1.transport, ref)
    dest = tmp_path / "pulled"
    clients.copy(ref, f"oci:{dest}:v1")
    (descriptor,) = read_index(dest)["manifests"]
    assert descriptor["digest"] == seed_images.busybox_v1.digest
    if tool == "podman":
        clients.podman("pull", "--tls-verify=false", ref.removeprefix("docker://"))

    clients.logout(server.host)
    refused = subprocess.run(
        clients.confined(["skopeo", "inspect", "--raw", "--tls-verify=false", ref]),
        capture_output=True,
        text=True,
        env=clients.env(),
        timeout=120,
    )
    assert refused.returncode != 0
    assert "authentication required" in refused.stderr or "unauthorized" in refused.stderr.lower()


@pytest.fixture
def token_dockyard(registry_factory: RegistryFactory, tmp_path: Path) -> RegistryServer:
    return start_builtin(registry_factory, tmp_path / "auth")


def test_builtin_token_service_with_real_clients(
    token_dockyard: RegistryServer,
    clients_factory: Callable[[str], Clients],
    seed_images: SeedImages,
    tmp_path: Path,
) -> None:
    """podman/skopeo log in, get tokens from dockyard's own service, and may do what the access file says."""
    server = token_dockyard
    writer, reader, anonymous = (clients_factory(name) for name in ("writer", "reader", "anonymous"))
    for side in (writer, reader, anonymous):
        side.mark_insecure(server.host)
    source = seed_images.busybox_v1.transport
    writer.login(server.host, "writer", PASSWORDS["writer"], tool="podman")
    writer.copy(source, f"docker://{server.host}/team/busybox:v1")
    with pytest.raises(AssertionError, match=r"(?i)denied|unauthorized|authentication required"):
        writer.copy(source, f"docker://{server.host}/public/busybox:v1")  # writer may not push there

    reader.login(server.host, "reader", PASSWORDS["reader"])
    pulled = tmp_path / "pulled"
    reader.copy(f"docker://{server.host}/team/busybox:v1", f"oci:{pulled}:v1")
    assert read_index(pulled)["manifests"][0]["digest"] == seed_images.busybox_v1.digest
    with pytest.raises(AssertionError, match=r"(?i)denied|unauthorized|authentication required"):
        reader.copy(source, f"docker://{server.host}/team/busybox:v2")

    admin = clients_factory("admin")
    admin.mark_insecure(server.host)
    admin.login(server.host, "admin", PASSWORDS["admin"])
    admin.copy(source, f"docker://{server.host}/public/busybox:v1")
    # nobody logged in: public/** pulls, team/* does not
    anonymous.copy(f"docker://{server.host}/public/busybox:v1", f"oci:{tmp_path / 'anon'}:v1")
    with pytest.raises(AssertionError, match=r"(?i)denied|unauthorized|authentication required"):
        anonymous.copy(f"docker://{server.host}/team/busybox:v1", f"oci:{tmp_path / 'anon2'}:v1")
    with pytest.raises(AssertionError, match=r"(?i)invalid username/password|unauthorized"):
        anonymous.login(server.host, "reader", "wrong")
