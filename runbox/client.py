"""The synchronous client: `Client(url)` and its calls, each typed, each retried as `calls` says."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from runbox import calls, sse
from runbox.errors import NotFound, StreamError, TransportError, Unavailable
from runbox.types import (
    ExecutionEvent,
    ExecutionResult,
    ExecutionState,
    ExecutionSummary,
    Language,
    LanguageDetail,
    LanguageList,
    ResultEvent,
    RunQueued,
    Session,
    SessionExecutions,
    SessionRevision,
)

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:3000"
# A stream is silent at most 15 s between keep-alives; a read waits a good deal longer.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=60.0)


def base_url(url: str | None) -> str:
    """The API's URL: given, else RUNBOX_URL, else the local stack's."""
    return (url or os.environ.get("RUNBOX_URL") or DEFAULT_URL).rstrip("/")


class Client:
    """A runbox API client: create a session, save it, run it, wait for or stream the result.

    Errors the API answers are raised as `runbox.errors.ApiError` subclasses (with `.status`,
    `.code`, `.details`); 429 and 503 are retried after their Retry-After.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        retry: calls.Retry | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = base_url(url)
        self.retry = retry or calls.Retry()
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- languages

    def languages(self) -> list[Language]:
        return self._send(calls.Call("GET", "/languages"), LanguageList).languages

    def language(self, id_or_key: str) -> LanguageDetail:
        """A language by id, key (`python`) or name (`Python 3`)."""
        return self._send(calls.Call("GET", f"/languages/{id_or_key}"), LanguageDetail)

    # -- sessions

    def create_session(self, language: str, source_code: str | None = None) -> SessionRevision:
        """A new session in `language` (id, key or name); without source, the template."""
        try:
            return self._send(calls.create_session(language, source_code), SessionRevision)
        except Unavailable as error:
            session_id, behind = calls.recorded_session(error), error
            if session_id is None:
                raise
        # Created, not visible yet: wait until it is, rather than create a second one.
        poll = calls.Poll.within(self.retry.max_delay_s)
        while True:
            try:
                self.session(session_id)
                return SessionRevision(session_id=session_id, status="ACTIVE", revision=1)
            except NotFound:
                delay = poll.next_delay()
                if delay is None:
                    raise behind from None
                time.sleep(delay)

    def session(self, session_id: str) -> Session:
        return self._send(calls.Call("GET", f"/code-sessions/{session_id}"), Session)

    def save(
        self, session_id: str, source_code: str, *, expected_revision: int | None = None
    ) -> SessionRevision:
        """Autosave; with `expected_revision`, a `Conflict` if another write came first."""
        return self._send(calls.save(session_id, source_code, expected_revision), SessionRevision)

    def close_session(self, session_id: str) -> SessionRevision:
        return self._send(calls.close(session_id), SessionRevision)

    def executions(self, session_id: str, limit: int = 10) -> list[ExecutionSummary]:
        """The session's runs, newest first."""
        call = calls.Call("GET", f"/code-sessions/{session_id}/executions", params={"limit": limit})
        return self._send(call, SessionExecutions).executions

    # -- runs

    def run(
        self,
        session_id: str,
        *,
        stdin: str | None = None,
        args: list[str] | None = None,
        time_limit_ms: int | None = None,
        memory_mb: int | None = None,
        idempotency_key: str | None = None,
    ) -> RunQueued:
        """Queue a run of the session's current code; retried safely under one Idempotency-Key
        (made for you unless given)."""
        call = calls.run(
            session_id,
            stdin=stdin,
            args=args,
            time_limit_ms=time_limit_ms,
            memory_mb=memory_mb,
            idempotency_key=idempotency_key,
        )
        return self._send(call, RunQueued)

    def execution(self, execution_id: str) -> ExecutionState | ExecutionResult:
        response = self._request(calls.Call("GET", f"/executions/{execution_id}"))
        return calls.execution(response)

    def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """The result once the execution has finished; TimeoutError after `timeout` seconds."""
        poll = calls.Poll.within(timeout)
        while True:
            found = self.execution(execution_id)
            if isinstance(found, ExecutionResult):
                return found
            delay = poll.next_delay()
            if delay is None:
                raise TimeoutError(f"execution {execution_id} is still {found.status}")
            time.sleep(delay)

    def execute(
        self, language: str, source_code: str, *, timeout: float | None = None, **options: Any
    ) -> ExecutionResult:
        """Create a session, run it (options as `run`), and wait for the result."""
        session = self.create_session(language, source_code)
        queued = self.run(session.session_id, **options)
        return self.wait(queued.execution_id, timeout)

    def events(self, execution_id: str) -> Iterator[ExecutionEvent]:
        """The execution's events as they happen: its status, output chunks, then its result.

        A dropped connection is resumed (with Last-Event-ID once the server sends ids)."""
        parser = sse.Parser()
        failures = 0
        path = f"/executions/{execution_id}/events"
        while True:
            try:
                with self._http.stream(
                    "GET",
                    path,
                    headers=calls.stream_headers(parser.last_event_id),
                    timeout=STREAM_TIMEOUT,
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        failures += 1
                        delay = self.retry.after_answer(calls.Call("GET", path), failures, response)
                        if delay is None:
                            calls.check(response)
                        time.sleep(delay or 0.0)
                        continue
                    for line in response.iter_lines():
                        message = parser.feed(line)
                        if message is None:
                            continue
                        failures = 0
                        event = sse.execution_event(message)
                        if event is None:
                            continue
                        yield event
                        if isinstance(event, ResultEvent):
                            return
            except httpx.TransportError as error:
                cause: Exception = error
            else:
                cause = StreamError("the stream ended before the execution's result")
            parser.interrupted()
            failures += 1
            if failures >= self.retry.attempts:
                raise StreamError(f"the events of {execution_id} broke: {cause}") from cause
            time.sleep(calls.reconnect_delay(self.retry, parser.retry_ms, failures))

    # -- transport

    def _send(self, call: calls.Call, kind: type[T]) -> T:
        return calls.decode(self._request(call), kind)

    def _request(self, call: calls.Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method, call.path, json=call.json, headers=call.headers, params=call.params
                )
            except httpx.TransportError as error:
                delay = self.retry.after_error(call, attempt, error)
                if delay is None:
                    raise TransportError(f"{call.method} {self.url}{call.path}: {error}") from error
            else:
                delay = self.retry.after_answer(call, attempt, response)
                if delay is None:
                    return response
            time.sleep(delay)
