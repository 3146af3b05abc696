"""atheris fuzzing of dockyard's parsers (tests/security/fuzz_targets.py), a few seconds per target.

``DOCKYARD_FUZZ_SECONDS`` sets the time per target (default 2). A crash fails the test with atheris's report;
the input that crashed is written under the test's directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_TARGETS = Path(__file__).with_name("fuzz_targets.py")
SECONDS = int(os.environ.get("DOCKYARD_FUZZ_SECONDS", "2"))


@pytest.mark.parametrize("target", ["grammar", "manifests", "config", "access_file", "htpasswd", "tokens"])
def test_parser_survives_fuzzing(target: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(FUZZ_TARGETS), target, f"-max_total_time={SECONDS}", "-print_final_stats=1",
         f"-artifact_prefix={tmp_path}/", "-timeout=10", "-rss_limit_mb=4096"],
        capture_output=True, text=True, timeout=SECONDS + 120,
    )  # fmt: skip
    report = "\n".join(line for line in proc.stderr.splitlines() if "Instrumenting" not in line)
    assert proc.returncode == 0, f"atheris found a crash in {target}:\n{report[-6000:]}"
    runs = re.search(r"stat::number_of_executed_units: (\d+)", proc.stderr)
    assert runs is not None and int(runs.group(1)) > 100, report[-2000:]
    print(f"\n{target}: {runs.group(1)} inputs")
