"""What a receiver gets: the result as a JSON body, and the headers that sign it.

The signature is HMAC-SHA256, keyed with CALLBACK_SECRET, of `<timestamp>.<body>` (the
X-Runbox-Timestamp header, a dot, and the body's exact bytes), sent as
`X-Runbox-Signature: sha256=<hex>`. A receiver recomputes it, compares in constant time, and
refuses a timestamp too far from its clock, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Literal

import msgspec

from config.limits import RunPolicy
from dropin.judge0_answers import Run, attributes, present
from dropin.judge0_contract import DEFAULT_FIELDS, LANGUAGES, Config
from schemas import Envelope, events

SIGNATURE = "X-Runbox-Signature"
TIMESTAMP = "X-Runbox-Timestamp"
DELIVERY = "X-Runbox-Delivery"
EXECUTION = "X-Runbox-Execution"
ATTEMPT = "X-Runbox-Attempt"

Terminal = events.RunFinished | events.RunRejected | events.DeadLettered


class CallbackResult(events.Outcome, frozen=True, kw_only=True):
    """The body of a callback: the execution's outcome (every field of `Outcome`, as
    GET /executions/{id} answers them) and how it ended."""

    delivery_id: str  # also in X-Runbox-Delivery: the same on every attempt of this delivery
    execution_id: str
    ended_by: Literal["RunFinished", "RunRejected", "DeadLettered"]
    attempt: int  # of the run (0: refused before any attempt)
    error_message: str | None = None  # why it was refused (E006) or dead-lettered (E005)
    finished_at: datetime


def callback_of(envelope: Envelope[events.Event]) -> tuple[str, CallbackResult] | None:
    """(url, body) if the event ends an execution whose run named a callback; else None."""
    event = envelope.payload
    delivery_id = str(envelope.event_id)
    if isinstance(event, events.RunFinished) and event.callback_url:
        outcome = msgspec.structs.asdict(event.outcome)
        return event.callback_url, CallbackResult(
            **outcome,
            delivery_id=delivery_id,
            execution_id=event.execution_id,
            ended_by="RunFinished",
            attempt=event.attempt,
            finished_at=event.finished_at,
        )
    if isinstance(event, events.RunRejected) and event.callback_url:
        return event.callback_url, CallbackResult(
            status="FAILED",
            error_code=event.error_code,
            delivery_id=delivery_id,
            execution_id=event.execution_id,
            ended_by="RunRejected",
            attempt=0,
            error_message=event.reason,
            finished_at=event.rejected_at,
        )
    if isinstance(event, events.DeadLettered) and event.request.callback_url:
        return event.request.callback_url, CallbackResult(
            status="FAILED",
            error_code="E005",
            delivery_id=delivery_id,
            execution_id=event.execution_id,
            ended_by="DeadLettered",
            attempt=event.attempts,
            error_message=event.reason,
            finished_at=event.dead_lettered_at,
        )
    return None


_KEY_OF_JUDGE0_ID = {judge0_id: key for judge0_id, _, key in LANGUAGES}


def judge0_body(envelope: Envelope[events.Event]) -> bytes | None:
    """For a submission through the Judge0 API, the body Judge0 PUTs to its callback_url: the
    submission with Judge0's default fields, Base64-encoded, made by the very rules of
    GET /judge0/submissions/{token} (dropin/). None for any other run."""
    event = envelope.payload
    error_message: str | None = None
    if isinstance(event, events.RunFinished):
        asked, outcome, at = event.judge0, event.outcome, event.finished_at
    elif isinstance(event, events.RunRejected):
        asked, at, error_message = event.judge0, event.rejected_at, event.reason
        outcome = events.Outcome(status="FAILED", error_code=event.error_code)
    elif isinstance(event, events.DeadLettered):
        asked, at, error_message = event.request.judge0, event.dead_lettered_at, event.reason
        outcome = events.Outcome(status="FAILED", error_code="E005")
    else:
        return None
    if asked is None:
        return None
    run = Run(
        token=event.execution_id, status=outcome.status,
        language_key=_KEY_OF_JUDGE0_ID.get(asked.language_id, ""),
        error_code=outcome.error_code, error_message=error_message,
        exit_code=outcome.exit_code, signal=outcome.signal, stdout=outcome.stdout,
        stderr=outcome.stderr, compile_output=outcome.compile_output,
        cpu_time_ms=outcome.cpu_time_ms, execution_time_ms=outcome.execution_time_ms,
        memory_peak_kb=outcome.memory_peak_kb, source_code="", stdin="", created_at=None,
        finished_at=at, time_limit_ms=None, memory_mb=None,
        invalid_utf8=tuple(outcome.invalid_utf8),
    )  # fmt: skip
    values = attributes(run, asked, Config(policy=RunPolicy(), max_queue_size=0))
    return msgspec.json.encode(present(values, DEFAULT_FIELDS, base64_encoded=True))


def ended_at(envelope: Envelope[events.Event]) -> datetime | None:
    """When a terminal event says its execution ended."""
    event = envelope.payload
    if isinstance(event, events.RunFinished):
        return event.finished_at
    if isinstance(event, events.RunRejected):
        return event.rejected_at
    if isinstance(event, events.DeadLettered):
        return event.dead_lettered_at
    return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Runbox-Signature value of `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(
    secret: str, timestamp: int, body: bytes, delivery_id: str, execution_id: str, attempt: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
        DELIVERY: delivery_id,
        EXECUTION: execution_id,
        ATTEMPT: str(attempt),
    }
