"""``POST /dockyard/gc``: a garbage collection on demand in a running dockyard (storage.maintenance.gc)."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.api.test_auth import htpasswd_config, htpasswd_line
from tests.conftest import RegistryFactory

from ._http import Api, oci_image

GC_ON_DEMAND = {"storage": {"maintenance": {"gc": {"enabled": True, "interval": "0s", "graceperiod": "1h"}}}}


def test_collects_on_demand_sparing_young_garbage(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard", extra_config=GC_ON_DEMAND)
    api = Api(server.url)
    image = oci_image()
    image.push(api, "app", "v1")
    assert api.delete(f"/v2/app/manifests/{image.digest}").status_code == 202
    dry = requests.post(f"{server.url}/dockyard/gc?dryrun=true", timeout=30)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    done = requests.post(f"{server.url}/dockyard/gc", timeout=30).json()
    # the server holds a lease and the garbage is seconds old: the grace period spares it
    assert done["grace_seconds"] == 3600 and done["blobs_eligible"] == []
    assert set(done["blobs_spared_young"]) == {image.digest, *image.blobs}
    assert not (server.root / "dockyard" / "gc.lock").exists()  # released


def test_absent_unless_enabled(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard")
    response = requests.post(f"{server.url}/dockyard/gc", timeout=30)
    assert response.status_code == 404


def test_needs_registry_wide_access_when_auth_is_on(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", "wonderland"))
    config = {**htpasswd_config(path), **GC_ON_DEMAND}
    server = registry_factory("dockyard", extra_config=config)
    assert requests.post(f"{server.url}/dockyard/gc", timeout=30).status_code == 401
    allowed = requests.post(f"{server.url}/dockyard/gc", auth=("alice", "wonderland"), timeout=30)
    assert allowed.status_code == 200, allowed.text
