"""S3 driver: the reference registry's ``s3`` driver, same object keys, same in-progress uploads.

Keys are ``<rootdirectory>/docker/registry/v2/...`` exactly as the reference computes them, so one bucket can
be served by dockyard and the reference at once. An upload's ``data`` is an S3 multipart upload in progress,
as the reference keeps it: appending lists its parts, ``commit`` completes it, and a blob is published by a
server-side copy. Either implementation can continue the other's upload.

The client is aiobotocore: botocore's signing, retries and endpoint handling on the aiohttp event loop the
server already runs, without a thread per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from dockyard.storage.drivers.base import (
    FileInfo,
    PathNotFound,
    StorageError,
    StorageUnavailable,
    check_path,
)
from dockyard.storage.drivers.s3_settings import MAX_PART, MIN_PART, S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        CompletedPartTypeDef,
        CopySourceTypeDef,
        ObjectIdentifierTypeDef,
    )

READ_CHUNK = 1 << 20
LIST_MAX = 1000
UPLOAD_IDS_KEPT = 4096
PRESIGN_SECONDS = 20 * 60  # as the reference's URLFor
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})


@dataclass(slots=True)
class _Part:
    number: int
    etag: str
    size: int


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@contextlib.contextmanager
def _translated(path: str) -> Any:
    """botocore's errors as the driver's: missing keys, and an unreachable or failing backend."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND or _status(exc) == 404:
            raise PathNotFound(path) from exc
        if _status(exc) >= 500 or _error_code(exc) in ("SlowDown", "RequestTimeout"):
            raise StorageUnavailable(f"S3 {_error_code(exc)} on {path}") from exc
        raise StorageError(f"S3 {_error_code(exc)} on {path}: {exc}") from exc
    except (BotoConnectionError, HTTPClientError, aiohttp.ClientError, OSError) as exc:
        raise StorageUnavailable(f"S3 unreachable on {path}: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 client error on {path}: {exc}") from exc


class S3Driver:
    name = "s3"

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._root = settings.rootdirectory.rstrip("/")
        self._client: S3Client | None = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        # The multipart upload this process last saw at a key: an append lists its parts at once, without
        # listing the bucket's uploads first. An id completed or aborted elsewhere answers NoSuchUpload.
        self._upload_ids: OrderedDict[str, str] = OrderedDict()
        # Keys of objects this process just sealed (completed an upload into) under the multipart-copy
        # threshold, with their size: moving one needs no HEAD for its size. Only the kind of copy depends
        # on it, and one CopyObject copies whatever is at the key.
        self._sealed_small: OrderedDict[str, int] = OrderedDict()

    # -- the client --------------------------------------------------------------------------

    async def client(self) -> S3Client:
        """One pooled client per driver, made on first use inside the running event loop."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is not None:
                return self._client
            made: S3Client = await self._stack.enter_async_context(self._make_client())
            self._client = made
            return made

    def _make_client(self) -> Any:
        s = self.settings
        endpoint = s.regionendpoint or None
        if endpoint is not None and "://" not in endpoint:
            endpoint = ("https://" if s.secure else "http://") + endpoint
        path_style = s.forcepathstyle if s.forcepathstyle is not None else bool(s.regionendpoint)
        config = AioConfig(
            signature_version="s3v4" if s.v4auth else "s3",
            s3={
                "addressing_style": "path" if path_style else "auto",
                "use_accelerate_endpoint": s.accelerate,
            },
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=64,
            user_agent_extra=s.useragent or None,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return get_session().create_client(
            "s3",
            region_name=s.region,
            endpoint_url=endpoint,
            use_ssl=s.secure,
            verify=not s.skipverify,
            aws_access_key_id=s.accesskey or None,
            aws_secret_access_key=s.secretkey or None,
            aws_session_token=s.sessiontoken or None,
            config=config,
        )

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    # -- keys --------------------------------------------------------------------------------

    def key(self, path: str) -> str:
        """The reference's ``s3Path``: root and path joined, without a leading slash."""
        check_path(path)
        return (self._root + ("" if path == "/" else path)).lstrip("/")

    def _prefix(self, path: str) -> str:
        """The key prefix of everything below a directory path."""
        key = self.key(path)
        return key + "/" if key else ""

    def _path(self, key: str) -> str:
        root = self._root.lstrip("/")
        return "/" + (key[len(root) + 1 :] if root else key)

    def _object_options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {"ContentType": "application/octet-stream", "ACL": s.objectacl}
        if s.storageclass.upper() != "NONE":
            options["StorageClass"] = s.storageclass.upper()
        if s.encrypt:
            options["ServerSideEncryption"] = "aws:kms" if s.keyid else "AES256"
            if s.keyid:
                options["SSEKMSKeyId"] = s.keyid
        return options

    # -- small files -------------------------------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            response = await client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()

    async def put_content(self, path: str, data: bytes) -> None:
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            await client.put_object(Bucket=self.bucket, Key=key, Body=data, **self._object_options())

    # -- streams -----------------------------------------------------------------------------

    async def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        key = self.key(path)
        client = await self.client()
        if length == 0:
            await self.stat(path)
            return
        wanted = f"bytes={offset}-" if length is None else f"bytes={offset}-{offset + length - 1}"
        with _translated(path):
            try:
                response = await client.get_object(Bucket=self.bucket, Key=key, Range=wanted)
            except ClientError as exc:
                if _error_code(exc) == "InvalidRange":
                    return  # at or past the end: nothing to read, as the reference
                raise
            async with response["Body"] as body:
                while chunk := await body.read(READ_CHUNK):
                    yield chunk

    async def writer(self, path: str, append: bool = False, *, fresh: bool = False) -> S3Writer:
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            if not append:
                if not fresh:  # one upload per key: appends find this one
                    await self._abort_uploads(key, exact=True)
                created = await client.create_multipart_upload(
                    Bucket=self.bucket, Key=key, **self._object_options()
                )
                self.remember_upload(key, created["UploadId"])
                return S3Writer(self, path, key, created["UploadId"], [])
            known = self._upload_ids.get(key)
            if known is not None:
                try:
                    return S3Writer(self, path, key, known, await self._parts(key, known))
                except ClientError as exc:
                    if _error_code(exc) != "NoSuchUpload":
                        raise
                    self.forget_upload(key)  # completed or aborted meanwhile: look again
            upload_id = await self._find_upload(key)
            if upload_id is None:
                raise PathNotFound(path)
            parts = await self._parts(key, upload_id)
            self.remember_upload(key, upload_id)
            return S3Writer(self, path, key, upload_id, parts)

    def remember_upload(self, key: str, upload_id: str) -> None:
        self._upload_ids[key] = upload_id
        self._upload_ids.move_to_end(key)
        while len(self._upload_ids) > UPLOAD_IDS_KEPT:
            self._upload_ids.popitem(last=False)

    def forget_upload(self, key: str) -> None:
        self._upload_ids.pop(key, None)

    def sealed(self, key: str, size: int) -> None:
        """An upload at ``key`` was completed into an object of ``size`` bytes (see ``move``)."""
        if size <= self.settings.multipartcopythresholdsize:
            self._sealed_small[key] = size
            while len(self._sealed_small) > UPLOAD_IDS_KEPT:
                self._sealed_small.popitem(last=False)

    async def _find_upload(self, key: str) -> str | None:
        """The multipart upload in progress at exactly ``key`` (the first, as the reference picks)."""
        client = await self.client()
        response = await client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for upload in response.get("Uploads", []):
            if upload.get("Key") == key:
                return upload["UploadId"]
        return None

    async def _parts(self, key: str, upload_id: str) -> list[_Part]:
        client = await self.client()
        parts: list[_Part] = []
        marker = 0
        while True:
            response = await client.list_parts(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
            )
            parts += [_Part(p["PartNumber"], p["ETag"], p["Size"]) for p in response.get("Parts", [])]
            if not response.get("IsTruncated"):
                return sorted(parts, key=lambda part: part.number)
            marker = int(response.get("NextPartNumberMarker", 0))

    # -- metadata ----------------------------------------------------------------------------

    async def stat(self, path: str) -> FileInfo:
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            if key:
                try:
                    head = await client.head_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if _status(exc) != 404 and _error_code(exc) not in _NOT_FOUND:
                        raise
                else:
                    return FileInfo(path, head["ContentLength"], head["LastModified"].timestamp(), False)
            below = await client.list_objects_v2(Bucket=self.bucket, Prefix=self._prefix(path), MaxKeys=1)
        contents = below.get("Contents", [])
        if not contents:
            raise PathNotFound(path)
        return FileInfo(path, 0, contents[0]["LastModified"].timestamp(), True)

    async def list_names(self, path: str, start: str = "") -> list[str]:
        prefix = self._prefix(path)
        client = await self.client()
        files: list[str] = []
        folders: list[str] = []
        # The greatest key before every name >= start: names use [A-Za-z0-9._:-] only, all below "~".
        start_after = prefix + start[:-1] + chr(ord(start[-1]) - 1) + "~" if start else ""
        with _translated(path):
            paginator = client.get_paginator("list_objects_v2")
            pages = paginator.paginate(
                Bucket=self.bucket,
                Prefix=prefix,
                Delimiter="/",
                StartAfter=start_after,
                PaginationConfig={"PageSize": LIST_MAX},
            )
            async for page in pages:
                files += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
                folders += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
            folders = await self._nonempty(prefix, folders, start_after)
            cut = len(prefix)
            names = sorted(name for key in files + folders if (name := key[cut:].rstrip("/")) >= start)
            if not names and (not start or not await self._exists_below(prefix)):
                raise PathNotFound(path)
        return names

    async def _exists_below(self, prefix: str) -> bool:
        client = await self.client()
        return bool(
            (await client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)).get("Contents")
        )

    async def _nonempty(self, prefix: str, folders: list[str], start_after: str = "") -> list[str]:
        """Folders with an object below them.

        Backends that keep real folders (SeaweedFS) go on listing an emptied folder as a common prefix for
        a while; a deleted tag or repository must not reappear, so each folder is confirmed. One flat
        listing confirms most at once; the rest are asked one by one, a few at a time.
        """
        if not folders:
            return folders
        client = await self.client()
        first = await client.list_objects_v2(
            Bucket=self.bucket, Prefix=prefix, StartAfter=start_after, MaxKeys=LIST_MAX
        )
        seen = {item["Key"] for item in first.get("Contents", [])}
        confirmed = {folder for folder in folders if any(key.startswith(folder) for key in seen)}
        doubtful = [folder for folder in folders if folder not in confirmed]
        limit = asyncio.Semaphore(16)

        async def has_objects(folder: str) -> bool:
            async with limit:
                return await self._exists_below(folder)

        answers = await asyncio.gather(*(has_objects(folder) for folder in doubtful))
        confirmed.update(folder for folder, answer in zip(doubtful, answers, strict=True) if answer)
        return [folder for folder in folders if folder in confirmed]

    async def _objects_below(self, path: str) -> AsyncIterator[dict[str, Any]]:
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self._prefix(path), PaginationConfig={"PageSize": LIST_MAX}
        )
        async for page in pages:
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield dict(item)

    # -- moving and deleting -----------------------------------------------------------------

    async def move(self, source: str, destination: str) -> None:
        """Server-side copy, then delete the source: the bytes never pass through dockyard. The size (which
        copy) is asked for unless this process has just sealed the source."""
        size = self._sealed_small.pop(self.key(source), None)
        if size is None:
            size = (await self.stat(source)).size
        await self.copy(source, destination, size)
        client = await self.client()
        with _translated(source):
            await client.delete_object(Bucket=self.bucket, Key=self.key(source))

    async def copy(self, source: str, destination: str, size: int) -> None:
        source_key, destination_key = self.key(source), self.key(destination)
        client = await self.client()
        copy_source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source_key}
        s = self.settings
        with _translated(source):
            if size <= s.multipartcopythresholdsize:
                await client.copy_object(
                    Bucket=self.bucket, Key=destination_key, CopySource=copy_source, **self._object_options()
                )
                return
            created = await client.create_multipart_upload(
                Bucket=self.bucket, Key=destination_key, **self._object_options()
            )
            upload_id = created["UploadId"]
            piece = s.multipartcopychunksize
            ranges = [(start, min(start + piece, size) - 1) for start in range(0, size, piece)]
            limit = asyncio.Semaphore(s.multipartcopymaxconcurrency)

            async def copy_part(number: int, first: int, last: int) -> CompletedPartTypeDef:
                async with limit:
                    answer = await client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=destination_key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=copy_source,
                        CopySourceRange=f"bytes={first}-{last}",
                    )
                return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

            try:
                parts = await asyncio.gather(
                    *(copy_part(index + 1, first, last) for index, (first, last) in enumerate(ranges))
                )
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=destination_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=destination_key, UploadId=upload_id
                    )
                raise

    async def touch(self, path: str) -> None:
        """Refresh the object's modification time by a server-side copy onto itself (metadata replaced,
        as S3 refuses a copy that changes nothing); no byte passes through dockyard."""
        size = (await self.stat(path)).size
        if size > self.settings.multipartcopythresholdsize:
            await self.copy(path, path, size)
            return
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            await client.copy_object(
                Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE", **self._object_options(),
            )  # fmt: skip

    async def delete(self, path: str) -> None:
        """Remove the object at ``path`` and everything below it, and abort uploads in progress there."""
        key = self.key(path)
        client = await self.client()
        with _translated(path):
            doomed, aborted = await asyncio.gather(  # two listings at once
                self._keys_at_or_below(key), self._abort_uploads(key, exact=False)
            )
            for start in range(0, len(doomed), LIST_MAX):
                batch: list[ObjectIdentifierTypeDef] = [
                    {"Key": name} for name in doomed[start : start + LIST_MAX]
                ]
                await client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        if not doomed and not aborted:
            raise PathNotFound(path)

    async def _keys_at_or_below(self, key: str) -> list[str]:
        """The object at ``key`` and every one below it, from one listing of the bare prefix: no separate
        HEAD of ``key``. Keys come sorted, so siblings that merely share the prefix are skipped and the
        listing stops once it is past ``key/``."""
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=key, PaginationConfig={"PageSize": LIST_MAX})
        folder = key + "/" if key else ""
        found: list[str] = []
        async for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"]
                if name == key or name.startswith(folder):
                    if not name.endswith("/"):  # a folder marker some servers list is no object
                        found.append(name)
                elif name > folder:
                    return found
        return found

    async def _abort_uploads(self, key: str, exact: bool) -> bool:
        """Abort the multipart uploads at ``key`` (and, unless ``exact``, below it); whether any were."""
        client = await self.client()
        aborted = False
        uploads = await client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for upload in uploads.get("Uploads", []):
            name = upload.get("Key", "")
            if name == key or (not exact and (not key or name.startswith(key + "/"))):
                self.forget_upload(name)
                await client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload["UploadId"])
                aborted = True
        return aborted

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """One flat listing of everything below, folders derived from the keys, depth first and sorted."""
        entries: dict[tuple[str, ...], FileInfo] = {}
        base = () if path == "/" else tuple(path.strip("/").split("/"))
        with _translated(path):
            async for item in self._objects_below(path):
                child = self._path(item["Key"])
                parts = tuple(child.strip("/").split("/"))
                mtime = item["LastModified"].timestamp()
                entries[parts] = FileInfo(child, item["Size"], mtime, False)
                for depth in range(len(base) + 1, len(parts)):
                    folder = parts[:depth]
                    if folder not in entries:
                        entries[folder] = FileInfo("/" + "/".join(folder), 0, mtime, True)
        if not entries:
            raise PathNotFound(path)
        for parts in sorted(entries):
            yield entries[parts]

    def local_path(self, path: str) -> str | None:
        return None

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A presigned URL for GET or HEAD of the object, valid for 20 minutes."""
        operation = "head_object" if method == "HEAD" else "get_object"
        client = await self.client()
        return await client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": self.key(path)}, ExpiresIn=PRESIGN_SECONDS
        )


class S3Writer:
    """Appends to a multipart upload in parts of ``chunksize``, as the reference's writer does.

    Only a multipart upload's last part may be under 5 MiB. When appending after such a part, the parts
    so far are completed into an object and a new upload starts from it: copied server-side as part 1, or
    (under 5 MiB) read back into the buffer.
    """

    def __init__(self, driver: S3Driver, path: str, key: str, upload_id: str, parts: list[_Part]) -> None:
        self._driver = driver
        self._path = path
        self._key = key
        self._upload_id = upload_id
        self._parts = parts
        self._buffer = bytearray()
        self._size = sum(part.size for part in parts)
        self._chunk = driver.settings.chunksize

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._parts and self._parts[-1].size < MIN_PART:
            await self._restart()
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._chunk:
            await self._upload_part(bytes(self._buffer[: self._chunk]))
            del self._buffer[: self._chunk]

    async def write_chunks(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            await self.write(chunk)

    async def close(self) -> None:
        """Upload what is buffered as a part: the bytes are stored, and a later append carries on."""
        if self._buffer:
            await self._upload_part(bytes(self._buffer))
            self._buffer.clear()

    async def commit(self) -> None:
        """Complete the multipart upload: the bytes become an object at the writer's path."""
        await self.close()
        if not self._parts:
            await self._upload_part(b"")  # a multipart upload needs one part, even an empty one
        await self._complete()
        self._driver.sealed(self._key, self._size)

    async def _upload_part(self, data: bytes) -> None:
        client = await self._driver.client()
        number = len(self._parts) + 1
        with _translated(self._path):
            answer = await client.upload_part(
                Bucket=self._driver.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
        self._parts.append(_Part(number, answer["ETag"], len(data)))

    async def _complete(self) -> None:
        client = await self._driver.client()
        parts: list[CompletedPartTypeDef] = [
            {"PartNumber": part.number, "ETag": part.etag} for part in self._parts
        ]
        self._driver.forget_upload(self._key)
        with _translated(self._path):
            await client.complete_multipart_upload(
                Bucket=self._driver.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )

    async def _restart(self) -> None:
        """Turn the parts into an object and continue in a new upload that starts with its bytes."""
        driver = self._driver
        client = await driver.client()
        await self._complete()
        with _translated(self._path):
            created = await client.create_multipart_upload(
                Bucket=driver.bucket, Key=self._key, **driver._object_options()
            )
        self._upload_id = created["UploadId"]
        driver.remember_upload(self._key, self._upload_id)
        self._parts = []
        if self._size < MIN_PART:
            self._buffer[:0] = await driver.get_content(self._path)
            return
        copy_source: CopySourceTypeDef = {"Bucket": driver.bucket, "Key": self._key}
        pieces = -(-self._size // MAX_PART)  # equal pieces, each within S3's part limits
        step = -(-self._size // pieces)
        for number, start in enumerate(range(0, self._size, step), start=1):
            last = min(start + step, self._size) - 1
            with _translated(self._path):
                answer = await client.upload_part_copy(
                    Bucket=driver.bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{last}",
                )
            self._parts.append(_Part(number, answer["CopyPartResult"]["ETag"], last - start + 1))
