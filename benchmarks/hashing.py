"""SHA-256 throughput: ``hashlib.sha256`` against dockyard's resumable SHA-256 (OpenSSL through ctypes).

    .venv/bin/python benchmarks/hashing.py                 # 1 GiB in 16 KiB, 64 KiB and 4 MiB pieces
    .venv/bin/python benchmarks/hashing.py --mib 256 --rounds 5

Hashing is on the push path of every upload, so the resumable hasher must be as fast as ``hashlib``. Both
hash the same bytes in the same pieces (16 and 64 KiB: socket reads; 4 MiB: the batches uploads hand to a
worker thread); the best of ``--rounds`` runs is reported, in MB/s, with the ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.registry.resumable_sha256 import ResumableSha256

MB = 1_000_000


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def _run(make: Callable[[], _Hasher], pieces: list[bytes], total: int) -> tuple[float, str]:
    started = time.perf_counter()
    hasher = make()
    for _repeat in range(total // (len(pieces) * len(pieces[0]))):
        for piece in pieces:
            hasher.update(piece)
    return total / (time.perf_counter() - started) / MB, hasher.hexdigest()


def _best_of(pieces: list[bytes], total: int, rounds: int) -> tuple[float, float]:
    """The best MB/s of each, the two taking turns so that a busy moment of the machine hits both alike."""
    plain = resumable = 0.0
    for _ in range(rounds):
        plain_rate, plain_digest = _run(hashlib.sha256, pieces, total)
        resumable_rate, resumable_digest = _run(ResumableSha256, pieces, total)
        assert plain_digest == resumable_digest
        plain, resumable = max(plain, plain_rate), max(resumable, resumable_rate)
    return plain, resumable


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="bytes hashed per run (MiB)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    total = args.mib << 20
    print(f"{'piece':>8} {'hashlib MB/s':>13} {'resumable MB/s':>15} {'ratio':>6}")
    for piece_size in (16 << 10, 64 << 10, 4 << 20):
        pieces = [os.urandom(piece_size) for _ in range(max(1, (16 << 20) // piece_size))]
        total_here = total - total % (len(pieces) * piece_size)
        plain, resumable = _best_of(pieces, total_here, args.rounds)
        label = f"{piece_size >> 10} KiB"
        print(f"{label:>8} {plain:>13.0f} {resumable:>15.0f} {resumable / plain:>5.2f}x")


if __name__ == "__main__":
    main()
