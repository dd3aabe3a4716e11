"""The envelope: round trips, versioning with upcasters, clear errors, published JSON Schemas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas import (
    Envelope,
    SchemaError,
    UnknownEventType,
    UnsupportedVersion,
    decode,
    encode,
    events,
    new_event,
)
from schemas.jsonschema import OUTPUT, rendered
from tests.samples import run_finished, run_requested

NOW = datetime(2026, 11, 28, 12, 30, 15, 123456, tzinfo=UTC)
LANGUAGE = events.LanguageRef(id=str(uuid.uuid4()), key="python", name="Python 3", version="3.11.2")
REQUEST = run_requested(
    language=LANGUAGE,
    source_code="print('héllo')\n",
    stdin="1 2\n",
    requested_at=NOW,
    traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
)
SAMPLES: list[events.Event] = [
    events.SessionCreated(
        session_id="s1", language_id=LANGUAGE.id, source_code="x", created_at=NOW
    ),
    events.SessionCodeUpdated(session_id="s1", source_code="y", updated_at=NOW),
    events.SessionClosed(session_id="s1", closed_at=NOW),
    REQUEST,
    events.RunAccepted(execution_id=REQUEST.execution_id, attempt=1, request=REQUEST),
    events.RunRejected(execution_id="e1", reason="too big", rejected_at=NOW),
    events.RunStarted(execution_id="e1", attempt=1, worker_id="w", started_at=NOW),
    events.OutputChunk(execution_id="e1", attempt=1, stream="stdout", seq=3, data="ü\n"),
    run_finished(
        "e1",
        attempt=2,
        worker_id="w",
        status="FAILED",
        error_code="E002",
        exit_code=1,
        stdout="",
        stderr="boom",
        stderr_truncated=True,
        execution_time_ms=12,
        cpu_time_ms=10,
        memory_peak_kb=9000,
        started_at=NOW,
        finished_at=NOW + timedelta(milliseconds=12),
    ),
    events.RetryScheduled(
        execution_id="e1", attempt=2, not_before=NOW, reason="x", request=REQUEST
    ),
    events.DeadLettered(
        execution_id="e1", attempts=3, reason="x", request=REQUEST, dead_lettered_at=NOW
    ),
]


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: type(p).__name__)
def test_round_trip_keeps_every_field(payload: events.Event) -> None:
    envelope = new_event(payload, occurred_at=NOW)
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert decoded.occurred_at.tzinfo is not None
    assert decoded.key == payload.key


def test_wire_format_is_plain_json_with_microseconds() -> None:
    document = orjson.loads(encode(new_event(REQUEST, occurred_at=NOW)))
    assert document["type"] == "RunRequested"
    assert document["version"] == 1
    assert document["occurred_at"] == "2026-11-28T12:30:15.123456Z"
    assert document["key"] == REQUEST.execution_id
    assert document["payload"]["language"]["key"] == "python"
    uuid.UUID(document["event_id"])


def test_events_are_immutable() -> None:
    with pytest.raises(AttributeError):
        REQUEST.stdin = "changed"  # type: ignore[misc]


def test_an_older_version_is_upcast() -> None:
    old = orjson.loads(encode(new_event(events.SessionClosed(session_id="s1", closed_at=NOW))))
    old["version"] = 0
    old["payload"] = {"session": "s1", "closed_at": old["payload"]["closed_at"]}

    def v0_to_v1(payload: dict[str, object]) -> dict[str, object]:
        return {"session_id": payload["session"], "closed_at": payload["closed_at"]}

    decoded: Envelope[events.Event] = decode(orjson.dumps(old), {("SessionClosed", 0): v0_to_v1})
    assert decoded.payload == events.SessionClosed(session_id="s1", closed_at=NOW)
    assert decoded.version == 1


def test_an_old_version_without_upcaster_is_refused() -> None:
    old = orjson.loads(encode(new_event(REQUEST)))
    old["version"] = 0
    with pytest.raises(UnsupportedVersion):
        decode(orjson.dumps(old))


def test_a_newer_version_is_refused_not_misread() -> None:
    future = orjson.loads(encode(new_event(REQUEST)))
    future["version"] = 2
    with pytest.raises(UnsupportedVersion, match="newer"):
        decode(orjson.dumps(future))


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b'{"type": "RunStarted", "version": 1, "payload": {"attempt": "x"}}'],
)
def test_garbage_is_a_schema_error(raw: bytes) -> None:
    with pytest.raises(SchemaError):
        decode(raw)


def test_unknown_type_is_named() -> None:
    with pytest.raises(UnknownEventType, match="Exploded"):
        decode(b'{"type": "Exploded", "version": 1, "payload": {}}')


def test_published_json_schemas_are_current() -> None:
    current = rendered()
    on_disk = {path.name: path.read_bytes() for path in OUTPUT.glob("*.json")}
    assert on_disk == current, "run `python -m schemas.jsonschema` and commit schemas/json/"
