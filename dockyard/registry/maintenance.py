"""Upload purging (``storage.maintenance.uploadpurging``): abandoned uploads are removed after an age."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dockyard.storage.layout import StorageLayout

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgedUpload:
    repository: str
    upload_id: str
    started_at: datetime


async def purge_uploads(layout: StorageLayout, older_than: datetime, dry_run: bool) -> list[PurgedUpload]:
    """Remove uploads started before ``older_than`` (only list them when ``dry_run``)."""
    stale = [
        PurgedUpload(name, upload_id, started_at)
        async for name, upload_id, started_at in layout.uploads()
        if started_at < older_than
    ]
    if not dry_run:
        for upload in stale:
            await layout.delete_upload(upload.repository, upload.upload_id)
    return stale


async def purge_uploads_forever(
    layout: StorageLayout, age_seconds: float, interval_seconds: float, dry_run: bool
) -> None:
    """The reference's schedule: a first run after a random delay, then one every interval."""
    await asyncio.sleep(random.uniform(0, min(60.0, interval_seconds)))
    while True:
        cutoff = datetime.now(UTC) - timedelta(seconds=age_seconds)
        try:
            purged = await purge_uploads(layout, cutoff, dry_run)
        except Exception:
            log.exception("upload purging failed; retrying at the next interval")
        else:
            verb = "would purge" if dry_run else "purged"
            log.info(
                "upload purging: %s %d upload(s) started before %s", verb, len(purged), cutoff.isoformat()
            )
        await asyncio.sleep(interval_seconds)
