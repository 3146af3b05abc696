"""``dockyard ls``, ``du``, ``tree`` and the shared CONFIG / --root handling, on a tree written in process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.grammar import Digest
from dockyard.registry.service import Registry, RegistryOptions
from dockyard.storage.drivers.filesystem import FilesystemDriver
from tests.api._http import Image, image_config, oci_image, oci_index, tar_gz_layer
from tests.support.inprocess import push


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, timeout=120
    )


def as_json(*args: str) -> Any:
    run = dockyard(*args, "--json")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no progress drawn when stderr is not a terminal
    return json.loads(run.stdout)


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        shared = tar_gz_layer("shared.txt")
        self.app = oci_image(layer_blobs=[shared, tar_gz_layer("app.txt")])
        self.other = oci_image(layer_blobs=[shared])
        self.arm = oci_image(config=image_config(architecture="arm64", variant="v8"))
        self.index = oci_index([oci_image(), self.arm])
        self.deleted = oci_image()

    def size(self, image: Image) -> int:
        total = len(image.manifest) + sum(len(data) for data in image.blobs.values())
        return total + sum(self.size(child) for child in image.children)

    async def build(self) -> None:
        registry = Registry(FilesystemDriver(self.root), RegistryOptions(secret="s", delete_enabled=True))
        await push(registry, "team/app", self.app, "v1")
        await push(registry, "other", self.other, "latest")
        await push(registry, "multi", self.index, "latest")
        digest = await push(registry, "other", self.deleted, "gone")
        await registry.manifests.delete("other", digest)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    built = Tree(tmp_path / "root")
    asyncio.run(built.build())
    return built


def test_ls_lists_tags_digests_platforms_and_sizes(tree: Tree) -> None:
    listing = {repo["name"]: repo for repo in as_json("ls", "--root", str(tree.root))["repositories"]}
    assert sorted(listing) == ["multi", "other", "team/app"]
    (app,) = listing["team/app"]["tags"]
    assert (app["tag"], app["digest"], app["platforms"], app["size"]) == (
        "v1", tree.app.digest, ["linux/amd64"], tree.size(tree.app),
    )  # fmt: skip
    (multi,) = listing["multi"]["tags"]
    assert multi["platforms"] == ["linux/amd64", "linux/arm64"]  # as the index names them
    assert multi["size"] == tree.size(tree.index)
    assert listing["multi"]["untagged"] == []  # the index's children are not "untagged" images
    human = dockyard("ls", "--root", str(tree.root)).stdout
    assert "  v1 " in human and tree.app.digest in human and "linux/amd64, linux/arm64" in human


def test_du_splits_unique_and_shared_bytes_and_knows_what_gc_frees(tree: Tree, tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump({"version": 0.1, "storage": {"filesystem": {"rootdirectory": str(tree.root)}}})
    )
    usage = as_json("du", str(config))
    rows = {row["name"]: row for row in usage["repositories"]}
    shared = len(next(data for data in tree.other.blobs.values() if data in tree.app.blobs.values()))
    assert rows["team/app"]["shared_bytes"] == shared == rows["other"]["shared_bytes"]
    assert rows["team/app"]["unique_bytes"] == tree.size(tree.app) - shared
    assert rows["multi"]["unique_bytes"] == tree.size(tree.index)
    assert usage["gc_frees_bytes"] == tree.size(tree.deleted)
    assert usage["gc_frees_blobs"] == 3
    total = sum(tree.size(image) for image in (tree.app, tree.other, tree.index, tree.deleted)) - shared
    assert usage["total_bytes"] == total
    human = dockyard("du", str(config)).stdout
    assert "team/app" in human and "garbage-collect would free" in human


def test_tree_draws_the_seed_view_with_annotations(tree: Tree) -> None:
    run = dockyard("tree", "--root", str(tree.root))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"{tree.root}/docker/registry/v2/"
    v2 = tree.root / "docker/registry/v2"
    directories = sum(1 for path in v2.rglob("*") if path.is_dir())
    files = sum(1 for path in v2.rglob("*") if path.is_file())
    assert lines[-1] == f"{directories} directories, {files} files"
    text = run.stdout
    assert f"[team/app:v1 → {tree.app.digest} · linux/amd64]" in text
    arm = Digest.parse(tree.arm.digest)
    assert f"[manifest multi@{arm}" in text and "linux/arm64/v8" in text
    assert "[unreferenced" in text  # the deleted image's blobs, until garbage-collect runs
    entries = as_json("tree", "--root", str(tree.root))["entries"]
    assert len(entries) == directories + files
    notes = {entry["path"]: entry["note"] for entry in entries}
    shared_layer = next(d for d in tree.other.blobs if d in tree.app.blobs).split(":")[1]
    note = notes[f"blobs/sha256/{shared_layer[:2]}/{shared_layer}/data"]
    assert note.startswith("layer · other:latest, team/app:v1 · linux/amd64 · ")


def test_tools_need_a_config_or_a_root(tmp_path: Path) -> None:
    for command in ("ls", "du", "tree", "fsck", "garbage-collect"):
        run = dockyard(command)
        assert run.returncode == 2 and "CONFIG" in run.stderr, command
    memory = tmp_path / "memory.yml"
    memory.write_text("version: 0.1\nstorage: {inmemory: {}}\n")
    run = dockyard("ls", str(memory))
    assert run.returncode == 2 and "inmemory" in run.stderr


def test_progress_is_drawn_only_on_a_terminal(tree: Tree) -> None:
    command = f"{sys.executable} -m dockyard ls --root {tree.root} --json"
    script = ["script", "-qec", command, "/dev/null"]  # util-linux: the command on a pseudo-terminal
    on_tty = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert on_tty.returncode == 0
    assert "\x1b[Kreading: 1 " in on_tty.stdout  # script merges the terminal's stdout and stderr
    assert "\x1b[K" not in dockyard("ls", "--root", str(tree.root)).stderr
