"""What the clients send and how they read the answers, with no I/O: shared by `Client` and
`AsyncClient`, so that both retry and fail alike.

Retries: a 429 or 503 is tried again after its Retry-After; a connection that could not be
made is tried again; an answer lost after the request was sent is tried again only where that
is safe (reads, and runs: each carries an Idempotency-Key, so every try names one execution).
"""

from __future__ import annotations

import email.utils
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msgspec

from runbox.errors import ApiError, error_for
from runbox.types import TERMINAL, ExecutionResult, ExecutionState

T = TypeVar("T")
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the header api/idempotency.py reads


@dataclass(frozen=True)
class Call:
    """One API request, and whether sending it twice is harmless."""

    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    idempotent: bool = True


@dataclass(frozen=True)
class Retry:
    """How often and how long to retry: `attempts` tries in all; waits grow from `backoff_s`,
    and a server's Retry-After is obeyed up to `max_delay_s`."""

    attempts: int = 5
    backoff_s: float = 0.25
    max_delay_s: float = 30.0

    def after_answer(self, call: Call, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before trying `call` again after this answer; None: do not."""
        if response.status_code not in (429, 503) or attempt >= self.attempts:
            return None
        if not call.idempotent and _code(response) == "projection_behind":
            return None  # the write is recorded: sending it again would write twice
        return self.delay(attempt, retry_after(response))

    def after_error(self, call: Call, attempt: int, error: httpx.TransportError) -> float | None:
        """Seconds to wait before trying `call` again after a transport error; None: do not."""
        if attempt >= self.attempts:
            return None
        unsent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if not (unsent or call.idempotent):
            return None
        return self.delay(attempt, None)

    def delay(self, attempt: int, asked: float | None) -> float:
        """The wait before try `attempt + 1`: what the server asked, else exponential backoff."""
        delay = asked if asked is not None else self.backoff_s * 2 ** (attempt - 1)
        return max(0.0, min(delay, self.max_delay_s))


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (it may be a number or an HTTP date)."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def check(response: httpx.Response) -> None:
    """Raise the ApiError of an error answer."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    raise error_for(response.status_code, body, retry_after(response))


def decode(response: httpx.Response, kind: type[T]) -> T:
    """The answer as `kind`, or the ApiError of an error answer."""
    check(response)
    return msgspec.json.decode(response.content, type=kind)


def execution(response: httpx.Response) -> ExecutionState | ExecutionResult:
    check(response)
    body = msgspec.json.decode(response.content)
    if body.get("status") in TERMINAL:
        return msgspec.convert(body, ExecutionResult)
    return msgspec.convert(body, ExecutionState)


def recorded_session(error: ApiError) -> str | None:
    """The id of a session created but not visible yet (503 projection_behind), if so."""
    session_id = error.details.get("session_id")
    if error.code == "projection_behind" and isinstance(session_id, str):
        return session_id
    return None


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def create_session(language: str, source_code: str | None) -> Call:
    body: dict[str, Any] = {"language_id": language}
    if source_code is not None:
        body["source_code"] = source_code
    return Call("POST", "/code-sessions", json=body, idempotent=False)


def save(session_id: str, source_code: str, expected_revision: int | None) -> Call:
    headers = {} if expected_revision is None else {"If-Match": f'"{expected_revision}"'}
    return Call(
        "PATCH",
        f"/code-sessions/{session_id}",
        json={"source_code": source_code},
        headers=headers,
        idempotent=False,
    )


def close(session_id: str) -> Call:
    return Call("PATCH", f"/code-sessions/{session_id}/close", idempotent=False)


def run(
    session_id: str,
    *,
    stdin: str | None,
    args: list[str] | None,
    time_limit_ms: int | None,
    memory_mb: int | None,
    idempotency_key: str | None,
) -> Call:
    options = {"stdin": stdin, "args": args, "time_limit_ms": time_limit_ms, "memory_mb": memory_mb}
    return Call(
        "POST",
        f"/code-sessions/{session_id}/run",
        json={name: value for name, value in options.items() if value is not None},
        headers={IDEMPOTENCY_HEADER: idempotency_key or new_idempotency_key()},
        idempotent=True,  # the key makes every try the same run
    )


@dataclass
class Poll:
    """Waits between reads of an execution not finished yet: short first, then up to 1 s."""

    deadline: float | None
    delay_s: float = 0.05

    @classmethod
    def within(cls, timeout_s: float | None) -> Poll:
        return cls(None if timeout_s is None else time.monotonic() + timeout_s)

    def next_delay(self) -> float | None:
        """How long to wait before the next read; None when the deadline has passed."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            return None
        delay = self.delay_s
        self.delay_s = min(self.delay_s * 2, 1.0)
        return delay if self.deadline is None else min(delay, self.deadline - now)


def stream_headers(last_event_id: str | None) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


def reconnect_delay(retry: Retry, retry_ms: int | None, failures: int) -> float:
    """The server's `retry:` when it sent one, else our backoff."""
    if retry_ms is not None:
        return min(retry_ms / 1000, retry.max_delay_s)
    return retry.delay(failures, None)
