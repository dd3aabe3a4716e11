"""Traces and logs without services: the exporter setting, trace ids in log lines, and the
trace context carried through a worker's message when no exporter is configured."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

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


def test_with_otlp_a_component_sends_its_spans_to_the_collector() -> None:
    """A process set up with OTEL_TRACES_EXPORTER=otlp POSTs its spans (protobuf) to
    OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces by the time it exits: a collector stand-in counts."""
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = (
            "from telemetry import tracing\n"
            "assert tracing.setup('runbox-test')\n"
            "with tracing.tracer('t').start_as_current_span('exported-span'):\n"
            "    pass\n"
        )
        env = {
            **os.environ,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        }
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
    finally:
        server.shutdown()
        server.server_close()
    assert [path for path, _ in received] == ["/v1/traces"]
    assert b"exported-span" in received[0][1]
    assert b"runbox-test" in received[0][1]
