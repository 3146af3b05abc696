"""Typed registry errors carrying the distribution spec's error codes; the API maps them to statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    TAG_INVALID = "TAG_INVALID"
    RANGE_INVALID = "RANGE_INVALID"
    PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN = "UNKNOWN"


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BLOB_UNKNOWN: "blob unknown to registry",
    ErrorCode.BLOB_UPLOAD_INVALID: "blob upload invalid",
    ErrorCode.BLOB_UPLOAD_UNKNOWN: "blob upload unknown to registry",
    ErrorCode.DIGEST_INVALID: "provided digest did not match uploaded content",
    ErrorCode.MANIFEST_BLOB_UNKNOWN: "blob unknown to registry",
    ErrorCode.MANIFEST_INVALID: "manifest invalid",
    ErrorCode.MANIFEST_UNKNOWN: "manifest unknown",
    ErrorCode.NAME_INVALID: "invalid repository name",
    ErrorCode.NAME_UNKNOWN: "repository name not known to registry",
    ErrorCode.SIZE_INVALID: "provided length did not match content length",
    ErrorCode.TAG_INVALID: "manifest tag did not match URI",
    ErrorCode.RANGE_INVALID: "invalid content range",
    ErrorCode.PAGINATION_NUMBER_INVALID: "invalid number of results requested",
    ErrorCode.UNAUTHORIZED: "authentication required",
    ErrorCode.DENIED: "requested access to the resource is denied",
    ErrorCode.UNSUPPORTED: "The operation is unsupported.",
    ErrorCode.TOOMANYREQUESTS: "too many requests",
    ErrorCode.UNAVAILABLE: "service unavailable",
    ErrorCode.UNKNOWN: "unknown error",
}


class RegistryError(Exception):
    def __init__(self, code: ErrorCode, message: str | None = None, detail: Any = None) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        self.detail = detail
        super().__init__(f"{code}: {self.message}")
