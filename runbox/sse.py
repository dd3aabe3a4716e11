"""Server-sent events, parsed as the HTML standard says, and decoded into execution events.

Pure: the clients feed it lines and it keeps what a reconnection needs (the last event id, and
the reconnection delay the server asked for with `retry:`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from runbox.types import ExecutionEvent, ExecutionResult, OutputEvent, ResultEvent, StatusEvent


@dataclass(frozen=True)
class Message:
    """One dispatched event: its type (`message` when unnamed), data, and the last event id."""

    event: str
    data: str
    id: str | None


@dataclass
class Parser:
    """Turns the lines of an event stream into messages."""

    last_event_id: str | None = None
    retry_ms: int | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Message | None:
        """One line, without its end of line; a message when a blank line completes one."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:  # the standard ignores such an id
                self.last_event_id = value or None  # an empty id resets it
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def interrupted(self) -> None:
        """The connection dropped: a message not completed by its blank line is discarded."""
        self._event = ""
        self._data = []

    def _dispatch(self) -> Message | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return Message(event=event, data="\n".join(data), id=self.last_event_id)


def execution_event(message: Message) -> ExecutionEvent | None:
    """The execution event a message carries; None for an event type this SDK does not know."""
    if message.event == "status":
        return StatusEvent(status=message.data.strip())
    if message.event == "output":
        return msgspec.json.decode(message.data, type=OutputEvent)
    if message.event == "result":
        return ResultEvent(result=msgspec.json.decode(message.data, type=ExecutionResult))
    return None
