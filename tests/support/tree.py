"""Read and check a registry storage tree (``<root>/docker/registry/v2``, the seed's layout)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

DIGEST = re.compile(rb"sha256:[0-9a-f]{64}")
HEX = re.compile(r"[0-9a-f]{64}")


def file_hashes(v2: Path, *, include_uploads: bool = False) -> dict[str, str]:
    """Every file under ``v2`` as relative path -> sha256 of its bytes (``_uploads`` left out by default:
    upload scratch state is per implementation)."""
    out: dict[str, str] = {}
    for path in sorted(v2.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(v2).as_posix()
        if not include_uploads and "/_uploads/" in f"/{rel}":
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        out[rel] = digest.hexdigest()
    return out


def read_link(path: Path) -> str:
    """A link file's digest; asserts it holds exactly ``sha256:<64 hex>`` (no newline, nothing else)."""
    data = path.read_bytes()
    assert DIGEST.fullmatch(data), f"{path} holds {data!r}, not a bare sha256:<hex> digest"
    return data.decode()


@dataclass
class Repository:
    name: str
    layers: set[str] = field(default_factory=set)
    revisions: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> current digest
    tag_index: dict[str, set[str]] = field(default_factory=dict)  # tag -> digests in tags/<tag>/index
    half_written_tags: set[str] = field(default_factory=set)  # index link written, current/link not yet
    has_uploads_dir: bool = False


@dataclass
class Tree:
    blobs: set[str] = field(default_factory=set)
    empty_blob_dirs: set[str] = field(default_factory=set)  # a blob folder made, its data not moved in yet
    repositories: dict[str, Repository] = field(default_factory=dict)


def link_dirs(base: Path) -> dict[str, Path]:
    """``base/sha256/<hex>/link`` entries as digest -> link path. A ``<hex>`` directory without a link is
    skipped: the reference deletes a manifest by removing its revision's link file only."""
    out: dict[str, Path] = {}
    algorithm_dir = base / "sha256"
    if not algorithm_dir.is_dir():
        return out
    for entry in sorted(algorithm_dir.iterdir()):
        assert HEX.fullmatch(entry.name), f"unexpected entry {entry}"
        if (entry / "link").exists():
            out[f"sha256:{entry.name}"] = entry / "link"
    return out


def read_tree(v2: Path, *, dangling_layer_links: bool = False, crash_leftovers: bool = False) -> Tree:
    """Parse a storage tree, checking as it goes that:

    * every blob is ``blobs/sha256/<2 hex>/<64 hex>/data`` and its bytes hash to its path;
    * every link file holds the bare digest of the directory it is in (``_layers``, revisions, tag index),
      and every digest a link names has its data in ``blobs``;
    * each tag's ``current/link`` names a revision of the repository that is also in the tag's index.

    ``dangling_layer_links`` allows ``_layers`` links to blobs that are gone, as the reference's
    garbage-collect leaves them. ``crash_leftovers`` allows what a crash between two steps leaves, as
    with the reference: a blob folder without ``data`` (made, its data not yet moved in, or only an atomic
    write's ``.tmp-*`` file; in ``Tree.empty_blob_dirs``)
    and a tag folder whose index link was written but not yet its ``current/link``
    (in ``Repository.half_written_tags``).
    """
    tree = Tree()
    blobs_dir = v2 / "blobs" / "sha256"
    assert blobs_dir.is_dir(), f"no {blobs_dir}"
    for prefix in sorted(blobs_dir.iterdir()):
        assert re.fullmatch(r"[0-9a-f]{2}", prefix.name), f"unexpected {prefix}"
        for blob in sorted(prefix.iterdir()):
            assert HEX.fullmatch(blob.name) and blob.name[:2] == prefix.name, f"unexpected {blob}"
            entries = sorted(p.name for p in blob.iterdir())
            if crash_leftovers and all(name.startswith(".tmp-") for name in entries):
                tree.empty_blob_dirs.add(f"sha256:{blob.name}")  # made, or its data written aside but
                continue  # not yet renamed into place: no ``data``, nothing served
            assert entries == ["data"], f"{blob} holds {entries}, expected only data"
            digest = hashlib.sha256()
            with (blob / "data").open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            assert digest.hexdigest() == blob.name, f"{blob}/data hashes to {digest.hexdigest()}"
            tree.blobs.add(f"sha256:{blob.name}")

    repos_dir = v2 / "repositories"
    repo_dirs = {
        p.parent
        for p in repos_dir.rglob("*")
        if p.is_dir() and p.name in ("_layers", "_manifests", "_uploads")
    }
    for repo_dir in sorted(repo_dirs):
        manifests_dir = repo_dir / "_manifests"
        repo = Repository(repo_dir.relative_to(repos_dir).as_posix())
        repo.has_uploads_dir = (repo_dir / "_uploads").is_dir()
        for digest, link in link_dirs(repo_dir / "_layers").items():
            assert read_link(link) == digest, f"{link} does not name its own directory"
            repo.layers.add(digest)
        for digest, link in link_dirs(manifests_dir / "revisions").items():
            assert read_link(link) == digest, f"{link} does not name its own directory"
            repo.revisions.add(digest)
        tags_dir = manifests_dir / "tags"
        for tag_dir in sorted(tags_dir.iterdir()) if tags_dir.is_dir() else []:
            index = link_dirs(tag_dir / "index")
            if crash_leftovers and not (tag_dir / "current" / "link").exists():
                for digest, link in index.items():
                    assert read_link(link) == digest, f"{link} does not name its own directory"
                repo.half_written_tags.add(tag_dir.name)
                continue
            current = read_link(tag_dir / "current" / "link")
            for digest, link in index.items():
                assert read_link(link) == digest, f"{link} does not name its own directory"
            assert current in index, f"tag {tag_dir.name}: current {current} not in its index {set(index)}"
            assert current in repo.revisions, f"tag {tag_dir.name} -> {current}, not a revision"
            repo.tags[tag_dir.name] = current
            repo.tag_index[tag_dir.name] = set(index)
        for digest in repo.revisions if dangling_layer_links else repo.layers | repo.revisions:
            assert digest in tree.blobs, f"{repo.name} links {digest}, which has no blob data"
        tree.repositories[repo.name] = repo
    return tree
