"""Concurrency and crash safety of pushes.

16 clients push overlapping images at once (shared layers, the same tags, the same repositories); then
dockyard is killed with SIGKILL at random moments while pushes are under way and restarted. Every image a
client was told was pushed (201 on its manifest) must pull back byte for byte, and the tree must hold no empty
or invalid link and no blob whose bytes do not match its digest (tests.support.tree.read_tree checks both).
A kill between two steps may leave what it leaves in the reference's tree too: a tag whose index link was
written but not its current link, or an empty blob folder whose data was not moved in yet; that is allowed
only for a push never reported done, and neither may be served.
``DOCKYARD_CRASH_ROUNDS`` sets the number of kills (default 6).
"""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from tests.api._http import OCI_MANIFEST, Api, Image, descriptor, digest_of, dumps, image_config
from tests.conftest import RegistryFactory
from tests.support.tree import read_tree

CLIENTS = 16
ROUNDS = int(os.environ.get("DOCKYARD_CRASH_ROUNDS", "6"))
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def make_image(layers: list[bytes], author: str) -> Image:
    config = image_config(author=author, diff_ids=[digest_of(layer) for layer in layers])
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
    }
    blobs = {digest_of(data): data for data in (config, *layers)}
    return Image(dumps(manifest), OCI_MANIFEST, blobs)


def push_chunked(api: Api, repo: str, data: bytes) -> None:
    """Two PATCHes and a PUT, so that a kill can land between the steps of one upload."""
    location = api.start_upload(repo).headers["Location"]
    half = len(data) // 2
    for start, chunk in ((0, data[:half]), (half, data[half:])):
        resp = api.put_chunk(location, chunk, start)
        assert resp.status_code == 202, resp.text
        location = resp.headers["Location"]
    resp = api.finish_upload(location, digest_of(data))
    assert resp.status_code == 201, resp.text


def pull_back(api: Api, repo: str, reference: str, image: Image) -> None:
    got = api.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.content == image.manifest, (repo, reference, got.status_code)
    for digest, data in image.blobs.items():
        blob = api.get(f"/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200 and blob.content == data, (repo, digest, blob.status_code)


def test_sixteen_clients_push_overlapping_images_at_once(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard")
    shared = [os.urandom(300_000) for _ in range(3)]
    images = [make_image([shared[i % 3], shared[(i + 1) % 3], os.urandom(50_000)], f"client {i}")
              for i in range(CLIENTS)]  # fmt: skip
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        api = Api(server.url)
        image = images[index]
        repo = ("shared/app", "other/app")[index % 2]
        barrier.wait()
        for data in image.blobs.values():
            push_chunked(api, repo, data)
        for reference in (f"client-{index}", "latest", image.digest):
            resp = api.put_manifest(repo, reference, image.manifest, OCI_MANIFEST)
            assert resp.status_code == 201, resp.text

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client, index) for index in range(CLIENTS)]:
            future.result()

    api = Api(server.url)
    for index, image in enumerate(images):
        pull_back(api, ("shared/app", "other/app")[index % 2], f"client-{index}", image)
    tree = read_tree(server.v2)
    for index, repo in enumerate(("shared/app", "other/app")):
        pushed_here = {image.digest for i, image in enumerate(images) if i % 2 == index}
        assert tree.repositories[repo].tags["latest"] in pushed_here
        assert tree.repositories[repo].tag_index["latest"] == pushed_here
        assert tree.repositories[repo].revisions == pushed_here


@dataclass
class Pushed:
    repo: str
    tag: str
    image: Image


def test_pushes_survive_sigkill_at_random_moments(registry_factory: RegistryFactory) -> None:
    server = registry_factory("dockyard")
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    shared = [os.urandom(200_000) for _ in range(2)]
    pushed: list[Pushed] = []
    lock = threading.Lock()
    attempts = 0

    def pusher(worker: int, round_: int, stop: threading.Event) -> None:
        nonlocal attempts
        api = Api(server.url, timeout=10)
        serial = 0
        while not stop.is_set():
            serial += 1
            tag = f"r{round_}-w{worker}-{serial}"
            image = make_image([shared[worker % 2], os.urandom(rng.randrange(1_000, 400_000))], tag)
            repo = f"crash/w{worker % 3}"
            with lock:
                attempts += 1
            try:
                for data in image.blobs.values():
                    push_chunked(api, repo, data)
                resp = api.put_manifest(repo, tag, image.manifest, OCI_MANIFEST)
            except (requests.RequestException, AssertionError):
                continue  # the server went away under this push: nothing was reported pushed
            if resp.status_code == 201:
                with lock:
                    pushed.append(Pushed(repo, tag, image))

    kills = 0
    for round_ in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=pusher, args=(w, round_, stop)) for w in range(4)]
        for thread in threads:
            thread.start()
        threading.Event().wait(rng.uniform(0.3, 2.0))
        server.kill()
        kills += 1
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        server.start()

    api = Api(server.url)
    for item in pushed:
        pull_back(api, item.repo, item.tag, item.image)
    tree = read_tree(server.v2, crash_leftovers=True)
    reported = {(item.repo, item.tag) for item in pushed}
    for item in pushed:
        assert tree.repositories[item.repo].tags[item.tag] == item.image.digest
    half_written = {(repo.name, tag) for repo in tree.repositories.values() for tag in repo.half_written_tags}
    assert not half_written & reported, "a push reported done left its tag half-written"
    for repo, tag in half_written:  # a push the kill interrupted between its two tag links: not served
        resp = api.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        assert resp.status_code == 404 and resp.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    for digest in tree.empty_blob_dirs:  # a blob whose move was interrupted: unknown, not served broken
        resp = api.get(f"/v2/crash/w0/blobs/{digest}")
        assert resp.status_code == 404 and resp.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    print(f"\ncrash safety: {kills} SIGKILLs, {attempts} pushes tried, {len(pushed)} reported pushed, all "
          f"pulled back byte-identical; leftovers: {len(half_written)} half-written tags, "
          f"{len(tree.empty_blob_dirs)} empty blob folders")  # fmt: skip
    assert pushed, "no push completed between the kills: nothing was tested"
