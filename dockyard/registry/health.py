"""``health.storagedriver``: the reference's periodic storage check, and the registry's health from it.

As the reference: every interval the storage root is looked up (a missing root is fine: the first write
makes it); after ``threshold`` failures in a row the registry is unhealthy until a check passes again.
"""

from __future__ import annotations

import asyncio
import logging

from dockyard.storage.layout import StorageLayout

log = logging.getLogger(__name__)


class StorageHealth:
    def __init__(self, layout: StorageLayout, interval_seconds: float, threshold: int) -> None:
        self._layout = layout
        self._interval = interval_seconds
        self._threshold = threshold
        self.name = f"storagedriver_{layout.driver.name}"
        self._failures = 0
        self._error = ""

    def failing(self) -> dict[str, str]:
        """The failing checks by name with their last error: empty while healthy."""
        return {self.name: self._error} if self._failures >= self._threshold else {}

    async def check(self) -> None:
        try:
            await self._layout.check_root()
        except Exception as exc:
            self._failures += 1
            self._error = f"{type(exc).__name__}: {exc}"
            log.warning("storage health check failed (%d in a row): %s", self._failures, self._error)
        else:
            if self._failures >= self._threshold:
                log.info("storage health check passes again")
            self._failures = 0
            self._error = ""

    async def run_forever(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval)
