"""`GET /executions/{id}/ws`: an execution's events over a WebSocket, and, for an interactive run,
its stdin sent while it runs.

Frames are JSON text. The server sends each event of the execution's stream (`open_stream` of
api/streams.py, which the SSE route serves too) as `{"type": <event>, "data": ..., "id": n}`
(`data` parsed where it is JSON; `id` the event's number, as SSE's), then closes (1000) after
`result`. The client sends `{"type": "stdin", "data": "..."}` and `{"type": "eof"}`; a frame the
server cannot take is answered `{"type": "error", "code": ..., "error": ...}` and the connection
stays open. An unknown execution (`not_found`, close 1008) or Redis down (`unavailable`, close
1013) is an error frame, then the close. A client that disconnects ends the run's input (EOF).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import redis.asyncio as aioredis
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from api.errors import ApiError, DependencyDown, NotFound
from api.routes.executions import load_execution
from api.services import Services, ServicesDep
from api.streams import StreamEvent, open_stream
from fleet.stdin import StdinChannel

log = logging.getLogger("api.interactive")

CLOSE_NOT_FOUND = 1008  # policy violation: nothing to talk about
CLOSE_UNAVAILABLE = 1013  # try again later
FRAMES = 'expected {"type": "stdin", "data": "<text>"} or {"type": "eof"}'


def frame_of(event: StreamEvent) -> dict[str, Any]:
    """A stream event as a WebSocket frame: its name, its data (as JSON where it is JSON), its
    number."""
    data: Any = event.data
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(event.data)
        if isinstance(parsed, dict | list):
            data = parsed
    return {"type": event.event, "data": data, "id": event.id}


class Conversation:
    """One client's WebSocket on one execution: events out, stdin in."""

    def __init__(self, socket: WebSocket[Any, Any, Any], services: Services, execution_id: str):
        self.socket = socket
        self.services = services
        self.execution_id = execution_id
        self.interactive = False
        self.channel: StdinChannel | None = None
        self.sending = asyncio.Lock()  # the relay and the listener both send

    async def serve(self) -> None:
        await self.socket.accept()
        try:
            row = await load_execution(self.services, self.execution_id)
            messages = await open_stream(self.services, "execution", row["execution_id"])
        except NotFound as exc:
            await self.fatal(exc, CLOSE_NOT_FOUND)
            return
        except DependencyDown as exc:
            await self.fatal(exc, CLOSE_UNAVAILABLE)
            return
        self.interactive = bool(row["interactive"])
        if self.interactive:
            self.channel = StdinChannel(self.services.redis, str(row["execution_id"]))
        relay = asyncio.ensure_future(self.relay(messages))
        listener = asyncio.ensure_future(self.listen())
        try:
            await asyncio.wait({relay, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, listener):
                task.cancel()
            await asyncio.gather(relay, listener, return_exceptions=True)
            await messages.aclose()
        if relay.cancelled() or relay.result() == "left":
            # The client is gone: its program reads EOF (a no-op once the run has ended).
            await self.end_input("disconnected")
        elif relay.result() == "unavailable":
            # Ours, not the client's: its input stays open for it to connect again.
            await self.fatal(DependencyDown("the event stream failed: connect again"),
                             CLOSE_UNAVAILABLE)  # fmt: skip
        else:
            with contextlib.suppress(WebSocketDisconnect, OSError):
                await self.socket.close()

    async def relay(self, messages: AsyncGenerator[StreamEvent, None]) -> str:
        """Send every event until the result: `done`, or `left` (the client went away), or
        `unavailable` (the stream failed: Redis or PostgreSQL)."""
        try:
            async for event in messages:
                try:
                    await self.send(frame_of(event))
                except (WebSocketDisconnect, OSError):
                    return "left"
        except Exception:
            log.warning("the event stream failed", exc_info=True,
                        extra={"execution_id": self.execution_id})  # fmt: skip
            return "unavailable"
        return "done"

    async def listen(self) -> None:
        """Take the client's frames until it disconnects."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await self.socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if not isinstance(text, str):
                    await self.error("bad_frame", f"frames are JSON text: {FRAMES}")
                    continue
                await self.take(text)

    async def take(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.error("bad_frame", f"malformed JSON: {FRAMES}")
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind not in ("stdin", "eof"):
            await self.error("bad_frame", f"unknown frame: {FRAMES}")
            return
        if self.channel is None:
            await self.error(
                "not_interactive",
                f"execution {self.execution_id} was not requested as interactive: its stdin was "
                'given in full with the run (send "interactive": true to run one that takes it '
                "live)",
            )
            return
        if kind == "eof":
            await self.end_input("eof", tell=True)
            return
        data = frame.get("data")
        try:
            chunk = data.encode() if isinstance(data, str) else None
        except UnicodeEncodeError:  # a lone surrogate
            chunk = None
        if chunk is None:
            await self.error("bad_frame", f'"data" must be a string of text: {FRAMES}')
            return
        if chunk:
            await self.send_input(chunk)

    async def send_input(self, chunk: bytes) -> None:
        assert self.channel is not None
        settings = self.services.settings
        limit, bound = settings.policy.max_stdin_bytes, settings.stdin_buffer_bytes
        try:
            sent = await self.channel.send(chunk, limit, bound)
        except (aioredis.RedisError, OSError):
            await self.error("unavailable", "Redis is unavailable: the input was not taken")
            return
        if sent.refused == "full":
            await self.error(
                "stdin_buffer_full",
                f"the program has not taken the input already sent: at most {bound} bytes may "
                f"wait for it and {sent.room} are free, so these {len(chunk)} were refused; "
                "send them again once it has read more",
            )
        elif sent.refused == "too_large":
            await self.error(
                "stdin_too_large",
                f"a run takes at most {limit} bytes of stdin in all (MAX_STDIN_BYTES); "
                f"{sent.room} are left, so these {len(chunk)} were refused",
            )
        elif sent.refused is not None:
            await self.error("stdin_closed", self.closed_message(sent.reason))

    async def end_input(self, reason: str, tell: bool = False) -> None:
        """Close the run's stdin (the program reads EOF once it has read what was sent)."""
        if self.channel is None:
            return
        try:
            answer = await self.channel.close(reason)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("could not close the stdin channel: %s", exc,
                        extra={"execution_id": self.execution_id})  # fmt: skip
            if tell:
                await self.error("unavailable", "Redis is unavailable: stdin was not closed")
            return
        if tell and answer != "ok":
            await self.error("stdin_closed", self.closed_message(answer))

    @staticmethod
    def closed_message(reason: str | None) -> str:
        why = {
            "eof": "a client sent eof",
            "disconnected": "a client's WebSocket closed",
            "run_ended": "the run has ended",
        }.get(reason or "", "the run's stdin channel has expired")
        return f"stdin is closed ({why}): no more input is taken"

    async def error(self, code: str, message: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await self.send({"type": "error", "code": code, "error": message})

    async def fatal(self, exc: ApiError, close_code: int) -> None:
        await self.error(exc.code, exc.message)
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await self.socket.close(close_code)

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.sending:
            await self.socket.send_data(orjson.dumps(frame).decode())


@websocket("/executions/{execution_id:str}/ws")
async def execution_socket(
    socket: WebSocket[Any, Any, Any], services: ServicesDep, execution_id: FromPath[str]
) -> None:
    """The execution's events as JSON frames; for an interactive run, stdin frames in."""
    await Conversation(socket, services, execution_id).serve()
