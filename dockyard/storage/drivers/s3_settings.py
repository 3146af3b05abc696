"""The S3 driver's settings, apart from the driver: reading a configuration must not load botocore (about
30 MiB in every process), which only a server that stores in S3 needs."""

from __future__ import annotations

from dataclasses import dataclass

MIN_PART = 5 << 20  # S3's smallest part but the last
MAX_PART = 5 << 30  # S3's largest part (and largest single CopyObject)


@dataclass(frozen=True, slots=True)
class S3Settings:
    """The reference's ``storage.s3`` parameters, validated (see ``dockyard.config``)."""

    bucket: str
    region: str
    accesskey: str = ""
    secretkey: str = ""
    sessiontoken: str = ""
    regionendpoint: str = ""
    forcepathstyle: bool | None = None  # None: path style exactly when regionendpoint is set
    secure: bool = True
    skipverify: bool = False
    v4auth: bool = True
    encrypt: bool = False
    keyid: str = ""
    chunksize: int = 2 * MIN_PART
    multipartcopychunksize: int = 32 << 20
    multipartcopymaxconcurrency: int = 100
    multipartcopythresholdsize: int = 32 << 20
    rootdirectory: str = ""
    storageclass: str = "STANDARD"
    objectacl: str = "private"
    useragent: str = ""
    accelerate: bool = False
