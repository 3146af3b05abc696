"""Build test images locally (there is no registry on the internet to pull from).

Images are OCI image layouts made with ``umoci`` (``init``, ``new``, ``raw add-layer``, ``config``): each
layer is a tar archive of generated files whose bytes are a function of a seed (a fake ``/bin/busybox`` with
distinct bytes per version, a fake ``/hello`` per platform...). umoci 0.4.7 cannot set the platform
``variant``, and cannot make an image index, so those two are done here by editing the JSON and re-digesting
(config -> manifest -> index.json), the way any OCI tool writes them.

The layouts are read by the clients as ``oci:DIR:REF`` (skopeo, podman) and pushed with ``skopeo copy``.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
CREATED = "2021-01-01T00:00:00Z"
MiB = 1 << 20


def run(
    cmd: list[str], *, timeout: float = 600, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; raise with its full output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm/v7`` -> Platform("linux", "arm", "v7")."""
        parts = text.split("/")
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_descriptor_platform(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def skopeo_overrides(self) -> list[str]:
        args = ["--override-os", self.os, "--override-arch", self.architecture]
        if self.variant:
            args += ["--override-variant", self.variant]
        return args


AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARMV7 = Platform("linux", "arm", "v7")
HELLO_PLATFORMS = (AMD64, ARM64, ARMV7)


@dataclass
class OciImage:
    """One reference (``ref``) in an OCI layout directory: a single image or an image index."""

    layout: Path
    ref: str
    #: for an index: the platform of each child manifest, by digest
    platforms: dict[str, Platform] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        """The image as skopeo/podman name it: ``oci:DIR:REF``."""
        return f"oci:{self.layout}:{self.ref}"

    @property
    def descriptor(self) -> dict[str, Any]:
        return find_ref(self.layout, self.ref)

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def media_type(self) -> str:
        return str(self.descriptor["mediaType"])

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.layout, digest)

    def read_json(self, digest: str) -> dict[str, Any]:
        return read_blob_json(self.layout, digest)

    def manifest(self) -> dict[str, Any]:
        return self.read_json(self.digest)

    def blob_digests(self) -> set[str]:
        """Every blob this reference uses: its manifest(s), configs, layers."""
        return reachable_blobs(self.layout, self.digest)


# -- generic OCI layout helpers ---------------------------------------------------------------------------
def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest


def read_blob_json(layout: Path, digest: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(blob_path(layout, digest).read_bytes())
    return data


def write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    """Store bytes as a blob; returns the ``digest``/``size`` part of a descriptor."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=False).encode()


def read_index(layout: Path) -> dict[str, Any]:
    index: dict[str, Any] = json.loads((layout / "index.json").read_text())
    return index


def find_ref(layout: Path, ref: str) -> dict[str, Any]:
    for descriptor in read_index(layout)["manifests"]:
        if descriptor.get("annotations", {}).get(REF_ANNOTATION) == ref:
            found: dict[str, Any] = descriptor
            return found
    raise KeyError(f"no reference {ref!r} in {layout}/index.json")


def set_ref(layout: Path, ref: str, descriptor: Mapping[str, Any]) -> None:
    """Point ``ref`` in index.json at ``descriptor`` (replacing what it pointed at)."""
    index = read_index(layout)
    entry = dict(descriptor)
    entry["annotations"] = {**entry.get("annotations", {}), REF_ANNOTATION: ref}
    index["manifests"] = [
        d for d in index["manifests"] if d.get("annotations", {}).get(REF_ANNOTATION) != ref
    ] + [entry]
    (layout / "index.json").write_bytes(canonical_json(index))


def reachable_blobs(layout: Path, digest: str) -> set[str]:
    """The digest and, for a manifest or index, everything it references (recursively)."""
    found = {digest}
    doc = read_blob_json(layout, digest)
    if "manifests" in doc:
        for child in doc["manifests"]:
            found |= reachable_blobs(layout, child["digest"])
    else:
        found.add(doc["config"]["digest"])
        found.update(layer["digest"] for layer in doc["layers"])
    return found


def image_config(layout: Path, manifest_digest: str) -> dict[str, Any]:
    manifest = read_blob_json(layout, manifest_digest)
    return read_blob_json(layout, manifest["config"]["digest"])


# -- layers -----------------------------------------------------------------------------------------------
def seeded_bytes(seed: str, size: int) -> bytes:
    """``size`` bytes that depend only on ``seed``."""
    return random.Random(seed).randbytes(size)


class SeededStream(io.RawIOBase):
    """A read-only stream of ``size`` pseudo-random bytes from ``seed``, made as it is read (for large
    layers: never held in memory)."""

    def __init__(self, seed: str, size: int) -> None:
        self._random = random.Random(seed)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, 4 * MiB)
        if n <= 0:
            return 0
        buffer[:n] = self._random.randbytes(n)
        self._left -= n
        return n


@dataclass(frozen=True)
class LayerFile:
    path: str
    data: bytes | None = None  # None with size: a streamed seeded file
    mode: int = 0o644
    size: int = 0
    seed: str = ""


def write_layer_tar(dest: Path, files: Iterable[LayerFile]) -> None:
    """A deterministic uncompressed layer tar: fixed mtime/owner, parent directories included."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        seen_dirs: set[str] = set()
        for item in files:
            parts = item.path.strip("/").split("/")
            for i in range(1, len(parts)):
                directory = "/".join(parts[:i])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 1609459200
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.mode = item.mode
            info.mtime = 1609459200
            if item.data is not None:
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
            else:
                info.size = item.size
                tar.addfile(info, io.BufferedReader(SeededStream(item.seed, item.size), buffer_size=4 * MiB))


# -- building with umoci ----------------------------------------------------------------------------------
def umoci_init(layout: Path) -> None:
    if not (layout / "index.json").exists():
        layout.parent.mkdir(parents=True, exist_ok=True)
        run(["umoci", "init", "--layout", str(layout)])


def build_image(
    layout: Path,
    ref: str,
    platform: Platform,
    layers: list[list[LayerFile]],
    *,
    cmd: str = "/bin/sh",
    labels: Mapping[str, str] | None = None,
) -> OciImage:
    """A single-platform image ``layout:ref`` with one layer per entry of ``layers``."""
    umoci_init(layout)
    image = f"{layout}:{ref}"
    run(["umoci", "new", "--image", image])
    for number, files in enumerate(layers):
        tar_path = layout.parent / f".{layout.name}-{ref}-layer{number}.tar"
        write_layer_tar(tar_path, files)
        try:
            run(
                [
                    "umoci", "raw", "add-layer", "--image", image,
                    "--history.created", CREATED, "--history.created_by", f"dockyard-tests layer {number}",
                    str(tar_path),
                ]
            )  # fmt: skip
        finally:
            tar_path.unlink(missing_ok=True)
    config_cmd = [
        "umoci", "config", "--image", image,
        "--architecture", platform.architecture, "--os", platform.os,
        "--created", CREATED, "--history.created", CREATED,
        "--config.cmd", cmd,
    ]  # fmt: skip
    for key, value in (labels or {}).items():
        config_cmd += ["--config.label", f"{key}={value}"]
    run(config_cmd)
    if platform.variant:
        set_variant(layout, ref, platform.variant)
    run(["umoci", "gc", "--layout", str(layout)])
    built = OciImage(layout, ref)
    config = image_config(layout, built.digest)
    actual = Platform(config["os"], config["architecture"], config.get("variant"))
    assert actual == platform, f"built {ref} for {actual}, wanted {platform}"
    return built


def set_variant(layout: Path, ref: str, variant: str) -> None:
    """Set the config's ``variant`` (umoci 0.4.7 has no flag for it) and re-digest manifest and index."""
    descriptor = find_ref(layout, ref)
    manifest = read_blob_json(layout, descriptor["digest"])
    config = read_blob_json(layout, manifest["config"]["digest"])
    config["variant"] = variant
    manifest["config"].update(write_blob(layout, canonical_json(config)))
    new_descriptor = {**descriptor, **write_blob(layout, canonical_json(manifest))}
    set_ref(layout, ref, new_descriptor)


def make_index(layout: Path, ref: str, images: Mapping[Platform, OciImage]) -> OciImage:
    """An OCI image index ``layout:ref`` over single-platform images already in ``layout``."""
    manifests = []
    for platform, image in images.items():
        assert image.layout == layout
        descriptor = image.descriptor
        manifests.append(
            {
                "mediaType": descriptor["mediaType"],
                "digest": descriptor["digest"],
                "size": descriptor["size"],
                "platform": platform.as_descriptor_platform(),
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    set_ref(layout, ref, {"mediaType": OCI_INDEX, **write_blob(layout, canonical_json(index))})
    return OciImage(layout, ref, platforms={img.digest: p for p, img in images.items()})


# -- the test images --------------------------------------------------------------------------------------
def busybox_files(version: str) -> list[LayerFile]:
    """A busybox-like root filesystem: a fake /bin/busybox whose bytes differ per version."""
    binary = f"#!fake-busybox {version}\n".encode() + seeded_bytes(f"busybox-{version}", 64 * 1024)
    return [
        LayerFile("bin/busybox", binary, mode=0o755),
        LayerFile("etc/os-release", f"NAME=fakebox\nVERSION={version}\n".encode()),
        LayerFile("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
    ]


def build_busybox(layout: Path, version: str, platform: Platform = AMD64) -> OciImage:
    """A single-layer busybox-like image ``layout:<version>``."""
    return build_image(
        layout, version, platform, [busybox_files(version)],
        cmd="/bin/busybox", labels={"org.dockyard.test.image": f"busybox-{version}"},
    )  # fmt: skip


def build_hello(
    layout: Path, ref: str = "hello", platforms: Iterable[Platform] = HELLO_PLATFORMS
) -> OciImage:
    """A multi-platform ``hello``: an OCI image index over one two-layer image per platform; every
    platform's config and layers differ (as ``docker buildx build --platform ...`` makes)."""
    images: dict[Platform, OciImage] = {}
    for platform in platforms:
        tag = f"{ref}-{str(platform).replace('/', '-')}"
        base = [
            LayerFile(
                "lib/ld-fake.so", f"loader for {platform}\n".encode() + seeded_bytes(f"ld-{platform}", 8192)
            )
        ]
        app = [
            LayerFile(
                "hello",
                f"#!fake-hello {platform}\n".encode() + seeded_bytes(f"hello-{platform}", 16384),
                mode=0o755,
            )
        ]
        images[platform] = build_image(
            layout, tag, platform, [base, app],
            cmd="/hello", labels={"org.dockyard.test.image": f"hello-{platform}"},
        )  # fmt: skip
    return make_index(layout, ref, images)


def build_large(layout: Path, size: int, ref: str = "large", seed: str = "large") -> OciImage:
    """An image with one layer holding a single ``size``-byte pseudo-random file (streamed to disk)."""
    return build_image(
        layout, ref, AMD64, [[LayerFile("data/random.bin", None, size=size, seed=seed)]],
        cmd="/bin/true", labels={"org.dockyard.test.image": f"large-{size}"},
    )  # fmt: skip
