"""Prometheus metrics: every metric of the engine, declared once, in the default registry.

Each process exposes its own registry: the API at `GET /metrics` (admission, heartbeat ages,
consumer lag), each processors worker on `METRICS_PORT` and the projector on
`PROJECTOR_METRICS_PORT` (`serve`), so no process shows another's metrics as zeros. Updates are
plain counter and histogram operations (a lock and an add), cheap enough for the run's path.
The Grafana dashboard (docs/grafana/runbox.json) queries these names;
tests/unit/test_metrics.py checks that every name it uses is declared here.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)

log = logging.getLogger("telemetry.metrics")

# Seconds: from a hello world (a few ms) to the longest time limit (60 s).
_RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Queue waits go from milliseconds (idle) to tens of seconds (a backlog).
_QUEUE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

API = CollectorRegistry()
PROCESSORS = CollectorRegistry()
PROJECTOR = CollectorRegistry()
for _registry in (API, PROCESSORS, PROJECTOR):  # process_cpu_seconds_total, resident memory...
    ProcessCollector(registry=_registry)

# processors
RUNS = Counter(
    "runbox_runs",
    "Attempts the executor finished, by language and status (COMPLETED, FAILED, TIMEOUT) and "
    "error code (none, E001-E005)",
    ["language", "status", "error_code"],
    registry=PROCESSORS,
)
QUEUE_WAIT = Histogram(
    "runbox_run_queue_wait_seconds",
    "From the API's RunRequested to the executor starting the attempt",
    buckets=_QUEUE_BUCKETS,
    registry=PROCESSORS,
)
DISPATCHES = Counter(
    "runbox_dispatches",
    "Attempts claimed by this worker, by path: local (started by the worker that accepted it, "
    "without waiting for its record to come back from executions.dispatch) or log (its record "
    "read from executions.dispatch)",
    ["path"],
    registry=PROCESSORS,
)
RUN_DURATION = Histogram(
    "runbox_run_duration_seconds",
    "The program's wall time in the sandbox (execution_time_ms), by language",
    ["language"],
    buckets=_RUN_BUCKETS,
    registry=PROCESSORS,
)
RUN_STARTS = Counter(
    "runbox_run_starts",
    "Run steps by language and start: warm (handed to a sandbox started ahead, see "
    "docs/warm-sandboxes.md) or cold",
    ["language", "start"],
    registry=PROCESSORS,
)
COMPILE_DURATION = Histogram(
    "runbox_compile_duration_seconds",
    "The compile step's wall time (compile_time_ms), compiled languages only",
    ["language"],
    buckets=_RUN_BUCKETS,
    registry=PROCESSORS,
)
SLOTS = Gauge(
    "runbox_sandbox_slots", "Sandbox slots of this worker (runs at once)", registry=PROCESSORS
)
SLOTS_BUSY = Gauge(
    "runbox_sandbox_slots_busy", "Sandbox slots running a program now", registry=PROCESSORS
)
RETRIES = Counter(
    "runbox_retries",
    "Attempts that failed for reasons of ours and were scheduled again",
    registry=PROCESSORS,
)
DEAD_LETTERS = Counter("runbox_dead_letters", "Runs dead-lettered (E005)", registry=PROCESSORS)
SAFETY_REJECTIONS = Counter(
    "runbox_safety_rejections",
    "Runs refused before running (E006, or a session cooling down), by rule",
    ["rule"],
    registry=PROCESSORS,
)

# api
RATE_LIMITED = Counter(
    "runbox_rate_limited",
    "Run requests the API refused with 429 or 503 backpressure, by reason",
    ["reason"],
    registry=API,
)
HEARTBEAT_AGE = Gauge(
    "runbox_worker_heartbeat_age_seconds",
    "Age of each worker's last heartbeat in the fleet hash, read when /metrics is scraped",
    ["worker_id"],
    registry=API,
)
CONSUMER_LAG = Gauge(
    "runbox_consumer_lag_messages",
    "Messages not yet consumed, by consumer (the processors' group, the projector) and topic; "
    "measured by the API when /metrics is scraped, at most every 5 s",
    ["group", "topic"],
    registry=API,
)

# projector
EVENTS_PROJECTED = Counter(
    "runbox_events_projected",
    "Events the projector applied, by topic",
    ["topic"],
    registry=PROJECTOR,
)
PROJECTOR_LAG = Gauge(
    "runbox_projector_lag_messages",
    "Messages in the log not yet applied by the projector, by topic (its own offsets against "
    "the partitions' high watermarks, as of the last fetch)",
    ["topic"],
    registry=PROJECTOR,
)


def render(registry: CollectorRegistry = API) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> bool:
    """Serve /metrics on `port` from a thread of its own (0: not at all); True if serving.

    A port already taken (two workers on one host with the same METRICS_PORT) costs the
    metrics of that worker, logged, not the worker.
    """
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics not served: port %d: %s", port, exc)
        return False
    log.info("metrics served on port %d", port)
    return True
