"""W3C trace context for the events the API appends, from an OpenTelemetry SDK tracer."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

_provider = TracerProvider(resource=Resource.create({"service.name": "runbox-api"}))
_tracer = _provider.get_tracer("api")


def trace_headers(event_type: str, key: str) -> tuple[list[tuple[str, bytes]], str | None]:
    """Kafka headers carrying the trace context of a new span, and its traceparent."""
    with _tracer.start_as_current_span(
        f"append {event_type}", kind=trace.SpanKind.PRODUCER
    ) as span:
        span.set_attribute("runbox.key", key)
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()], carrier.get("traceparent")
