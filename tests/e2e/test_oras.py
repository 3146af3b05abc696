"""ORAS artifacts through the ORAS project's own Python client (``oras`` on PyPI): files pushed as an
artifact (monolithic and chunked uploads), pulled back byte for byte, a signature-like artifact attached to
it through ``subject`` and found by the referrers API, the tag listed and deleted; and the reference
registry serving what dockyard stored (drop-in both ways on one root)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import oras.client
import oras.oci
import pytest
import requests

from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer
from tests.support.tree import read_tree

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _client(server: RegistryServer) -> oras.client.OrasClient:
    return oras.client.OrasClient(hostname=server.host, insecure=True)


def _files(directory: Path) -> dict[str, bytes]:
    directory.mkdir(parents=True)
    made = {"notes.txt": b"release notes\n", "payload.bin": os.urandom(3 * 1024 * 1024 + 17)}
    for name, data in made.items():
        (directory / name).write_bytes(data)
    return made


def _pull(client: oras.client.OrasClient, target: str, outdir: Path) -> dict[str, bytes]:
    paths = client.pull(target=target, outdir=str(outdir))
    return {Path(path).name: Path(path).read_bytes() for path in paths}


def _manifest(server: RegistryServer, repo: str, reference: str) -> requests.Response:
    resp = requests.get(
        f"{server.url}/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp


def test_oras_push_pull_referrers_and_tag_delete(
    registry_factory: RegistryFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    server = registry_factory("dockyard", root=root, extra_config={"storage": {"delete": {"enabled": True}}})
    client = _client(server)
    made = _files(tmp_path / "files")
    monkeypatch.chdir(tmp_path / "files")  # oras names the files relative to where it runs
    target = f"{server.host}/artifacts/release:v1"
    resp = client.push(files=list(made), target=target, manifest_annotations={"org.example.kind": "release"})
    assert resp.status_code == 201, resp.text
    chunked = client.push(files=list(made), target=f"{server.host}/artifacts/release:v1-chunked",
                          do_chunked=True, chunk_size=1024 * 1024)  # fmt: skip
    assert chunked.status_code == 201, chunked.text

    for tag in ("v1", "v1-chunked"):
        assert _pull(client, f"{server.host}/artifacts/release:{tag}", tmp_path / f"out-{tag}") == made

    # a signature-like artifact whose subject is the release
    release = _manifest(server, "artifacts/release", "v1")
    subject = oras.oci.Subject(OCI_MANIFEST, release.headers["Docker-Content-Digest"], len(release.content))
    (tmp_path / "files" / "signature.sig").write_bytes(b"signed: " + hashlib.sha256(release.content).digest())
    signature_target = f"{server.host}/artifacts/release:sig"
    signed = client.push(files=["signature.sig"], target=signature_target, subject=subject)
    assert signed.status_code == 201, signed.text
    assert signed.headers.get("OCI-Subject") == subject.digest
    referrers = requests.get(f"{server.url}/v2/artifacts/release/referrers/{subject.digest}", timeout=30)
    assert referrers.status_code == 200, referrers.text
    listed = [entry["digest"] for entry in referrers.json()["manifests"]]
    assert listed == [_manifest(server, "artifacts/release", "sig").headers["Docker-Content-Digest"]]

    assert sorted(client.get_tags(f"{server.host}/artifacts/release")) == ["sig", "v1", "v1-chunked"]
    assert client.delete_tag(f"{server.host}/artifacts/release", "v1-chunked")
    assert sorted(client.get_tags(f"{server.host}/artifacts/release")) == ["sig", "v1"]

    # the reference serves what dockyard stored, to the same client
    server.stop()
    reference = registry_factory("reference", root=root)
    pulled = _pull(_client(reference), f"{reference.host}/artifacts/release:v1", tmp_path / "from-reference")
    assert pulled == made
    read_tree(reference.v2)
