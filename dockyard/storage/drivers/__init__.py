"""Storage drivers: bytes and listings at paths, nothing about registries."""

from dockyard.storage.drivers.base import (
    FileInfo,
    InvalidPath,
    PathNotFound,
    StorageDriver,
    StorageError,
    StorageUnavailable,
    UploadWriter,
)

__all__ = [
    "FileInfo",
    "InvalidPath",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
    "StorageUnavailable",
    "UploadWriter",
]
