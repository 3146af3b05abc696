"""fsck in process: what each kind of damage is reported as, and what --repair does about it."""

from __future__ import annotations

from pathlib import Path

from dockyard.grammar import Digest
from dockyard.registry.fsck import FsckReport, fsck
from dockyard.registry.service import Registry
from tests.api._http import oci_image, oci_index
from tests.support.inprocess import push, v2

WEEK = 7 * 24 * 3600.0


def kinds(report: FsckReport) -> list[str]:
    """What is broken (orphan blobs aside: garbage collection's business)."""
    return sorted(problem.kind for problem in report.broken)


async def test_a_healthy_tree_has_no_problems(registry: Registry) -> None:
    await push(registry, "multi", oci_index([oci_image(), oci_image()]), "latest")
    report = await fsck(registry.layout, WEEK)
    assert report.problems == [] and report.blobs_checked == 7 and report.manifests_checked == 3


async def test_an_index_whose_child_is_broken_is_broken_too(registry: Registry, tmp_path: Path) -> None:
    child = oci_image()
    index = oci_index([child, oci_image()])
    await push(registry, "multi", index, "latest")
    config = Digest.parse(next(iter(child.blobs)))
    (v2(tmp_path) / "blobs/sha256" / config.hex[:2] / config.hex / "data").unlink()
    report = await fsck(registry.layout, WEEK, repair=True)
    assert kinds(report) == ["broken-manifest", "broken-manifest", "dangling-tag"]
    revisions = v2(tmp_path) / "repositories/multi/_manifests/revisions/sha256"
    assert not (revisions / child.digest.split(":")[1] / "link").exists()
    assert not (revisions / index.digest.split(":")[1] / "link").exists()
    assert not (v2(tmp_path) / "repositories/multi/_manifests/tags/latest").exists()
    quarantined = [p for p in (tmp_path / "dockyard-quarantine").rglob("link")]
    assert len(quarantined) == 4  # two revision links, the tag's current and index links
    again = await fsck(registry.layout, WEEK)
    assert again.broken == [] and {problem.kind for problem in again.problems} == {"orphan-blob"}


async def test_a_blob_the_repository_does_not_link_is_linked(registry: Registry, tmp_path: Path) -> None:
    image = oci_image()
    await push(registry, "app", image, "v1")
    layer = image.doc["layers"][0]["digest"].split(":")[1]
    link = v2(tmp_path) / "repositories/app/_layers/sha256" / layer / "link"
    link.unlink()
    assert kinds(await fsck(registry.layout, WEEK)) == ["unlinked-blob"]
    assert kinds(await fsck(registry.layout, WEEK, repair=True)) == ["unlinked-blob"]
    assert link.read_text() == f"sha256:{layer}"
    assert (
        await fsck(registry.layout, WEEK) is not None and (await fsck(registry.layout, WEEK)).problems == []
    )


async def test_a_link_naming_another_digest_is_invalid(registry: Registry, tmp_path: Path) -> None:
    image, other = oci_image(), oci_image()
    await push(registry, "app", image, "v1")
    await push(registry, "app", other, "v2")
    link = v2(tmp_path) / "repositories/app/_manifests/revisions/sha256" / image.digest.split(":")[1] / "link"
    link.write_text(other.digest)
    report = await fsck(registry.layout, WEEK, repair=True)
    assert kinds(report) == ["invalid-link"]
    assert link.read_text() == image.digest  # written again: the manifest it stands for is healthy
