"""Many small storage operations at once: concurrent on a remote store, one tight loop on a local disk."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

CONCURRENCY = 32  # requests in flight to a remote store (S3): enough to hide round trips, not to flood it


async def each(items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int = CONCURRENCY) -> list[R]:
    """``work`` on every item, at most ``limit`` at a time; the results in the items' order.

    A few workers share one iterator: where ``work`` never waits (a local disk answers inline) the first
    worker does it all in one loop, with no task per item."""
    pending = list(items)
    results: list[R | None] = [None] * len(pending)
    queue = iter(enumerate(pending))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await work(item)

    await asyncio.gather(*(worker() for _ in range(min(limit, len(pending)))))
    return results  # type: ignore[return-value]  # every slot was filled
