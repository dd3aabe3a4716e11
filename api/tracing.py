"""W3C trace context for the events the API appends, and the span of each HTTP request.

The tracer provider is installed by `telemetry.tracing.setup` (create_app): it always makes ids,
so every run has a trace id, and records spans only when OTEL_TRACES_EXPORTER names an exporter.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import propagate, trace

from telemetry import tracing

_tracer = trace.get_tracer("api")


def trace_headers(event_type: str, key: str) -> tuple[list[tuple[str, bytes]], str | None]:
    """Kafka headers carrying the trace context of a new span, and its traceparent."""
    with _tracer.start_as_current_span(
        f"append {event_type}", kind=trace.SpanKind.PRODUCER
    ) as span:
        span.set_attribute("runbox.key", key)
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()], carrier.get("traceparent")


def request_spans(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a SERVER span around each HTTP request, named by its route, so the
    append spans (and through Kafka the whole run) hang under the request. Installed only when
    spans are exported."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        handler: Any = scope.get("route_handler")
        route = str(
            next(iter(handler.paths), scope["path"]) if handler is not None else scope["path"]
        )
        method = str(scope.get("method", "GET"))
        parent = tracing.headers_context(
            (k.decode("latin-1"), v) for k, v in scope.get("headers", ())
        )
        with _tracer.start_as_current_span(
            f"{method} {route}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await app(scope, receive, sending)

    return middleware


def middleware() -> list[Any]:
    """The app's tracing middleware: none unless spans are exported."""
    return [request_spans] if tracing.enabled() else []
