"""``http.tls``: HTTPS with certificates the test makes, ``minimumtls``, and mutual TLS with ``clientcas``,
on the reference and on dockyard alike (raw requests and curl)."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509

from tests.conftest import RegistryFactory
from tests.support.servers import KINDS, Kind, RegistryServer
from tests.support.tokens import CertifiedKey, certify


@dataclass(frozen=True)
class Pki:
    server_ca: Path
    server_cert: Path
    server_key: Path
    client_ca: Path
    client: tuple[str, str]
    stranger: tuple[str, str]


def _write(directory: Path, name: str, item: CertifiedKey) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(item.pem())
    key.write_bytes(item.key_pem())
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    server_ca = certify("test server CA", ca=True)
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    server = certify("127.0.0.1", server_ca, sans=sans)
    client_ca = certify("test client CA", ca=True)
    client = certify("a client", client_ca, client=True)
    stranger = certify("a stranger", certify("another CA", ca=True), client=True)
    ca_path, _ = _write(directory, "server-ca", server_ca)
    server_cert, server_key = _write(directory, "server", server)
    client_ca_path, _ = _write(directory, "client-ca", client_ca)
    client_cert, client_key = _write(directory, "client", client)
    stranger_cert, stranger_key = _write(directory, "stranger", stranger)
    return Pki(
        ca_path, server_cert, server_key, client_ca_path,
        (str(client_cert), str(client_key)), (str(stranger_cert), str(stranger_key)),
    )  # fmt: skip


def tls_server(
    factory: RegistryFactory, kind: Kind, pki: Pki, *, mutual: bool = False, minimum: str | None = None
) -> RegistryServer:
    tls: dict[str, Any] = {"certificate": str(pki.server_cert), "key": str(pki.server_key)}
    if mutual:
        tls["clientcas"] = [str(pki.client_ca)]
    if minimum:
        tls["minimumtls"] = minimum
    server = factory(kind, extra_config={"http": {"tls": tls}}, start=False)
    server.ca_file = str(pki.server_ca)
    server.client_cert = pki.client if mutual else None
    return server.start()


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_https_with_the_servers_certificate(registry_factory: RegistryFactory, pki: Pki, kind: Kind) -> None:
    server = tls_server(registry_factory, kind, pki)
    assert server.url.startswith("https://")
    assert requests.get(f"{server.url}/v2/", verify=str(pki.server_ca), timeout=30).status_code == 200
    assert curl("--cacert", str(pki.server_ca), f"{server.url}/v2/").stdout == "200"
    with pytest.raises(requests.exceptions.SSLError):  # the system's CAs do not know the test CA
        requests.get(f"{server.url}/v2/", timeout=30)
    plain = curl(f"http://{server.host}/v2/")
    assert plain.stdout != "200"


@pytest.mark.parametrize("kind", KINDS)
def test_mutual_tls_needs_a_client_certificate_from_clientcas(
    registry_factory: RegistryFactory, pki: Pki, kind: Kind
) -> None:
    server = tls_server(registry_factory, kind, pki, mutual=True)
    url = f"{server.url}/v2/"
    assert requests.get(url, verify=str(pki.server_ca), cert=pki.client, timeout=30).status_code == 200
    for cert in (None, pki.stranger):
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(url, verify=str(pki.server_ca), cert=cert, timeout=30)
    good = curl("--cacert", str(pki.server_ca), "--cert", pki.client[0], "--key", pki.client[1], url)
    assert good.stdout == "200"
    refused = curl("--cacert", str(pki.server_ca), url)
    assert refused.returncode != 0 and refused.stdout == "000"


@pytest.mark.parametrize("kind", KINDS)
def test_minimum_tls_version(registry_factory: RegistryFactory, pki: Pki, kind: Kind) -> None:
    server = tls_server(registry_factory, kind, pki, minimum="tls1.3")
    url = f"{server.url}/v2/"
    assert curl("--cacert", str(pki.server_ca), "--tlsv1.3", url).stdout == "200"
    old = curl("--cacert", str(pki.server_ca), "--tlsv1.2", "--tls-max", "1.2", url)
    assert old.returncode != 0 and old.stdout == "000"


def test_unusable_tls_settings_stop_dockyard_at_start(registry_factory: RegistryFactory, pki: Pki) -> None:
    for tls in (
        {"certificate": str(pki.server_cert), "key": str(pki.server_key), "minimumtls": "tls9"},
        {"certificate": str(pki.server_cert), "key": str(pki.server_key), "clientcas": ["/absent/ca.pem"]},
        {"certificate": "/absent/cert.pem", "key": str(pki.server_key)},
        {"clientcas": [str(pki.client_ca)]},
    ):
        server = registry_factory("dockyard", extra_config={"http": {"tls": tls}}, start=False)
        result = subprocess.run(server.command(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, tls
        assert "http.tls" in result.stderr
