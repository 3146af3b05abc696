"""The data sets the conformance suite on the spec's main branch pushes, pulls, queries and deletes (its
``GenerateData``), rebuilt with our own builders: one :class:`DataSet` per kind of content."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._http import (
    EMPTY_JSON,
    EXAMPLE_TYPE_1,
    EXAMPLE_TYPE_2,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ND,
    OCI_LAYER_ND_GZIP,
    OCI_MANIFEST,
    OCTET,
    Image,
    descriptor,
    digest_of,
    dumps,
    image_config,
    oci_image,
    oci_index,
    tar_gz_layer,
)

ANNOTATION = {"org.opencontainers.conformance": "hello conformance test"}


@dataclass
class DataSet:
    name: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # digest -> (body, media type)
    order: list[str] = field(default_factory=list)  # manifests in push order (children first)
    tags: dict[str, str] = field(default_factory=dict)
    referrers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # subject -> descriptors
    bad_digest: set[str] = field(default_factory=set)  # manifests whose PUT must fail with 400
    tag_param: bool = False  # push tags with ``?tag=`` on the PUT by digest (1.1+dev profile)

    def add(self, image: Image, tag: str | None = None) -> str:
        for child in image.children:
            self.add(child)
        self.blobs.update(image.blobs)
        digest = image.digest
        if digest not in self.manifests:
            self.manifests[digest] = (image.manifest, image.media_type)
            self.order.append(digest)
        doc = image.doc
        if "subject" in doc:
            artifact_type = doc.get("artifactType") or doc.get("config", {}).get("mediaType", "")
            entry: dict[str, Any] = {
                "mediaType": image.media_type,
                "digest": digest,
                "size": len(image.manifest),
                "artifactType": artifact_type,
            }
            if doc.get("annotations"):
                entry["annotations"] = doc["annotations"]
            self.referrers.setdefault(doc["subject"]["digest"], []).append(entry)
        if tag:
            self.tags[tag] = digest
        return digest

    def subject_of(self, digest: str) -> str | None:
        body, _ = self.manifests[digest]
        subject = json.loads(body).get("subject")
        return subject["digest"] if subject else None


def uniq(annotations: dict[str, str]) -> dict[str, str]:
    return annotations | {f"org.example.{os.urandom(6).hex()}": os.urandom(6).hex()}


def _artifact(artifact_type: str, *, layer_type: str, subject: Image | dict[str, Any] | None = None) -> Image:
    return oci_image(
        artifact_type=artifact_type,
        config=EMPTY_JSON,
        config_type=OCI_EMPTY,
        layer_blobs=[os.urandom(256)],
        layer_type=layer_type,
        subject=subject,
        annotations=uniq(ANNOTATION),
    )


def _image() -> Image:
    return oci_image(layers=2)


def ds_image() -> DataSet:
    d = DataSet("image")
    d.add(_image(), "image")
    return d


def ds_image_uncompressed() -> DataSet:
    d = DataSet("image-uncompressed")
    layers = [tar_gz_layer(f"u{i}.txt", compress=False) for i in range(2)]
    d.add(oci_image(layer_blobs=layers, layer_type=OCI_LAYER), "image-uncompressed")
    return d


def ds_large_manifest() -> DataSet:
    d = DataSet("large-manifest")
    annotations = {f"large-annotation-{i}": "A" * 10000 for i in range(390)}
    d.add(oci_image(layers=2, annotations=annotations), "large-manifest")
    return d


def ds_index() -> DataSet:
    d = DataSet("index")
    d.add(oci_index([_image(), _image()]), "index")
    return d


def ds_nested_index() -> DataSet:
    d = DataSet("nested-index")
    inner = [oci_index([_image(), _image()]) for _ in range(2)]
    d.add(oci_index(inner), "index-of-index")
    return d


def ds_empty_index() -> DataSet:
    d = DataSet("empty-index")
    d.add(oci_index([]), "index")
    return d


def ds_artifact() -> DataSet:
    d = DataSet("artifact")
    d.add(oci_image(artifact_type=EXAMPLE_TYPE_1, config=EMPTY_JSON, config_type=OCI_EMPTY,
                    layer_blobs=[os.urandom(512)], layer_type=EXAMPLE_TYPE_1), "artifact")  # fmt: skip
    return d


def ds_artifact_index() -> DataSet:
    d = DataSet("artifact-index")
    children = [
        oci_image(artifact_type=EXAMPLE_TYPE_1, config=EMPTY_JSON, config_type=OCI_EMPTY,
                  layer_blobs=[os.urandom(512)], layer_type=EXAMPLE_TYPE_1)
        for _ in range(2)
    ]  # fmt: skip
    d.add(oci_index(children, artifact_type=EXAMPLE_TYPE_1), "artifact-index")
    return d


def ds_artifact_without_layers() -> DataSet:
    d = DataSet("artifact-without-layers")
    d.add(oci_image(artifact_type=EXAMPLE_TYPE_1, config=EMPTY_JSON, config_type=OCI_EMPTY,
                    layer_blobs=[EMPTY_JSON], layer_type=OCI_EMPTY), "artifact-without-layers")  # fmt: skip
    return d


def ds_artifacts_with_subject() -> DataSet:
    d = DataSet("artifacts-with-subject")
    subject = _image()
    d.add(subject, "image")
    d.add(oci_image(layers=2, subject=subject))  # an image with a subject: artifactType is its config type
    d.add(_artifact(EXAMPLE_TYPE_1, layer_type=EXAMPLE_TYPE_1, subject=subject), "tagged-artifact1")
    d.add(_artifact(EXAMPLE_TYPE_2, layer_type=OCTET, subject=subject), "tagged-artifact2")
    return d


def ds_index_with_subject() -> DataSet:
    d = DataSet("index-with-subject")
    subject = oci_index([_image(), _image()])
    d.add(subject, "index")
    children = [_artifact(EXAMPLE_TYPE_1, layer_type=EXAMPLE_TYPE_1, subject=subject) for _ in range(2)]
    d.add(
        oci_index(children, artifact_type=EXAMPLE_TYPE_1, subject=subject, annotations=uniq(ANNOTATION)),
        "tagged-artifact",
    )
    return d


def ds_missing_subject() -> DataSet:
    d = DataSet("missing-subject")
    missing = {"mediaType": OCI_MANIFEST, "size": 123, "digest": digest_of(b"missing content")}
    d.add(_artifact(EXAMPLE_TYPE_1, layer_type=EXAMPLE_TYPE_1, subject=missing), "tagged-artifact")
    return d


def ds_data_field() -> DataSet:
    d = DataSet("data-field")
    layers = [tar_gz_layer(f"df{i}.txt") for i in range(2)]
    cfg = image_config(author=os.urandom(8).hex())

    def with_data(media_type: str, data: bytes) -> dict[str, Any]:
        return descriptor(media_type, data, data=base64.b64encode(data).decode())

    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": with_data(OCI_CONFIG, cfg),
        "layers": [with_data(OCI_LAYER_GZIP, b) for b in layers],
    }
    blobs = {digest_of(b): b for b in [cfg, *layers]}
    d.add(Image(dumps(doc), OCI_MANIFEST, blobs), "data-field")
    return d


def ds_non_distributable_layers() -> DataSet:
    d = DataSet("non-distributable-layers")
    foreign = []
    for media_type, size in ((OCI_LAYER_ND_GZIP, 123456), (OCI_LAYER_ND, 12345)):
        digest = digest_of(os.urandom(256))
        url = f"https://store.example.com/blobs/sha256/{digest.split(':', 1)[1]}"
        foreign.append({"mediaType": media_type, "digest": digest, "size": size, "urls": [url]})
    layer = tar_gz_layer("nd.txt")
    cfg = image_config(author=os.urandom(8).hex())
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, cfg),
        "layers": [*foreign, descriptor(OCI_LAYER_GZIP, layer)],
    }
    d.add(Image(dumps(doc), OCI_MANIFEST, {digest_of(cfg): cfg, digest_of(layer): layer}),
          "non-distributable-image")  # fmt: skip
    return d


def ds_custom_fields() -> DataSet:
    d = DataSet("custom-fields")

    def extra() -> dict[str, Any]:
        return {f"custom{os.urandom(4).hex()}": os.urandom(8).hex()}

    children = []
    for _ in range(2):
        cfg = image_config(author=os.urandom(8).hex(), **extra())
        children.append(oci_image(layers=1, config=cfg, extra=extra()))
    d.add(oci_index(children, extra=extra()), "custom-fields")
    return d


def ds_no_layers() -> DataSet:
    d = DataSet("no-layers")
    d.add(oci_image(layers=0), "no-layers")
    return d


def ds_sha512() -> DataSet:
    """An index with two images, every digest sha512; pushed by digest only (no tags)."""
    d = DataSet("sha512")
    children = [oci_image(layers=2, algo="sha512") for _ in range(2)]
    d.add(oci_index(children, algo="sha512"))
    return d


def _tag_param(algo: str) -> DataSet:
    d = DataSet(f"tag-param-{algo}", tag_param=True)
    children = [oci_image(layers=1, algo=algo) for _ in range(2)]
    top = d.add(oci_index(children, algo=algo), f"tag-param-{algo}")
    for i, digest in enumerate(d.order):
        d.tags[f"tag-param-{algo}-{i}"] = digest
    assert d.tags[f"tag-param-{algo}"] == top
    return d


def ds_tag_param_sha256() -> DataSet:
    return _tag_param("sha256")


def ds_tag_param_sha512() -> DataSet:
    return _tag_param("sha512")


def ds_bad_digest_image() -> DataSet:
    """An image whose manifest is pushed by the digest of other bytes (two trailing spaces added)."""
    d = DataSet("bad-digest-image")
    image = _image()
    digest = d.add(image)
    d.manifests[digest] = (image.manifest + b"  ", image.media_type)
    d.bad_digest.add(digest)
    return d


BUILDERS: dict[str, Callable[[], DataSet]] = {
    "image": ds_image,
    "image-uncompressed": ds_image_uncompressed,
    "large-manifest": ds_large_manifest,
    "index": ds_index,
    "nested-index": ds_nested_index,
    "empty-index": ds_empty_index,
    "artifact": ds_artifact,
    "artifact-index": ds_artifact_index,
    "artifact-without-layers": ds_artifact_without_layers,
    "artifacts-with-subject": ds_artifacts_with_subject,
    "index-with-subject": ds_index_with_subject,
    "missing-subject": ds_missing_subject,
    "data-field": ds_data_field,
    "non-distributable-layers": ds_non_distributable_layers,
    "custom-fields": ds_custom_fields,
    "no-layers": ds_no_layers,
    "sha512": ds_sha512,
    "tag-param-sha256": ds_tag_param_sha256,
    "tag-param-sha512": ds_tag_param_sha512,
    "bad-digest-image": ds_bad_digest_image,
}

#: Data sets whose manifests carry a ``subject`` (the referrers checks apply to them).
WITH_SUBJECT = ("artifacts-with-subject", "index-with-subject", "missing-subject")
INDEX_TYPES = (OCI_INDEX,)
