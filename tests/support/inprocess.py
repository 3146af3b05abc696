"""Writing trees in process, through the registry layer itself (no server): for the storage tools' tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.grammar import Digest
from dockyard.registry.service import Registry
from tests.api._http import Image

HOUR = 3600.0


async def push(registry: Registry, repo: str, image: Image, tag: str | None = None) -> Digest:
    """Blobs (stored and linked), children, then the manifest at ``tag`` (by digest without one)."""
    for child in image.children:
        await push(registry, repo, child)
    for digest, data in image.blobs.items():
        parsed = Digest.parse(digest)
        await registry.layout.put_blob(parsed, data)
        await registry.layout.link_layer(repo, parsed, parsed)
    digest = Digest.parse(image.digest)
    await registry.manifests.put(repo, tag or digest, image.media_type, image.manifest)
    return digest


def age_everything(root: Path, seconds: float = 2 * HOUR) -> None:
    """Make every file and folder under ``root`` look ``seconds`` old."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        os.utime(path, (then, then))


def v2(root: Path) -> Path:
    return root / "docker" / "registry" / "v2"


def blob_exists(root: Path, digest: str | Digest) -> bool:
    text = str(digest).split(":")[1]
    return (v2(root) / "blobs" / "sha256" / text[:2] / text / "data").exists()
