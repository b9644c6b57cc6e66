"""Prometheus metrics: every metric Agora exports is defined here, and `exposition` renders
them (GET /metrics, http/observability.py).

Invariants:
- A metric is defined once, here; the code that counts imports it (a counter costs about a
  microsecond: no metric may query anything on the hot path).
- Several processes (`agora serve --workers N`, `agora worker`) share one view through
  prometheus-client's multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set (before this
  module is imported: `agora serve --workers N` sets it for its children), every process
  writes its values to files there and a scrape of any process sums them all. Gauges of live
  things (streaming connections) count only processes that are alive.
- Values read from the database (the job queue's depth and oldest job per kind) are
  measured when scraped, in the scraping request, never stored in a process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "agora_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "agora_http_request_duration_seconds",
    "Time to answer an HTTP request (until its last body byte), by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS_RUN = Counter(
    "agora_jobs_run",
    "Background jobs run, by kind and outcome (ok, retry: failed and retried later, dead: "
    "failed with its attempts spent, postponed: to run later, lost: another worker took it "
    "over).",
    ["kind", "outcome"],
)
JOB_FAILURES = Counter("agora_job_failures", "Background jobs that failed, by kind.", ["kind"])
STREAMING_CONNECTIONS = Gauge(
    "agora_streaming_connections",
    "Open streaming connections (server-sent events and WebSockets), by wire.",
    ["wire"],
    multiprocess_mode="livesum",
)
FEDERATION_DELIVERIES = Counter(
    "agora_federation_deliveries",
    "Outgoing ActivityPub deliveries, by outcome (delivered, refused: a 4xx kept for good, "
    "failed: retried later, postponed: circuit open, dropped: domain unavailable or blocked).",
    ["outcome"],
)
MODEL_CALLS = Counter(
    "agora_model_calls", "Calls to the assistant's language model, by action.", ["action"]
)
MODEL_TOKENS = Counter(
    "agora_model_tokens",
    "Tokens of the assistant's model calls, by action and direction (prompt, completion).",
    ["action", "direction"],
)


class QueueCollector(Collector):
    """The job queue's depth and the age of its oldest due job, per kind and state, as
    measured by the scraping request (`rows`: kind, state, jobs, oldest age in seconds)."""

    def __init__(self, rows: Iterable[tuple[str, str, int, float]]) -> None:
        self.rows = list(rows)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The two gauges."""
        depth = GaugeMetricFamily(
            "agora_job_queue_depth",
            "Jobs in the queue, by kind and state.",
            labels=["kind", "state"],
        )
        age = GaugeMetricFamily(
            "agora_job_queue_oldest_seconds",
            "Age of the oldest job in the queue that is due to run, by kind and state.",
            labels=["kind", "state"],
        )
        for kind, state, count, oldest in self.rows:
            depth.add_metric([kind, state], count)
            age.add_metric([kind, state], oldest)
        yield depth
        yield age


def exposition(queue: Iterable[tuple[str, str, int, float]]) -> bytes:
    """Every metric in Prometheus's text format: this process's, or all processes' in
    multiprocess mode, then the queue as measured now."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        _forget_dead_processes(directory)
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        text = generate_latest(shared)
    else:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    measured = CollectorRegistry()
    measured.register(QueueCollector(queue))
    return text + generate_latest(measured)


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of processes that exited (killed ones included)."""
    for name in os.listdir(directory):
        if not (name.startswith("gauge_live") and name.endswith(".db")):
            continue
        pid = int(name.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        except PermissionError:  # alive, someone else's
            pass
