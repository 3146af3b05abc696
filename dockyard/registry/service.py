"""The registry as one object: what the HTTP API (and the command line tools) call into."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.grammar import Digest
from dockyard.registry.blob_cache import BlobDescriptorCache, NoCache
from dockyard.registry.blobs import BlobStore
from dockyard.registry.catalog import Page, repositories
from dockyard.registry.collector import OnlineCollector
from dockyard.registry.gc import GcOptions
from dockyard.registry.health import StorageHealth
from dockyard.registry.maintenance import purge_uploads_forever
from dockyard.registry.manifest_format import UrlPolicy
from dockyard.registry.manifests import ManifestStore
from dockyard.registry.upload_state import UploadStateSigner
from dockyard.registry.uploads import UploadManager
from dockyard.storage.drivers.base import StorageDriver
from dockyard.storage.layout import StorageLayout


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    secret: str
    delete_enabled: bool = False
    read_only: bool = False
    url_policy: UrlPolicy | None = None
    redirect: bool = False  # blob GETs go to the storage's own URL (presigned S3) where it has one
    gc_grace_seconds: float = 3600.0  # blobs handed out are kept younger than this (see registry.gc)
    gc_enabled: bool = False  # collect while serving (storage.maintenance.gc)
    gc_interval_seconds: float = 24 * 3600
    gc_delete_untagged: bool = False
    gc_dry_run: bool = False


class Registry:
    def __init__(
        self, driver: StorageDriver, options: RegistryOptions, cache: BlobDescriptorCache | None = None
    ) -> None:
        self.options = options
        self.layout = StorageLayout(driver)
        self.cache: BlobDescriptorCache = cache or NoCache()
        refresh = None if options.read_only else options.gc_grace_seconds / 4
        self.blobs = BlobStore(self.layout, options.delete_enabled, self.cache, refresh)
        self.uploads = UploadManager(self.layout, UploadStateSigner(options.secret))
        self.manifests = ManifestStore(self.layout, options.delete_enabled, options.url_policy, self.cache)
        self.collector: OnlineCollector | None = None
        if options.gc_enabled and not options.read_only:
            gc_options = GcOptions(options.gc_dry_run, options.gc_delete_untagged, options.gc_grace_seconds)
            self.collector = OnlineCollector(
                self.layout, gc_options, options.gc_interval_seconds, self.blob_removed
            )

    async def catalog(self, limit: int, last: str | None) -> Page:
        return await repositories(self.layout, limit, last)

    async def blob_removed(self, digest: Digest) -> None:
        """The blob's bytes were deleted (garbage collection): no repository may report it any more."""
        self.manifests.forget(digest)
        await self.cache.forget_blob(digest)

    async def close(self) -> None:
        """Release the storage's and the cache's connections."""
        await self.cache.close()
        await self.layout.close()

    async def purge_uploads_forever(self, age_seconds: float, interval_seconds: float, dry_run: bool) -> None:
        await purge_uploads_forever(self.layout, age_seconds, interval_seconds, dry_run)

    def storage_health(self, interval_seconds: float, threshold: int) -> StorageHealth:
        return StorageHealth(self.layout, interval_seconds, threshold)
