"""Test data in the shape of the OCI conformance suite (v1.1.x ``setup.go``), built in our own words.

The Go suite makes one config and one image manifest per workflow category (pull, push, content discovery,
content management, plus a fifth used as a referrers subject), a small gzipped tar layer, two test blobs
(``A``, pushed whole, and ``B``, pushed in two chunks), and a set of artifacts that refer to manifest 4.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

from ._http import (
    EMPTY_JSON,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    SPEC_ERROR_CODES,
    descriptor,
    digest_of,
    dumps,
    image_config,
    tar_gz_layer,
)

NUM_WORKFLOWS = 5
TEST_TAG = "tagtest0"
EMPTY_LAYER_TAG = "emptylayer"
NONEXISTENT_MANIFEST = ".INVALID_MANIFEST_NAME"
INVALID_MANIFEST = b"blablabla"
DUMMY_DIGEST = digest_of(b"hello world")
ANNOTATION_KEY = "org.opencontainers.conformance.test"
REF_TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
REF_TYPE_B = "application/vnd.nba.strawberry.jam.croissant"
REF_TYPE_INDEX = "application/vnd.food.stand"


@dataclass
class Blob:
    data: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def length(self) -> str:
        return str(len(self.data))


@dataclass
class ConformanceData:
    configs: list[Blob] = field(default_factory=list)
    manifests: list[Blob] = field(default_factory=list)
    layer: Blob = field(default_factory=lambda: Blob(b""))
    empty_layer_manifest: Blob = field(default_factory=lambda: Blob(b""))
    blob_a: Blob = field(default_factory=lambda: Blob(b""))
    blob_b: Blob = field(default_factory=lambda: Blob(b""))
    ref_blob_a: Blob = field(default_factory=lambda: Blob(b"NHL Peanut Butter on my NHL bagel"))
    ref_blob_b: Blob = field(default_factory=lambda: Blob(b"NBA Strawberry Jam on my NBA croissant"))
    refs: dict[str, Blob] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # referrer digest -> annotation value

    def chunks_of_b(self, min_length: int = 0) -> tuple[bytes, bytes]:
        """Blob B split in two chunks (the first one byte past half); rebuilt larger when the server
        announces an ``OCI-Chunk-Min-Length`` above the first chunk's size."""
        if min_length > len(self.blob_b.data) // 2 + 1:
            self.blob_b = Blob(os.urandom(min_length * 2 - 2))
        half = len(self.blob_b.data) // 2 + 1
        return self.blob_b.data[:half], self.blob_b.data[half:]


def _manifest(config: Blob, layers: list[dict[str, Any]], **extra: Any) -> Blob:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            **descriptor(OCI_CONFIG, config.data),
            # the Go suite embeds the config content and a field the spec does not define
            "data": base64.b64encode(config.data).decode(),
            "newUnspecifiedField": base64.b64encode(b"hello world").decode(),
        },
        "layers": layers,
        **extra,
    }
    return Blob(dumps(doc))


def build() -> ConformanceData:
    d = ConformanceData()
    d.configs = [Blob(image_config(author=os.urandom(8).hex())) for _ in range(NUM_WORKFLOWS)]
    d.layer = Blob(tar_gz_layer("test.txt", b"you bothered to find out what was in here. Congratulations!\n"))
    layers = [descriptor(OCI_LAYER_GZIP, d.layer.data)]
    d.manifests = [_manifest(cfg, layers) for cfg in d.configs]
    d.empty_layer_manifest = _manifest(d.configs[1], [])
    d.blob_a = Blob(os.urandom(42))
    d.blob_b = Blob(os.urandom(42))

    empty = descriptor(OCI_EMPTY, EMPTY_JSON)
    subject4 = descriptor(OCI_MANIFEST, d.manifests[4].data)
    subject3 = descriptor(OCI_MANIFEST, d.manifests[3].data)

    def ref_manifest(name: str, note: str | None, **doc: Any) -> None:
        body: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, **doc}
        if note is not None:
            body["annotations"] = {ANNOTATION_KEY: note}
        blob = Blob(dumps(body))
        d.refs[name] = blob
        if note is not None:
            d.annotations[blob.digest] = note

    # artifactType carried by config.mediaType
    ref_manifest(
        "a_config", "test config a",
        config=descriptor(REF_TYPE_A, d.ref_blob_a.data), subject=subject4, layers=[empty],
    )  # fmt: skip
    ref_manifest(
        "b_config", "test config b",
        config=descriptor(REF_TYPE_B, d.ref_blob_b.data), subject=subject4, layers=[empty],
    )  # fmt: skip
    # artifactType field, config the empty JSON
    ref_manifest(
        "a_layer", "test layer a",
        artifactType=REF_TYPE_A, config=empty, subject=subject4,
        layers=[descriptor(REF_TYPE_A, d.ref_blob_a.data)],
    )  # fmt: skip
    ref_manifest(
        "b_layer", "test layer b",
        artifactType=REF_TYPE_B, config=empty, subject=subject4,
        layers=[descriptor(REF_TYPE_B, d.ref_blob_b.data)],
    )  # fmt: skip
    # like b_layer but its subject (manifest 3) is never pushed in the discovery workflow
    ref_manifest(
        "c_layer", None,
        artifactType=REF_TYPE_B, config=empty, subject=subject3,
        layers=[descriptor(REF_TYPE_B, d.ref_blob_b.data)],
    )  # fmt: skip
    index_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": REF_TYPE_INDEX,
        "manifests": [
            descriptor(OCI_MANIFEST, d.refs["a_config"].data),
            descriptor(OCI_MANIFEST, d.refs["a_layer"].data),
        ],
        "subject": subject4,
        "annotations": {ANNOTATION_KEY: "test index"},
    }
    d.refs["index"] = Blob(dumps(index_doc))
    d.annotations[d.refs["index"].digest] = "test index"
    return d


#: The codes the Go conformance suite accepts in an error body: the spec's, less TOOMANYREQUESTS.
ERROR_CODES = SPEC_ERROR_CODES - {"TOOMANYREQUESTS"}
