"""OpenTelemetry traces: one trace per run, from the HTTP request through Kafka to the projector.

Each component calls `setup` once at start. The exporter is chosen by the standard variable
`OTEL_TRACES_EXPORTER` (comma-separated): `none` (the default: no span is recorded, nothing is
exported, so the latency-tuned path pays nothing but a header copy), `otlp` (OTLP over HTTP; the
standard `OTEL_EXPORTER_OTLP_*` variables say where) or `console` (one JSON object a line on
stdout, for debugging and the end-to-end test). The trace context travels in the W3C
`traceparent` Kafka header: `extract` reads it on consume, `inject` writes the current one on
produce.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

EXPORTERS = ("none", "otlp", "console")

_enabled = False
_installed = False
# With tracing off: the traceparent header of the message being handled, passed on untouched.
_incoming: ContextVar[bytes | None] = ContextVar("runbox_traceparent", default=None)


class TracingConfigError(ValueError):
    """OTEL_TRACES_EXPORTER names an exporter we do not have."""


def exporter_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER asks for, `none` left out; refuses unknown names."""
    value = (environ if environ is not None else os.environ).get("OTEL_TRACES_EXPORTER", "none")
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={value!r} is not valid: expected a comma-separated list of "
            f"{', '.join(EXPORTERS)}"
        )
    return [n for n in names if n != "none"]


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def _exporter(name: str) -> tuple[SpanExporter, bool]:
    """The exporter and whether it is batched (a console line is written as the span ends)."""
    if name == "console":
        return ConsoleSpanExporter(out=sys.stdout, formatter=_one_line), False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(), True


def setup(
    service: str, *, mint_ids: bool = False, environ: Mapping[str, str] | None = None
) -> bool:
    """Install the tracer provider of `service` (`runbox-api`, ...); True if spans are exported.

    With no exporter nothing is installed: the API's default no-op tracer keeps contexts that
    arrive from upstream but records nothing. `mint_ids` (the API, where traces start) installs
    a provider that makes ids even then, so every run has a trace id for the logs.
    """
    global _enabled, _installed
    names = exporter_names(environ)
    if _installed:  # one provider a process (an app built twice in one test process)
        return _enabled
    if not names and not mint_ids:
        _enabled = False
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for name in names:
        exporter, batched = _exporter(name)
        provider.add_span_processor(
            BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
        )
    trace.set_tracer_provider(provider)
    _installed = True
    _enabled = bool(names)
    return _enabled


def setup_or_exit(service: str, *, mint_ids: bool = False) -> bool:
    """`setup`, for an entry point: a bad OTEL_TRACES_EXPORTER is one line and exit status 2,
    like every other bad setting."""
    try:
        return setup(service, mint_ids=mint_ids)
    except TracingConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def enabled() -> bool:
    """Spans are exported: worth recording attributes and the spans made after the fact."""
    return _enabled


def shutdown() -> None:
    """Flush the batched spans (at exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def headers_context(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Any:
    """The trace context carried by Kafka headers (an empty one without `traceparent`)."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    carrier = {
        k: v.decode("latin-1") if isinstance(v, bytes) else str(v)
        for k, v in items
        if k in ("traceparent", "tracestate")
    }
    return propagate.extract(carrier)


def traceparent_context(traceparent: str | None) -> Any:
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


@contextmanager
def consuming(
    name: str,
    headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Handle one consumed message inside the trace its headers carry: a CONSUMER span when
    tracing is on; otherwise only its `traceparent`, kept as it came (no parsing: the default
    path stays a few microseconds), so logs and produced headers keep the trace."""
    if not _enabled:
        items = headers.items() if isinstance(headers, Mapping) else (headers or ())
        raw = next((v for k, v in items if k == "traceparent"), None)
        token = _incoming.set(raw if isinstance(raw, bytes) else None)
        try:
            yield
        finally:
            _incoming.reset(token)
        return
    with trace.get_tracer("runbox").start_as_current_span(
        name, context=headers_context(headers), kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield


def inject() -> dict[str, bytes]:
    """Kafka headers carrying the current trace context; empty outside any trace."""
    if not _enabled:
        raw = _incoming.get()
        return {"traceparent": raw} if raw else {}
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v.encode() for k, v in carrier.items()}


def record_span(
    name: str,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None = None,
    parent: Any = None,
) -> None:
    """A span of something already measured (a compile step inside the sandbox, a projected
    event inside its batch), under `parent` or the current context. Nothing when tracing is off."""
    if not _enabled:
        return
    span = trace.get_tracer("runbox").start_span(
        name, context=parent, start_time=start_ns, attributes=attributes
    )
    span.end(end_time=end_ns)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None outside a trace: the current span's, or
    with tracing off the one of the message being handled (`00-<trace id>-<span id>-<flags>`)."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return format(span_context.trace_id, "032x")
    raw = _incoming.get()
    return raw[3:35].decode("latin-1") if raw and len(raw) >= 35 else None
