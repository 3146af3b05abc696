"""What the storage holds, for people: ``dockyard ls``, ``du`` and ``tree``.

One read of every repository's tags and manifest revisions (and of the configs, for platforms) gives an
:class:`Inventory`; the three views are computed from it. Sizes are the stored blobs' sizes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.grammar import Digest
from dockyard.registry.errors import RegistryError
from dockyard.registry.gc import would_free
from dockyard.registry.manifest_format import INDEX_TYPES, StoredReferences, stored_references
from dockyard.storage import concurrent
from dockyard.storage.layout import RepositoryScan, StorageLayout, StoredBlob, classify


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass
class ManifestInfo:
    digest: Digest
    media_type: str
    platforms: list[str]
    blobs: set[Digest]  # everything pulling it fetches: itself, children, configs, layers
    roles: dict[Digest, str]  # blob -> "manifest", "index", "config" or "layer"
    tags: list[str] = field(default_factory=list)

    def name_in(self, repository: str) -> str:
        return ", ".join(f"{repository}:{tag}" for tag in self.tags) or f"{repository}@{self.digest}"


@dataclass
class RepositoryInfo:
    name: str
    manifests: dict[Digest, ManifestInfo] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)

    @property
    def blobs(self) -> set[Digest]:
        return {blob for manifest in self.manifests.values() for blob in manifest.blobs}


@dataclass
class Inventory:
    repositories: list[RepositoryInfo]
    sizes: dict[Digest, int]  # every stored blob
    scans: list[RepositoryScan]  # what was read, for garbage collection's mark
    blobs: dict[Digest, StoredBlob]

    def size_of(self, blobs: set[Digest]) -> int:
        return sum(self.sizes.get(blob, 0) for blob in blobs)


class _Reader:
    def __init__(self, layout: StorageLayout) -> None:
        self._layout = layout
        self._documents: dict[Digest, StoredReferences | None] = {}
        self._platforms: dict[Digest, str] = {}

    async def document(self, digest: Digest) -> StoredReferences | None:
        if digest not in self._documents:
            try:
                self._documents[digest] = stored_references(await self._layout.read_blob(digest))
            except (RegistryError, OSError, LookupError):
                self._documents[digest] = None
        return self._documents[digest]

    async def prefetch(self, manifests: list[Digest]) -> None:
        """Read the manifests, then the configs they name, many at a time (concurrently on S3)."""
        await concurrent.each(manifests, self.document)
        configs = [
            document.references[0]
            for document in (self._documents.get(digest) for digest in manifests)
            if document is not None and document.media_type not in INDEX_TYPES and document.references
        ]
        await concurrent.each(configs, self.platform)

    async def platform(self, config: Digest) -> str:
        if config not in self._platforms:
            try:
                document = json.loads(await self._layout.read_blob(config))
                parts = [document.get("os"), document.get("architecture"), document.get("variant")]
                self._platforms[config] = "/".join(str(part) for part in parts if part)
            except (ValueError, OSError, LookupError, AttributeError):
                self._platforms[config] = ""
        return self._platforms[config]

    async def manifest(self, digest: Digest, revisions: set[Digest], depth: int = 0) -> ManifestInfo:
        document = await self.document(digest)
        if document is None:
            return ManifestInfo(digest, "unreadable", [], {digest}, {digest: "manifest"})
        is_index = document.media_type in INDEX_TYPES
        info = ManifestInfo(
            digest, document.media_type, [], {digest}, {digest: "index" if is_index else "manifest"}
        )
        if is_index:
            named = dict(document.platforms)
            for child in document.children:
                if child in revisions and depth < 8:
                    below = await self.manifest(child, revisions, depth + 1)
                    info.blobs |= below.blobs
                    info.roles = {**below.roles, **info.roles}
                    info.platforms += [named[child]] if named.get(child) else below.platforms
        else:
            info.blobs.update(document.references)
            for index, reference in enumerate(document.references):
                info.roles.setdefault(reference, "config" if index == 0 else "layer")
            if document.references:
                platform = await self.platform(document.references[0])
                info.platforms = [platform] if platform else []
        return info


async def load(layout: StorageLayout, progress: Callable[[str], None] = lambda label: None) -> Inventory:
    """One read of the storage: every repository scanned once, links, manifests and configs read many at
    a time; the scans and blobs are kept for ``usage`` (what garbage collection would free)."""
    reader = _Reader(layout)
    names = [name async for name in layout.repositories()]
    blobs, scans = await asyncio.gather(_stored_blobs(layout), concurrent.each(names, layout.scan_repository))
    await concurrent.each(scans, layout.scan_tags)
    repositories = []
    for scan in scans:
        progress(scan.name)
        repository = RepositoryInfo(scan.name)
        links = await layout.read_links(scan.revisions)
        revisions = {link.digest for link in links if link.digest is not None}
        for tag, link in zip(scan.tags, await layout.read_links(list(scan.tags.values())), strict=True):
            if link.digest is not None:
                repository.tags[tag] = link.digest
        await reader.prefetch(sorted(revisions, key=str))
        for digest in sorted(revisions, key=str):
            repository.manifests[digest] = await reader.manifest(digest, revisions)
        for tag, digest in repository.tags.items():
            if digest in repository.manifests:
                repository.manifests[digest].tags.append(tag)
        repositories.append(repository)
    sizes = {digest: blob.size for digest, blob in blobs.items()}
    return Inventory(repositories, sizes, scans, blobs)


async def _stored_blobs(layout: StorageLayout) -> dict[Digest, StoredBlob]:
    return {blob.digest: blob async for blob in layout.stored_blobs()}


# -- ls -------------------------------------------------------------------------------------------


def listing(inventory: Inventory) -> list[dict[str, Any]]:
    """Repositories with their tags (digest, type, platforms, size) and untagged manifests."""
    found = []
    for repository in inventory.repositories:
        tags = []
        for tag, digest in sorted(repository.tags.items()):
            manifest = repository.manifests.get(digest)
            tags.append(
                {
                    "tag": tag,
                    "digest": str(digest),
                    "media_type": manifest.media_type if manifest else None,
                    "platforms": manifest.platforms if manifest else [],
                    "size": inventory.size_of(manifest.blobs) if manifest else None,
                }
            )
        children = {
            child
            for manifest in repository.manifests.values()
            if manifest.media_type in INDEX_TYPES
            for child in manifest.blobs
            if child != manifest.digest and child in repository.manifests
        }
        untagged = [
            {"digest": str(digest), "media_type": manifest.media_type, "platforms": manifest.platforms,
             "size": inventory.size_of(manifest.blobs)}
            for digest, manifest in repository.manifests.items()
            if not manifest.tags and digest not in children
        ]  # fmt: skip
        found.append({"name": repository.name, "tags": tags, "untagged": untagged})
    return found


# -- du -------------------------------------------------------------------------------------------


async def usage(layout: StorageLayout, inventory: Inventory) -> dict[str, Any]:
    """Per repository the bytes only it uses (freed if it were deleted) and the bytes it shares; the
    total on disk; what garbage collection would free, plain and with ``--delete-untagged``."""
    users: dict[Digest, int] = {}
    for repository in inventory.repositories:
        for blob in repository.blobs:
            users[blob] = users.get(blob, 0) + 1
    rows = []
    for repository in inventory.repositories:
        blobs = repository.blobs
        unique = {blob for blob in blobs if users[blob] == 1}
        rows.append(
            {
                "name": repository.name,
                "unique_bytes": inventory.size_of(unique),
                "shared_bytes": inventory.size_of(blobs - unique),
                "blobs": len(blobs & inventory.sizes.keys()),
            }
        )
    collectable = [name async for name in layout.collectable_repositories()]
    plain, untagged = await would_free(layout, inventory.scans, collectable, inventory.blobs)
    return {
        "repositories": rows,
        "total_bytes": sum(inventory.sizes.values()),
        "total_blobs": len(inventory.sizes),
        "gc_frees_bytes": plain.freed_bytes,
        "gc_frees_blobs": len(plain.blobs),
        "gc_delete_untagged_frees_bytes": untagged.freed_bytes,
        "gc_delete_untagged_frees_blobs": len(untagged.blobs),
    }


# -- tree -----------------------------------------------------------------------------------------


def _uses(inventory: Inventory) -> dict[Digest, tuple[set[str], set[str], set[str]]]:
    """blob -> (roles, images using it, platforms)."""
    uses: dict[Digest, tuple[set[str], set[str], set[str]]] = {}
    for repository in inventory.repositories:
        for manifest in repository.manifests.values():
            image = manifest.name_in(repository.name)
            for blob, role in manifest.roles.items():
                roles, images, platforms = uses.setdefault(blob, (set(), set(), set()))
                roles.add(role)
                images.add(image)
                is_index = manifest.media_type in INDEX_TYPES
                if blob == manifest.digest or not is_index:  # an index's children speak for themselves
                    platforms.update(manifest.platforms)
    return uses


def _describe(uses: tuple[set[str], set[str], set[str]] | None, size: int | None) -> str:
    if uses is None:
        words = ["unreferenced"]
    else:
        roles, images, platforms = uses
        words = ["/".join(sorted(roles)), ", ".join(sorted(images)[:3]) + (" …" if len(images) > 3 else "")]
        if platforms:
            words.append(", ".join(sorted(platforms)))
    if size is not None:
        words.append(human(size))
    return " · ".join(word for word in words if word)


async def tree(layout: StorageLayout, inventory: Inventory) -> list[dict[str, Any]]:
    """Every path under ``docker/registry/v2``; each ``data`` and ``link`` file (and each upload) with
    what it belongs to: repository, tag, manifest, platform, size."""
    uses = _uses(inventory)
    manifests = {
        (repository.name, digest): manifest
        for repository in inventory.repositories
        for digest, manifest in repository.manifests.items()
    }
    entries = []
    async for relative, info in layout.tree():
        role = classify(info.path)
        leaf = relative.rsplit("/", 1)[-1]
        note = ""
        if role is not None and role.kind == "upload" and relative.split("/")[-2] == "_uploads":
            note = "upload in progress"
        elif role is not None and role.digest is not None and leaf in ("data", "link"):
            if role.kind in ("blob", "layer-link"):
                note = _describe(uses.get(role.digest), inventory.sizes.get(role.digest))
            elif role.kind in ("revision", "referrer"):
                manifest = manifests.get((role.repository or "", role.digest))
                note = _manifest_note(role.repository or "", manifest) if manifest else "manifest missing"
        elif role is not None and role.kind == "tag" and leaf == "link" and role.repository is not None:
            target = next(
                (
                    repo.tags.get(role.tag or "")
                    for repo in inventory.repositories
                    if repo.name == role.repository
                ),
                None,
            )
            manifest = manifests.get((role.repository, target)) if target else None
            if relative.endswith("/current/link"):
                note = f"{role.repository}:{role.tag} → {target}" if target else "empty or invalid link"
                if manifest and manifest.platforms:
                    note += " · " + ", ".join(manifest.platforms)
            else:
                note = "tag history"
        entries.append(
            {"path": relative, "dir": info.is_dir, "size": None if info.is_dir else info.size, "note": note}
        )
    return entries


def _manifest_note(repository: str, manifest: ManifestInfo) -> str:
    kind = "index" if manifest.media_type in INDEX_TYPES else "manifest"
    note = f"{kind} {manifest.name_in(repository)}"
    if manifest.platforms:
        note += " · " + ", ".join(manifest.platforms)
    return note


def render_tree(entries: list[dict[str, Any]], root: str) -> list[str]:
    """The entries as ``tree`` draws them, annotations in brackets, then the ``tree`` totals line."""
    lines = [root]
    children: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        parent = entry["path"].rsplit("/", 1)[0] if "/" in entry["path"] else ""
        children.setdefault(parent, []).append(entry)

    def draw(parent: str, indent: str) -> None:
        items = children.get(parent, [])
        for index, entry in enumerate(items):
            last = index == len(items) - 1
            name = entry["path"].rsplit("/", 1)[-1]
            note = f"   [{entry['note']}]" if entry["note"] else ""
            lines.append(f"{indent}{'└── ' if last else '├── '}{name}{note}")
            if entry["dir"]:
                draw(entry["path"], indent + ("    " if last else "│   "))

    draw("", "")
    directories = sum(1 for entry in entries if entry["dir"])
    lines.append("")
    lines.append(f"{directories} directories, {len(entries) - directories} files")
    return lines
