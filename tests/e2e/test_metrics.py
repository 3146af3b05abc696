"""Prometheus metrics on the debug address, scraped after real skopeo pushes and pulls through two worker
processes: request counts, latencies, bytes and storage timings of both workers add up and move."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests

from tests.conftest import RegistryFactory
from tests.e2e.conftest import SeedImages
from tests.support.clients import Clients
from tests.support.servers import free_port

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$", re.MULTILINE)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    deadline = time.monotonic() + 20
    while True:  # the debug server may come up a moment after the API answers (on another worker)
        try:
            response = requests.get(url, timeout=10)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for match in _SAMPLE.finditer(response.text):
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group("labels") or ""))
        samples[(match.group("name"), labels)] = float(match.group("value"))
    return samples


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


def test_metrics_move_with_skopeo_pushes_and_pulls(
    registry_factory: RegistryFactory, clients: Clients, seed_images: SeedImages, tmp_path: Path
) -> None:
    debug_port = free_port()
    server = registry_factory(
        "dockyard",
        extra_config={
            "http": {
                "workers": 2,
                "debug": {"addr": f"127.0.0.1:{debug_port}", "prometheus": {"enabled": True, "path": "/m"}},
            },
            "storage": {"cache": {"blobdescriptor": "inmemory"}},
        },
    )
    url = f"http://127.0.0.1:{debug_port}/m"
    before = scrape(url)
    assert total(before, "dockyard_http_requests_total", route="manifest") == 0

    clients.mark_insecure(server.host)
    clients.copy(seed_images.busybox_v1.transport, f"docker://{server.host}/metrics/busybox:1.29.2")
    pushed = scrape(url)
    clients.copy(f"docker://{server.host}/metrics/busybox:1.29.2", f"oci:{tmp_path / 'pulled'}:busybox")
    pulled = scrape(url)

    assert total(pushed, "dockyard_http_requests_total", route="manifest", method="PUT", status="201") == 1
    assert total(pushed, "dockyard_http_requests_total", route="blob_upload_chunk", method="PUT") >= 2
    image = seed_images.busybox_v1
    image_bytes = sum(image.blob_path(digest).stat().st_size for digest in image.blob_digests())
    assert total(pushed, "dockyard_http_request_bytes_total") == image_bytes  # every blob and the manifest
    assert total(pushed, "dockyard_uploads_in_progress") == 0
    assert total(pushed, "dockyard_storage_operation_duration_seconds_count", operation="move") >= 2
    assert total(pushed, "dockyard_storage_operation_duration_seconds_count", operation="put_content") > 0

    blob_gets = total(pulled, "dockyard_http_requests_total", route="blob", method="GET", status="200")
    assert blob_gets >= 2 and total(pushed, "dockyard_http_requests_total", route="blob", method="GET") == 0
    assert total(pulled, "dockyard_http_response_bytes_total", route="blob") > total(
        pushed, "dockyard_http_response_bytes_total", route="blob"
    )
    assert total(pulled, "dockyard_http_request_duration_seconds_count", route="manifest", method="GET") >= 1
    lookups = total(pulled, "dockyard_cache_requests_total", cache="inmemory")
    assert lookups >= blob_gets > 0  # every blob GET asked the blob-descriptor cache
    assert total(pulled, "dockyard_http_request_duration_seconds_bucket", route="manifest", le="+Inf") == (
        total(pulled, "dockyard_http_request_duration_seconds_count", route="manifest")
    )
