"""The envelope every event travels in, and its JSON (orjson) encoding."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
import orjson

from schemas.errors import SchemaError, UnknownEventType, UnsupportedVersion
from schemas.events import EVENT_TYPES, Event
from schemas.upcasters import Upcaster, upcast

P = TypeVar("P", bound=Event)


@dataclass(frozen=True, slots=True)
class Envelope(Generic[P]):
    """One event: identity, type and version, when it happened, its Kafka key, and its payload."""

    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    key: str
    payload: P


def new_event(payload: P, occurred_at: datetime | None = None) -> Envelope[P]:
    return Envelope(
        event_id=uuid.uuid4(),
        type=type(payload).__name__,
        version=type(payload).VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        key=payload.key,
        payload=payload,
    )


def encode(envelope: Envelope[Any]) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(envelope.event_id),
            "type": envelope.type,
            "version": envelope.version,
            "occurred_at": envelope.occurred_at,
            "key": envelope.key,
            "payload": msgspec.to_builtins(envelope.payload),
        },
        option=orjson.OPT_UTC_Z,
    )


def decode(raw: bytes, upcasters: dict[tuple[str, int], Upcaster] | None = None) -> Envelope[Event]:
    try:
        document = orjson.loads(raw)
        event_type = document["type"]
        version = int(document["version"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"not an event envelope: {exc}") from exc
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    if version > cls.VERSION:
        raise UnsupportedVersion(f"{event_type} v{version} is newer than v{cls.VERSION}")
    try:
        payload_doc = upcast(event_type, version, cls.VERSION, document["payload"], upcasters)
    except KeyError as exc:
        raise UnsupportedVersion(f"no upcaster for {event_type} v{version}") from exc
    try:
        payload = msgspec.convert(payload_doc, cls)
        return Envelope(
            event_id=uuid.UUID(document["event_id"]),
            type=event_type,
            version=cls.VERSION,
            occurred_at=datetime.fromisoformat(document["occurred_at"]),
            key=document["key"],
            payload=payload,
        )
    except (msgspec.ValidationError, KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"invalid {event_type}: {exc}") from exc
