"""Prometheus metrics of one registry process, and their exposition summed over all worker processes.

With several workers, each writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode) and a scrape of any worker adds them up. The directory must be in the environment
before metrics are created: :func:`install` picks the value class again from the environment, so the
order in which modules were imported does not matter.
"""

from __future__ import annotations

import os

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STORAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5, 30)


class Metrics:
    """Every metric dockyard exports; one instance per process (see :func:`install`)."""

    def __init__(self) -> None:
        # prometheus_client is loaded by the processes that export metrics only (several MiB each)
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = MULTIPROCESS_ENV in os.environ
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "dockyard_http_requests_total",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "dockyard_http_request_duration_seconds",
            "Time from request to the end of the response, by route and method",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.bytes_in = Counter(
            "dockyard_http_request_bytes_total", "Request body bytes received, by route", ["route"],
            registry=registry,
        )  # fmt: skip
        self.bytes_out = Counter(
            "dockyard_http_response_bytes_total", "Response body bytes sent, by route", ["route"],
            registry=registry,
        )  # fmt: skip
        self.uploads_in_progress = Gauge(
            "dockyard_uploads_in_progress",
            "Blob upload requests (POST, PATCH, PUT) being served right now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.storage_latency = Histogram(
            "dockyard_storage_operation_duration_seconds",
            "Storage driver operations, by driver and operation (failed ones included)",
            ["driver", "operation"],
            buckets=_STORAGE_BUCKETS,
            registry=registry,
        )
        self.storage_errors = Counter(
            "dockyard_storage_operation_errors_total",
            "Storage driver operations that raised, by driver, operation and error",
            ["driver", "operation", "error"],
            registry=registry,
        )
        self.cache_requests = Counter(
            "dockyard_cache_requests_total",
            "Blob descriptor cache lookups, by cache (inmemory, redis) and result (hit, miss)",
            ["cache", "result"],
            registry=registry,
        )
        self.gc_runs = Counter(
            "dockyard_gc_runs_total", "Garbage collections run, by outcome", ["outcome"], registry=registry
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric (of all worker processes) and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


_current: Metrics | None = None


def install() -> Metrics:
    """Create this process's metrics (once); from now on :func:`current` returns them."""
    global _current
    if _current is None:
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _current = Metrics()
    return _current


def current() -> Metrics | None:
    """The process's metrics, or None when metrics are off."""
    return _current


def count_gc_run(outcome: str = "success") -> None:
    """The hook garbage collection calls after each run (a no-op when metrics are off)."""
    if _current is not None:
        _current.gc_runs.labels(outcome).inc()


def process_exited(pid: int) -> None:
    """Drop the live gauges of a worker that ended (its counters stay in the sums)."""
    if MULTIPROCESS_ENV in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
