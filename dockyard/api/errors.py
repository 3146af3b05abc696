"""The distribution spec's JSON error body, and the status each error code travels with."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.registry.errors import ErrorCode, RegistryError

STATUS: dict[ErrorCode, int] = {
    ErrorCode.BLOB_UNKNOWN: 404,
    ErrorCode.BLOB_UPLOAD_INVALID: 404,  # as the reference registry answers it
    ErrorCode.BLOB_UPLOAD_UNKNOWN: 404,
    ErrorCode.DIGEST_INVALID: 400,
    ErrorCode.MANIFEST_BLOB_UNKNOWN: 400,
    ErrorCode.MANIFEST_INVALID: 400,
    ErrorCode.MANIFEST_UNKNOWN: 404,
    ErrorCode.NAME_INVALID: 400,
    ErrorCode.NAME_UNKNOWN: 404,
    ErrorCode.SIZE_INVALID: 400,
    ErrorCode.TAG_INVALID: 400,
    ErrorCode.RANGE_INVALID: 416,
    ErrorCode.PAGINATION_NUMBER_INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.DENIED: 403,
    ErrorCode.UNSUPPORTED: 405,
    ErrorCode.TOOMANYREQUESTS: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.UNKNOWN: 500,
}


def error_response(error: RegistryError, status: int | None = None) -> web.Response:
    entry: dict[str, object] = {"code": error.code.value, "message": error.message}
    if error.detail is not None:
        entry["detail"] = error.detail
    return web.Response(
        status=status or STATUS[error.code],
        body=json.dumps({"errors": [entry]}).encode(),
        content_type="application/json",
    )


class ErrorAnswer(Exception):
    """An error response that carries headers of its own (e.g. ``Range`` on a 416)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response
