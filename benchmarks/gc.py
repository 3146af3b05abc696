"""Garbage collection and ``du`` over a large tree, dockyard next to ``docker-registry garbage-collect``.

    .venv/bin/python benchmarks/gc.py                        # 500 repositories x 20 tags
    .venv/bin/python benchmarks/gc.py --repos 50 --tags 5    # a quick run

The tree is written through dockyard's StorageLayout (the reference's exact layout): every tag an OCI image
whose config and top layer are its own and whose base layer comes from a pool of 10 shared ones. In each
repository one manifest in ten is then deleted (revision link removed, as a DELETE does) and one in ten is
re-tagged away (left untagged). Each collection runs on a fresh copy of that tree; after the plain ones the
two trees are compared (they must be identical). One run of each, wall-clock time of the whole command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.grammar import Digest
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.layout import StorageLayout

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def build(root: Path, repos: int, tags: int) -> None:
    layout = StorageLayout(FilesystemDriver(root))
    pool = []
    for index in range(10):
        data = f"shared base layer {index}".encode() * 64
        digest = Digest.of(data)
        await layout.put_blob(digest, data)
        pool.append((digest, len(data)))
    for repo_index in range(repos):
        name = f"team{repo_index % 25}/app{repo_index}"
        for tag_index in range(tags):
            config = json.dumps(
                {"architecture": "amd64", "os": "linux", "n": [repo_index, tag_index]}
            ).encode()
            layer = f"layer {repo_index} {tag_index}".encode() * 16
            base, base_size = pool[(repo_index + tag_index) % len(pool)]
            blobs = [(Digest.of(config), config), (Digest.of(layer), layer)]
            for digest, data in blobs:
                await layout.put_blob(digest, data)
            for digest in (blobs[0][0], base, blobs[1][0]):
                await layout.link_layer(name, digest, digest)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": str(blobs[0][0]),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": str(base),
                            "size": base_size,
                        },
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": str(blobs[1][0]),
                            "size": len(layer),
                        },
                    ],
                }
            ).encode()
            digest = Digest.of(manifest)
            await layout.put_blob(digest, manifest)
            await layout.link_revision(name, digest)
            await layout.set_tag(name, f"v{tag_index}", digest)
            if tag_index % 10 == 3:  # deleted by digest: revision link and tag gone
                await layout.unlink_revision(name, digest)
                await layout.delete_tag(name, f"v{tag_index}")
            elif tag_index % 10 == 7:  # the tag moved on: an untagged revision
                await layout.delete_tag(name, f"v{tag_index}")


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return elapsed, run.stdout


def listing(root: Path) -> list[str]:
    v2 = root / "docker" / "registry" / "v2"
    return sorted(str(path.relative_to(v2)) for path in v2.rglob("*") if "_referrers" not in path.parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dockyard-gc-bench-"))
    tree = workdir / "tree"
    started = time.perf_counter()
    asyncio.run(build(tree, args.repos, args.tags))
    print(f"tree: {args.repos} repositories x {args.tags} tags, {len(listing(tree))} paths, "
          f"built in {time.perf_counter() - started:.1f}s")  # fmt: skip
    dockyard = [sys.executable, "-m", "dockyard"]
    figures: dict[str, float] = {}
    for flags in ([], ["--delete-untagged"]):
        roots = {}
        for kind in ("reference", "dockyard"):
            root = workdir / f"{kind}{'-untagged' if flags else ''}"
            shutil.copytree(tree, root, symlinks=True)
            roots[kind] = root
        config = workdir / "reference.yml"
        config.write_text(f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {roots['reference']}}}}}\n")
        label = "gc" + (" --delete-untagged" if flags else "")
        figures[f"{label} reference"], expected = timed(
            ["docker-registry", "garbage-collect", *flags, str(config)]
        )
        command = [*dockyard, "garbage-collect", "--root", str(roots["dockyard"]), *flags]
        figures[f"{label} dockyard"], actual = timed(command)
        summary = [line for line in expected.splitlines() if "blobs marked" in line]
        print(f"{label}: reference says {summary}, dockyard says "
              f"{[line for line in actual.splitlines() if 'blobs marked' in line]}")  # fmt: skip
        if not flags and listing(roots["reference"]) != listing(roots["dockyard"]):
            raise SystemExit("the plain collections left different trees")
    figures["du dockyard"], _ = timed([*dockyard, "du", "--root", str(tree)])
    for name, seconds in figures.items():
        print(f"{name:<36} {seconds:8.2f} s")
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
