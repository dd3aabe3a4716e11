"""Traces and logs without services: the exporter setting, trace ids in log lines, and the
trace context carried through a worker's message when no exporter is configured."""

from __future__ import annotations

import logging

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

from processors.publisher import trace_headers
from telemetry import tracing
from telemetry.logs import JsonFormatter
from tests.samples import run_requested

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_no_exporter_by_default_and_unknown_ones_refused() -> None:
    assert tracing.exporter_names({}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "otlp, console"}) == ["otlp", "console"]
    with pytest.raises(tracing.TracingConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "zipkin"})


def line(message: str) -> dict[str, object]:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, (), None)
    decoded: dict[str, object] = orjson.loads(JsonFormatter().format(record))
    return decoded


def test_a_log_line_inside_a_span_carries_its_trace_id() -> None:
    assert "trace_id" not in line("outside")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("inside") as span:
        inside = line("inside")
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_without_an_exporter_a_worker_keeps_the_trace_of_the_message() -> None:
    """The default path: no span is made, but what the worker logs and sends stays in the
    run's trace (the traceparent header it received)."""
    assert not tracing.enabled()
    request = run_requested()
    with tracing.consuming("screen executions.requested", [("traceparent", PARENT.encode())]):
        assert line("screening")["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert trace_headers(request) == {"traceparent": PARENT.encode()}
    assert tracing.current_trace_id() is None


def test_otlp_exports_in_batches_to_the_standard_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.invalid:4318")
    exporter, batched = tracing._exporter("otlp")
    try:
        assert batched
        assert type(exporter).__name__ == "OTLPSpanExporter"
        assert exporter._endpoint == "http://collector.invalid:4318/v1/traces"  # type: ignore[attr-defined]
    finally:
        exporter.shutdown()
