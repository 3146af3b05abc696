"""skopeo over HTTPS with mutual TLS: a certificate directory with the test CA and the client's certificate
pushes and pulls; without the client certificate the handshake is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients
from tests.support.images import read_index
from tests.test_tls import Pki, pki, tls_server  # noqa: F401  (pki is a fixture)


def test_skopeo_with_client_certificates(
    registry_factory: RegistryFactory,
    pki: Pki,  # noqa: F811
    clients: Clients,
    seed_images: SeedImages,
    tmp_path: Path,
) -> None:
    server = tls_server(registry_factory, "dockyard", pki, mutual=True)
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(pki.server_ca, certs / "ca.crt")
    ref = f"docker://{server.host}/tls/busybox:v1"
    source = seed_images.busybox_v1.transport

    with pytest.raises(AssertionError, match=r"(?i)tls|certificate|handshake|connection reset|EOF"):
        clients.skopeo("copy", "--dest-cert-dir", str(certs), source, ref)
    shutil.copy(pki.client[0], certs / "client.cert")
    shutil.copy(pki.client[1], certs / "client.key")
    clients.skopeo("copy", "--dest-cert-dir", str(certs), source, ref)
    pulled = tmp_path / "pulled"
    clients.skopeo("copy", "--src-cert-dir", str(certs), ref, f"oci:{pulled}:v1")
    assert read_index(pulled)["manifests"][0]["digest"] == seed_images.busybox_v1.digest
