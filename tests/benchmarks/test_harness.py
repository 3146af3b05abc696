"""The benchmark harness in its quick mode (tiny sizes, 1 s load runs): every figure is measured for both
servers and is a positive number. How fast anything is stays out of the test suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def test_quick_run_measures_every_figure_on_both_servers(tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(HARNESS), "--quick", "--workdir", str(tmp_path / "work"), "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(output.read_text())["figures"]
    small = ("head_blob", "get_manifest", "get_base", "get_blob_4k")
    expected = {
        *("push_monolithic", "push_chunked", "pull", "pull_x4", "small_pushes", "tags_list", "catalog"),
        *(f"{name}{suffix}" for name in small for suffix in ("", "_p50", "_p99")),
        *("loopback", "pull_of_loopback"),
        *("peak_rss", "peak_pss"),
    }
    # what a quick run may measure as nothing: CPU seconds of tiny transfers, memory that did not grow,
    # and the HEAD latencies ab reports in whole milliseconds (below 0.5 ms at 8 connections it says 0)
    may_be_zero = {
        *("push_cpu", "chunked_cpu", "pull_cpu"),
        *("push_rss_growth", "memory_push_growth", "memory_pull_growth"),
        *("head_blob_p50", "head_blob_p99"),
    }
    assert set(figures) == expected | may_be_zero
    for name, figure in figures.items():
        for kind in ("dockyard", "reference"):
            assert figure[kind] >= 0 if name in may_be_zero else figure[kind] > 0, (name, kind, figure)
    table = result.stdout
    assert "push_monolithic" in table and "ratio" in table
