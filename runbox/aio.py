"""The asynchronous client: `AsyncClient(url)`, the same calls as `Client`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from runbox import calls, sse
from runbox.client import STREAM_TIMEOUT, base_url
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


class AsyncClient:
    """The asyncio twin of `runbox.Client`: the same calls, errors and retries."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        retry: calls.Retry | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url(url)
        self.retry = retry or calls.Retry()
        self._http = http or httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- languages

    async def languages(self) -> list[Language]:
        return (await self._send(calls.Call("GET", "/languages"), LanguageList)).languages

    async def language(self, id_or_key: str) -> LanguageDetail:
        """A language by id, key (`python`) or name (`Python 3`)."""
        return await self._send(calls.Call("GET", f"/languages/{id_or_key}"), LanguageDetail)

    # -- sessions

    async def create_session(
        self, language: str, source_code: str | None = None
    ) -> SessionRevision:
        """A new session in `language` (id, key or name); without source, the template."""
        try:
            return await self._send(calls.create_session(language, source_code), SessionRevision)
        except Unavailable as error:
            session_id, behind = calls.recorded_session(error), error
            if session_id is None:
                raise
        # Created, not visible yet: wait until it is, rather than create a second one.
        poll = calls.Poll.within(self.retry.max_delay_s)
        while True:
            try:
                await self.session(session_id)
                return SessionRevision(session_id=session_id, status="ACTIVE", revision=1)
            except NotFound:
                delay = poll.next_delay()
                if delay is None:
                    raise behind from None
                await asyncio.sleep(delay)

    async def session(self, session_id: str) -> Session:
        return await self._send(calls.Call("GET", f"/code-sessions/{session_id}"), Session)

    async def save(
        self, session_id: str, source_code: str, *, expected_revision: int | None = None
    ) -> SessionRevision:
        """Autosave; with `expected_revision`, a `Conflict` if another write came first."""
        return await self._send(
            calls.save(session_id, source_code, expected_revision), SessionRevision
        )

    async def close_session(self, session_id: str) -> SessionRevision:
        return await self._send(calls.close(session_id), SessionRevision)

    async def executions(self, session_id: str, limit: int = 10) -> list[ExecutionSummary]:
        """The session's runs, newest first."""
        call = calls.Call("GET", f"/code-sessions/{session_id}/executions", params={"limit": limit})
        return (await self._send(call, SessionExecutions)).executions

    # -- runs

    async def run(
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
        return await self._send(call, RunQueued)

    async def execution(self, execution_id: str) -> ExecutionState | ExecutionResult:
        response = await self._request(calls.Call("GET", f"/executions/{execution_id}"))
        return calls.execution(response)

    async def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """The result once the execution has finished; TimeoutError after `timeout` seconds."""
        poll = calls.Poll.within(timeout)
        while True:
            found = await self.execution(execution_id)
            if isinstance(found, ExecutionResult):
                return found
            delay = poll.next_delay()
            if delay is None:
                raise TimeoutError(f"execution {execution_id} is still {found.status}")
            await asyncio.sleep(delay)

    async def execute(
        self, language: str, source_code: str, *, timeout: float | None = None, **options: Any
    ) -> ExecutionResult:
        """Create a session, run it (options as `run`), and wait for the result."""
        session = await self.create_session(language, source_code)
        queued = await self.run(session.session_id, **options)
        return await self.wait(queued.execution_id, timeout)

    async def events(self, execution_id: str) -> AsyncIterator[ExecutionEvent]:
        """The execution's events as they happen: its status, output chunks, then its result.

        A dropped connection is resumed (with Last-Event-ID once the server sends ids)."""
        parser = sse.Parser()
        failures = 0
        path = f"/executions/{execution_id}/events"
        while True:
            try:
                async with self._http.stream(
                    "GET",
                    path,
                    headers=calls.stream_headers(parser.last_event_id),
                    timeout=STREAM_TIMEOUT,
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        failures += 1
                        delay = self.retry.after_answer(calls.Call("GET", path), failures, response)
                        if delay is None:
                            calls.check(response)
                        await asyncio.sleep(delay or 0.0)
                        continue
                    async for line in response.aiter_lines():
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
            await asyncio.sleep(calls.reconnect_delay(self.retry, parser.retry_ms, failures))

    # -- transport

    async def _send(self, call: calls.Call, kind: type[T]) -> T:
        return calls.decode(await self._request(call), kind)

    async def _request(self, call: calls.Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
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
            await asyncio.sleep(delay)
