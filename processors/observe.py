"""What the executor tells operators about a sandbox run: its span (with the compile and run
steps inside it, timed by the sandbox) and its metrics (telemetry/metrics.py).

One context manager around `sandbox.run`, so the executor's code keeps one line for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from opentelemetry import trace

from sandbox import Limits, Result
from schemas import events
from telemetry import metrics, tracing

_tracer = trace.get_tracer("processors.executor")


class SandboxRun:
    """Filled in by the executor with the sandbox's result."""

    result: Result | None = None


@contextmanager
def sandbox_run(request: events.RunRequested, attempt: int, limits: Limits) -> Iterator[SandboxRun]:
    """Measure one sandbox run: busy slots, queue wait, then what the result says."""
    language = request.language.key
    if attempt == 1:
        wait = (datetime.now(UTC) - request.requested_at).total_seconds()
        metrics.QUEUE_WAIT.observe(max(wait, 0.0))
    run = SandboxRun()
    metrics.SLOTS_BUSY.inc()
    try:
        if not tracing.enabled():
            yield run
        else:
            with _tracer.start_as_current_span(
                "sandbox.run",
                attributes={
                    "runbox.execution_id": request.execution_id,
                    "runbox.attempt": attempt,
                    "runbox.language": language,
                    "runbox.limits.time_limit_ms": limits.time_limit_ms,
                    "runbox.limits.memory_mb": limits.memory_mb,
                },
            ) as span:
                start_ns = time.time_ns()
                yield run
                if run.result is not None:
                    _annotate(span, run.result, start_ns, time.time_ns())
    finally:
        metrics.SLOTS_BUSY.dec()
    result = run.result
    if result is None:
        return
    code = result.error_code.value if result.error_code else "none"
    metrics.RUNS.labels(language, result.status.value, code).inc()
    if result.execution_time_ms is not None:
        metrics.RUN_DURATION.labels(language).observe(result.execution_time_ms / 1000)
        metrics.RUN_STARTS.labels(language, "warm" if result.warm_start else "cold").inc()
    if result.compile_time_ms is not None:
        metrics.COMPILE_DURATION.labels(language).observe(result.compile_time_ms / 1000)


def _annotate(span: trace.Span, result: Result, start_ns: int, end_ns: int) -> None:
    """The result on the span, and the compile and run steps as its children: the compile
    from the start, the run up to the end (the sandbox measured both)."""
    span.set_attribute("runbox.status", result.status.value)
    span.set_attribute("runbox.start", "warm" if result.warm_start else "cold")
    if result.error_code:
        span.set_attribute("runbox.error_code", result.error_code.value)
        span.set_status(trace.StatusCode.ERROR, result.error_code.value)
    if result.exit_code is not None:
        span.set_attribute("runbox.exit_code", result.exit_code)
    if result.memory_peak_kb is not None:
        span.set_attribute("runbox.memory_peak_kb", result.memory_peak_kb)
    if result.compile_time_ms is not None:
        tracing.record_span(
            "sandbox.compile",
            start_ns,
            min(start_ns + result.compile_time_ms * 1_000_000, end_ns),
            {"runbox.compile_time_ms": result.compile_time_ms},
        )
    if result.execution_time_ms is not None:
        tracing.record_span(
            "sandbox.execute",
            max(end_ns - result.execution_time_ms * 1_000_000, start_ns),
            end_ns,
            {
                "runbox.execution_time_ms": result.execution_time_ms,
                "runbox.cpu_time_ms": result.cpu_time_ms or 0,
            },
        )
