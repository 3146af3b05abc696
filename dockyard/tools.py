"""The storage tools of the command line: ``garbage-collect``, ``fsck``, ``ls``, ``du`` and ``tree``.

Each takes the registry's CONFIG file or ``--root DIR`` (a filesystem root), prints for people or, with
``--json``, for programs, and shows progress on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from dockyard.config import ConfigError, Settings, load_settings
from dockyard.logs import configure_logging
from dockyard.registry import collector, inventory
from dockyard.registry.blob_cache import BlobDescriptorCache
from dockyard.registry.fsck import fsck
from dockyard.registry.gc import GcError, GcOptions
from dockyard.storage.drivers.base import StorageDriver
from dockyard.storage.layout import StorageLayout

DriverFactory = Callable[[Settings], StorageDriver]
CacheFactory = Callable[[Settings], BlobDescriptorCache | None]


@dataclass(frozen=True, slots=True)
class Storage:
    """What a tool works on: the storage, its configuration, and the blob-descriptor cache (if any)."""

    layout: StorageLayout
    settings: Settings
    cache: BlobDescriptorCache | None


Tool = Callable[[argparse.Namespace, Storage], Coroutine[Any, Any, int]]


class Progress:
    """A one-line counter on stderr, redrawn at most five times a second, only on a terminal."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._count = 0
        self._shown = 0.0
        self._enabled = sys.stderr.isatty()

    def step(self, label: str = "") -> None:
        self._count += 1
        now = time.monotonic()
        if self._enabled and now - self._shown > 0.2:
            self._shown = now
            sys.stderr.write(f"\r\x1b[K{self._what}: {self._count} {label[:60]}")
            sys.stderr.flush()

    def done(self) -> None:
        if self._enabled and self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _settings(args: argparse.Namespace) -> Settings:
    if args.root is not None:
        if args.config is not None:
            raise ConfigError("give either CONFIG or --root, not both")
        return Settings(root_directory=args.root)
    if args.config is None:
        raise ConfigError("give the registry's CONFIG file or --root DIR")
    settings = load_settings(args.config)
    if settings.storage_driver == "inmemory":
        raise ConfigError("storage.inmemory: an in-memory registry has no storage to inspect")
    return settings


def _run(tool: Tool, args: argparse.Namespace, build_driver: DriverFactory, build_cache: CacheFactory) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"dockyard: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_formatter)

    async def main() -> int:
        storage = Storage(StorageLayout(build_driver(settings)), settings, build_cache(settings))
        try:
            return await tool(args, storage)
        finally:
            await storage.layout.close()
            if storage.cache is not None:
                await storage.cache.close()

    return asyncio.run(main())


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


# -- garbage-collect --------------------------------------------------------------------------------


async def _garbage_collect(args: argparse.Namespace, storage: Storage) -> int:
    layout = storage.layout
    progress = Progress("garbage collection")
    lines: list[str] = []

    def emit(line: str) -> None:
        if ":" not in line:
            progress.step(line)  # a repository name: the mark moved on
        if not args.json:
            lines.append(line)
            if len(lines) >= 4096:
                sys.stdout.write("\n".join(lines) + "\n")
                lines.clear()

    options = GcOptions(dry_run=args.dry_run, delete_untagged=args.delete_untagged)
    try:
        forget = None if storage.cache is None else storage.cache.forget_blob  # the servers' shared cache
        result = await collector.collect_from_command(layout, options, emit, forget)
    except (GcError, collector.CollectorBusy) as exc:
        progress.done()
        sys.stdout.write("".join(line + "\n" for line in lines))
        print(f"failed to garbage collect: {exc}", file=sys.stderr)
        return 1
    progress.done()
    if args.json:
        _print_json(result.as_json())
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


# -- fsck -------------------------------------------------------------------------------------------


async def _fsck(args: argparse.Namespace, storage: Storage) -> int:
    layout, settings = storage.layout, storage.settings
    progress = Progress("checking")
    report = await fsck(layout, settings.upload_purging.age_seconds, args.repair, progress.step)
    progress.done()
    if args.json:
        _print_json(report.as_json())
    else:
        for problem in report.problems:
            repaired = f" -> {problem.repaired}" if problem.repaired else ""
            print(f"{problem.kind}: {problem.path}: {problem.detail}{repaired}")
        orphans = len(report.problems) - len(report.broken)
        print(
            f"{report.blobs_checked} blobs ({inventory.human(report.bytes_checked)}) and "
            f"{report.manifests_checked} manifests checked: {len(report.broken)} problems, "
            f"{orphans} orphan blobs"
        )
        if report.quarantine:
            where = settings.root_directory
            if settings.s3 is not None:
                where = f"s3://{settings.s3.bucket}{settings.s3.rootdirectory.rstrip('/')}"
            print(f"broken things moved to {where}/{report.quarantine}")
    return 1 if report.broken and not args.repair else 0


# -- ls, du, tree -----------------------------------------------------------------------------------


async def _load(layout: StorageLayout) -> inventory.Inventory:
    progress = Progress("reading")
    loaded = await inventory.load(layout, progress.step)
    progress.done()
    return loaded


async def _ls(args: argparse.Namespace, storage: Storage) -> int:
    layout = storage.layout
    repositories = inventory.listing(await _load(layout))
    if args.json:
        _print_json({"repositories": repositories})
        return 0
    for repository in repositories:
        print(repository["name"])
        rows = [(item["tag"], item) for item in repository["tags"]]
        rows += [("(untagged)", item) for item in repository["untagged"]]
        for label, item in rows:
            size = "?" if item["size"] is None else inventory.human(item["size"])
            platforms = ", ".join(item["platforms"]) or "-"
            print(f"  {label:<24} {item['digest']}  {platforms:<24} {size:>10}")
    return 0


async def _du(args: argparse.Namespace, storage: Storage) -> int:
    layout = storage.layout
    usage = await inventory.usage(layout, await _load(layout))
    if args.json:
        _print_json(usage)
        return 0
    human = inventory.human
    width = max([10, *(len(row["name"]) for row in usage["repositories"])])
    print(f"{'REPOSITORY':<{width}}  {'UNIQUE':>10}  {'SHARED':>10}  BLOBS")
    for row in usage["repositories"]:
        print(
            f"{row['name']:<{width}}  {human(row['unique_bytes']):>10}  {human(row['shared_bytes']):>10}  "
            f"{row['blobs']}"
        )
    print(f"total on disk: {human(usage['total_bytes'])} in {usage['total_blobs']} blobs")
    print(
        f"garbage-collect would free {human(usage['gc_frees_bytes'])} ({usage['gc_frees_blobs']} blobs); "
        f"with --delete-untagged {human(usage['gc_delete_untagged_frees_bytes'])} "
        f"({usage['gc_delete_untagged_frees_blobs']} blobs)"
    )
    return 0


async def _tree(args: argparse.Namespace, storage: Storage) -> int:
    layout, settings = storage.layout, storage.settings
    entries = await inventory.tree(layout, await _load(layout))
    if args.json:
        _print_json({"root": "docker/registry/v2", "entries": entries})
    else:
        root = f"{settings.root_directory.rstrip('/')}/docker/registry/v2/"
        sys.stdout.write("\n".join(inventory.render_tree(entries, root)) + "\n")
    return 0


# -- wiring -----------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, json_help: str) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG", help="the registry's config.yml")
    parser.add_argument("--root", metavar="DIR", help="a filesystem storage root instead of CONFIG")
    parser.add_argument("--json", action="store_true", help=json_help)


def add_commands(commands: Any) -> None:
    """Register the tools as subcommands of ``dockyard``."""
    gc = commands.add_parser(
        "garbage-collect",
        help="delete blobs and manifests nothing references",
        description="Mark and sweep as `docker-registry garbage-collect` does, with its output. Against a "
        "storage no dockyard server is using it gives the reference's result; while servers use it "
        "(they keep leases in <root>/dockyard/leases), anything younger than "
        "storage.maintenance.gc.graceperiod is spared.",
    )
    _common(gc, "print the result as JSON instead of the reference's lines")
    gc.add_argument("-d", "--dry-run", action="store_true", help="do everything except remove anything")
    gc.add_argument(
        "-m", "--delete-untagged", action="store_true",
        help="delete manifests that no tag references (children of a tagged index are kept)",
    )  # fmt: skip
    gc.set_defaults(tool=_garbage_collect)

    check = commands.add_parser(
        "fsck",
        help="verify blobs, links, tags, manifests and uploads",
        description="Verify every blob against its digest and find empty or invalid links, tags pointing "
        "at missing manifests, manifests referencing missing blobs, orphan blobs and stale uploads. Exits 1 "
        "when something is broken. --repair moves what is broken to <root>/dockyard-quarantine/<time>/ "
        "(never deletes) and rewrites links that can be rewritten, so the rest serves.",
    )
    _common(check, "print the findings as JSON")
    check.add_argument("--repair", action="store_true", help="quarantine what is broken")
    check.set_defaults(tool=_fsck)

    for name, tool, summary in (
        ("ls", _ls, "repositories, tags, digests, platforms and sizes"),
        ("du", _du, "bytes per repository (unique and shared), on disk, and what garbage-collect frees"),
        ("tree", _tree, "the storage tree, each path annotated with what it belongs to"),
    ):
        parser = commands.add_parser(name, help=summary, description=f"Show {summary}.")
        _common(parser, "print JSON")
        parser.set_defaults(tool=tool)


def run(args: argparse.Namespace, build_driver: DriverFactory, build_cache: CacheFactory) -> int | None:
    """Run the tool the arguments chose on the configured storage; None when they chose none."""
    tool: Tool | None = getattr(args, "tool", None)
    return None if tool is None else _run(tool, args, build_driver, build_cache)
