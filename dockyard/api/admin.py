"""dockyard's admin endpoint: ``POST <prefix>/dockyard/gc`` runs a garbage collection now.

It exists only when ``storage.maintenance.gc.enabled`` is set; ``?dryrun=true`` only reports. The answer
is the collection's JSON summary; ``503 UNAVAILABLE`` when another collection holds the lock.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api.context import registry_of
from dockyard.registry.collector import CollectorBusy
from dockyard.registry.errors import ErrorCode, RegistryError


async def garbage_collect(request: web.Request) -> web.StreamResponse:
    collector = registry_of(request).collector
    if collector is None:
        raise web.HTTPNotFound()
    dry_run = request.query.get("dryrun", "").lower() in ("1", "true", "yes")
    try:
        result = await collector.run_once(dry_run=dry_run or None)
    except CollectorBusy as exc:
        raise RegistryError(ErrorCode.UNAVAILABLE, detail=str(exc)) from exc
    return web.json_response(result.as_json())
