"""The metrics of one process: the garbage-collection hook counts runs, and the exposition shows them."""

from __future__ import annotations

from dockyard import metrics


def _value(text: str, sample: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_gc_hook_counts_runs_by_outcome() -> None:
    installed = metrics.install()
    assert metrics.current() is installed and metrics.install() is installed
    text = installed.exposition()[0].decode()
    success = _value(text, 'dockyard_gc_runs_total{outcome="success"}')
    metrics.count_gc_run()
    metrics.count_gc_run()
    metrics.count_gc_run("failure")
    body, content_type = installed.exposition()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert _value(text, 'dockyard_gc_runs_total{outcome="success"}') == success + 2
    assert _value(text, 'dockyard_gc_runs_total{outcome="failure"}') >= 1
