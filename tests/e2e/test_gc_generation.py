"""The ``inmemory`` blob-descriptor cache of every process hears of collections run by other processes.

Two ``dockyard serve`` processes of two workers each share a root, each with its own ``inmemory`` cache.
Each blob is looked up (``HEAD``) through every worker first, so their caches hold it; then a collection runs
elsewhere — the ``garbage-collect`` command, or the other server's collector (``POST /dockyard/gc``) — and
deletes it. From then on no worker of either server may say it exists (a plain per-process cache would
answer ``200`` from memory).
"""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from tests.api._http import Api, random_bytes
from tests.conftest import RegistryFactory
from tests.support.servers import RegistryServer, deep_merge

_SERVER = {
    "http": {"workers": 2},
    "storage": {
        "cache": {"blobdescriptor": "inmemory"},
        "maintenance": {"gc": {"graceperiod": "1s", "interval": "0s"}},
    },
}
_LOOKUPS = 12  # new connections, spread over both workers of a server


def _statuses(server: RegistryServer, digest: str) -> set[int]:
    url = f"{server.url}/v2/app/blobs/{digest}"
    return {requests.head(url, timeout=10).status_code for _ in range(_LOOKUPS)}


def _garbage_blob(api: Api, servers: list[RegistryServer]) -> str:
    """A blob linked into ``app`` that no manifest names, cached by every worker, older than the grace."""
    digest = api.push_blob("app", random_bytes(2048))
    for server in servers:
        assert _statuses(server, digest) == {200}
    time.sleep(1.5)  # a lookup makes the blob young again: let it age past the grace period
    return digest


def test_a_collection_in_any_process_empties_every_inmemory_cache(
    registry_factory: RegistryFactory,
) -> None:
    first = registry_factory("dockyard", extra_config=_SERVER)
    collecting = deep_merge(_SERVER, {"storage": {"maintenance": {"gc": {"enabled": True}}}})
    second = registry_factory("dockyard", root=first.root, extra_config=collecting)
    servers = [first, second]
    api = Api(first.url)

    # the garbage-collect command, a process of its own
    digest = _garbage_blob(api, servers)
    run = subprocess.run(
        [sys.executable, "-m", "dockyard", "garbage-collect", "--root", str(first.root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"blob eligible for deletion: {digest}" in run.stdout
    for server in servers:
        assert _statuses(server, digest) == {404}

    # the second server's collector
    digest = _garbage_blob(api, servers)
    response = requests.post(f"{second.url}/dockyard/gc", timeout=120)
    assert response.status_code == 200, response.text
    assert digest in response.json()["blobs_eligible"]
    for server in servers:
        assert _statuses(server, digest) == {404}
    assert (first.root / "dockyard" / "gc.generation").is_file()

    # blobs that stay are still served, from the cache again
    kept = api.push_blob("app", random_bytes(100))
    for server in servers:
        assert _statuses(server, kept) == {200}
