"""Garbage collection in process on a filesystem root (HTTP and the reference side by side: tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.grammar import Digest
from dockyard.registry.gc import GarbageCollector, GcError, GcOptions, would_free
from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.filesystem import FilesystemDriver
from tests.api._http import artifact, oci_image, oci_index
from tests.support.inprocess import HOUR, age_everything, blob_exists, push, v2


async def test_deleted_manifest_goes_with_its_own_blobs_and_the_summary_says_so(
    registry: Registry, tmp_path: Path
) -> None:
    kept, gone = oci_image(), oci_image()
    await push(registry, "app", kept, "v1")
    digest = await push(registry, "app", gone, "v2")
    await registry.manifests.delete("app", digest)
    lines: list[str] = []
    result = await GarbageCollector(registry.layout, GcOptions(), lines.append).run()
    assert lines[0] == "app"
    assert f"app: marking manifest {kept.digest} " in lines
    assert result.summary == "3 blobs marked, 3 blobs and 0 manifests eligible for deletion"
    assert "\n" + result.summary in lines
    assert {str(blob.digest) for blob in result.blobs} == {gone.digest, *gone.blobs}
    assert not any(blob_exists(tmp_path, d) for d in (gone.digest, *gone.blobs))
    assert all(blob_exists(tmp_path, d) for d in (kept.digest, *kept.blobs))
    assert result.as_json()["bytes_eligible"] == len(gone.manifest) + sum(map(len, gone.blobs.values()))


async def test_dry_run_deletes_nothing(registry: Registry, tmp_path: Path) -> None:
    digest = await push(registry, "app", oci_image(), "v1")
    await registry.manifests.delete("app", digest)
    before = sorted(p for p in tmp_path.rglob("*") if "dockyard" not in p.parts)
    result = await GarbageCollector(registry.layout, GcOptions(dry_run=True, delete_untagged=True)).run()
    assert len(result.blobs) == 3
    assert sorted(p for p in tmp_path.rglob("*") if "dockyard" not in p.parts) == before


async def test_delete_untagged_keeps_children_of_a_tagged_index_and_drops_untagged(
    registry: Registry, tmp_path: Path
) -> None:
    children = [oci_image(), oci_image()]
    index = oci_index(children)
    await push(registry, "multi", index, "latest")
    untagged = await push(registry, "multi", oci_image(), "old")
    await registry.manifests.delete("multi", "old")  # delete by tag: the revision stays, untagged
    result = await GarbageCollector(registry.layout, GcOptions(delete_untagged=True)).run()
    assert [(item.repository, item.digest) for item in result.manifests] == [("multi", untagged)]
    revisions = v2(tmp_path) / "repositories/multi/_manifests/revisions/sha256"
    assert not (revisions / untagged.hex).exists()  # the whole folder, as the reference
    for child in children:
        assert (revisions / child.digest.split(":")[1] / "link").exists()
        assert all(blob_exists(tmp_path, d) for d in child.blobs)


async def test_referrers_live_with_their_subject(registry: Registry, tmp_path: Path) -> None:
    subject, doomed = oci_image(), oci_image()
    await push(registry, "app", subject, "v1")
    kept = await push(registry, "app", artifact(subject=subject))
    await push(registry, "app", doomed, "v2")
    dropped = await push(registry, "app", artifact(subject=doomed))
    await registry.manifests.delete("app", Digest.parse(doomed.digest))
    result = await GarbageCollector(registry.layout, GcOptions()).run()
    assert [item.digest for item in result.manifests] == [dropped]
    assert [(item.subject, item.referrer) for item in result.referrers] == [
        (Digest.parse(doomed.digest), dropped)
    ]
    index = v2(tmp_path) / "repositories/app/_referrers/sha256"
    assert sorted(path.name for path in index.iterdir()) == [subject.digest.split(":")[1]]
    assert [
        entry.digest for entry, _ in await registry.manifests.referrers("app", Digest.parse(subject.digest))
    ] == [kept]
    # with --delete-untagged too: the referrer of the tagged subject stays
    result = await GarbageCollector(registry.layout, GcOptions(delete_untagged=True)).run()
    assert result.manifests == []


async def test_an_unreadable_manifest_stops_the_mark_before_any_deletion(
    registry: Registry, tmp_path: Path
) -> None:
    garbage = await push(registry, "app", oci_image(), "v1")
    await registry.manifests.delete("app", garbage)
    digest = await push(registry, "app", oci_image(), "v2")
    data = v2(tmp_path) / "blobs/sha256" / digest.hex[:2] / digest.hex / "data"
    data.write_bytes(b"not json")
    with pytest.raises(GcError, match=str(digest)):
        await GarbageCollector(registry.layout, GcOptions()).run()
    assert blob_exists(tmp_path, garbage)


async def test_grace_period_spares_young_blobs_and_manifests(registry: Registry, tmp_path: Path) -> None:
    old = await push(registry, "app", oci_image(), "old")
    await registry.manifests.delete("app", old)
    age_everything(tmp_path)
    young_image = oci_image()
    young = await push(registry, "app", young_image)  # pushed by digest, not tagged yet
    orphan = Digest.of(b"an upload just finished")
    await registry.layout.put_blob(orphan, b"an upload just finished")
    options = GcOptions(delete_untagged=True, grace_seconds=HOUR)
    result = await GarbageCollector(registry.layout, options).run()
    assert str(old) in {str(blob.digest) for blob in result.blobs}
    assert blob_exists(tmp_path, orphan) and blob_exists(tmp_path, young)
    assert str(orphan) in {str(blob.digest) for blob in result.spared}
    assert result.manifests == []
    # without the grace period (nobody serves) the young garbage goes at once, as with the reference
    result = await GarbageCollector(registry.layout, GcOptions(delete_untagged=True)).run()
    assert not blob_exists(tmp_path, orphan) and not blob_exists(tmp_path, young)


async def test_a_blob_handed_to_a_client_is_young_again(tmp_path: Path) -> None:
    registry = Registry(FilesystemDriver(tmp_path), RegistryOptions(secret="s", gc_grace_seconds=HOUR))
    image = oci_image()
    digest = await push(registry, "app", image, "v1")
    await registry.layout.delete_tag("app", "v1")
    await registry.layout.unlink_revision("app", digest)
    age_everything(tmp_path)
    layer = next(Digest.parse(d) for d in image.blobs)
    await registry.blobs.stat("app", layer)  # a client asks before naming it in its next manifest
    result = await GarbageCollector(registry.layout, GcOptions(grace_seconds=HOUR)).run()
    assert blob_exists(tmp_path, layer)
    assert layer in {blob.digest for blob in result.spared}


async def test_would_free_reads_each_manifest_once_for_both_collections(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagged, untagged = oci_image(), oci_image()
    await push(registry, "app", tagged, "v1")
    await push(registry, "app", untagged, "old")
    await registry.layout.delete_tag("app", "old")
    layout = registry.layout
    stored = {blob.digest: blob async for blob in layout.stored_blobs()}
    names = [name async for name in layout.collectable_repositories()]
    scans = [await layout.scan_repository(name) for name in names]
    reads: list[Digest] = []
    blob_bytes = layout.blob_bytes

    async def counted(digest: Digest) -> bytes | None:
        reads.append(digest)
        return await blob_bytes(digest)

    monkeypatch.setattr(layout, "blob_bytes", counted)
    plain, delete_untagged = await would_free(layout, scans, names, stored)
    assert sorted(map(str, reads)) == sorted([tagged.digest, untagged.digest])
    assert plain.blobs == []
    assert {str(blob.digest) for blob in delete_untagged.blobs} == {untagged.digest, *untagged.blobs}
    for options, result in ((GcOptions(dry_run=True), plain),
                            (GcOptions(dry_run=True, delete_untagged=True), delete_untagged)):  # fmt: skip
        dry_run = await GarbageCollector(layout, options).run()
        assert (result.marked, result.manifests) == (dry_run.marked, dry_run.manifests)
        assert result.blobs == dry_run.blobs
