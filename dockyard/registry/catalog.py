"""Listing what the registry holds: repositories and tags, in pages."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.storage.layout import StorageLayout


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool  # another page follows: the API advertises it with a Link header


def paginate(items: list[str], limit: int | None, last: str | None) -> Page:
    """Items sorted after ``last``, at most ``limit`` of them."""
    if last:
        items = [item for item in items if item > last]
    if limit is None or len(items) <= limit:
        return Page(items, False)
    return Page(items[:limit], True)


async def repositories(layout: StorageLayout, limit: int, last: str | None) -> Page:
    found: list[str] = []
    if limit <= 0:
        return Page(found, False)
    async for name in layout.repositories(last or ""):
        if len(found) == limit:
            return Page(found, True)
        found.append(name)
    return Page(found, False)
