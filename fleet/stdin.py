"""The stdin channel of an interactive run, in Redis: the API writes what its WebSocket clients
send, the executor reads it into the program's stdin pipe.

Two keys per execution, made when the run is requested:
- `stdin:{id}`, a stream: one entry per chunk sent (`d`: the bytes), and at most one last entry
  `eof` (why no more input comes: `eof` the client said so, `disconnected`, `run_ended`).
  Entries stay until the keys expire, so a retried attempt reads the run's input from the start.
- `stdin:{id}:state`, a hash: `total` (bytes of stdin the run has been given: its initial stdin
  and every chunk sent, at most MAX_STDIN_BYTES), `sent` (bytes in the stream), `taken` (of
  those, how many the executor has read: `sent - taken`, what waits for the program, is at most
  the buffer bound), `closed` (set with the `eof` entry; nothing is taken after it).

A send that would pass either bound is refused whole, at once: the client is told, nothing waits,
and the worker only ever reads what is there. Both keys expire CHANNEL_TTL_S after the last
write to them, and shortly after the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

CHANNEL_TTL_S = 3600  # a run may wait in the queue; every send and the executor renew it
ENDED_TTL_S = 300  # after the run ended: long enough for a late send to be told so
CLOSED_REASONS = ("eof", "disconnected", "run_ended")

_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'total', ARGV[1], 'sent', 0, 'taken', 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_SEND = """
local state = redis.call('HMGET', KEYS[1], 'total', 'sent', 'taken', 'closed')
if not state[1] then return {'missing', 0} end
if state[4] then return {'closed', state[4]} end
local n = string.len(ARGV[1])
local total, waiting = tonumber(state[1]), tonumber(state[2]) - tonumber(state[3])
if total + n > tonumber(ARGV[2]) then return {'too_large', tonumber(ARGV[2]) - total} end
if waiting + n > tonumber(ARGV[3]) then return {'full', tonumber(ARGV[3]) - waiting} end
redis.call('XADD', KEYS[2], '*', 'd', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'total', n)
redis.call('HINCRBY', KEYS[1], 'sent', n)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {'ok', n}
"""

_CLOSE = """
local state = redis.call('HMGET', KEYS[1], 'total', 'closed')
if not state[1] then return 'missing' end
if state[2] then return state[2] end
redis.call('HSET', KEYS[1], 'closed', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'eof', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 'ok'
"""

_TAKEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'taken', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 1
"""


def _keys(execution_id: str) -> list[str]:
    return [f"stdin:{execution_id}:state", f"stdin:{execution_id}"]


@dataclass(frozen=True)
class Sent:
    """The answer to a send: `refused` is None when the chunk is queued for the program; else
    `missing` (no such channel: not interactive, or expired), `closed` (then `reason`),
    `too_large` or `full` (then `room`: how many bytes would have been taken)."""

    refused: str | None
    reason: str | None = None
    room: int = 0


@dataclass(frozen=True)
class Taken:
    """What the executor read: the bytes of consecutive chunks, and the end if it came."""

    data: bytes
    end: str | None
    last_id: str


class StdinChannel:
    """One execution's channel, for the API (open, send, close) and the executor (read)."""

    def __init__(self, redis: aioredis.Redis, execution_id: str) -> None:
        self.redis = redis
        self.keys = _keys(execution_id)

    async def open(self, initial_bytes: int) -> None:
        """Make the channel (if it is not there yet) of a run whose initial stdin has this size."""
        await self.redis.eval(_OPEN, 1, self.keys[0], initial_bytes, CHANNEL_TTL_S)

    async def send(self, data: bytes, max_total: int, max_waiting: int) -> Sent:
        answer = await self.redis.eval(
            _SEND, 2, *self.keys, data, max_total, max_waiting, CHANNEL_TTL_S
        )
        verdict = _text(answer[0])
        if verdict == "ok":
            return Sent(None)
        if verdict == "closed":
            return Sent("closed", reason=_text(answer[1]))
        return Sent(verdict, room=max(0, int(answer[1])))

    async def close(self, reason: str) -> str:
        """No more input: `ok`, or the reason it was already closed for, or `missing`."""
        ttl = ENDED_TTL_S if reason == "run_ended" else CHANNEL_TTL_S
        return _text(await self.redis.eval(_CLOSE, 2, *self.keys, reason, ttl))

    async def exists(self) -> bool:
        return bool(await self.redis.exists(self.keys[0]))

    async def read(self, after: str, block_ms: int, count: int = 256) -> Taken | None:
        """The chunks after entry `after` (up to the end entry), waiting up to `block_ms` for
        one; None if none came."""
        found: Any = await self.redis.xread({self.keys[1]: after}, count=count, block=block_ms)
        if not found:
            return None
        # [[stream, entries]] (RESP2, our clients' protocol), or {stream: entries} (RESP3).
        entries = next(iter(found.values())) if isinstance(found, dict) else found[0][1]
        data: list[bytes] = []
        end: str | None = None
        last_id = after
        for entry_id, fields in entries:
            last_id = _text(entry_id)
            if b"eof" in fields:
                end = _text(fields[b"eof"])
                break
            data.append(bytes(fields.get(b"d", b"")))
        return Taken(b"".join(data), end, last_id)

    async def mark_taken(self, taken: int) -> None:
        """How many bytes of the stream this attempt has read (frees room for more sends)."""
        await self.redis.eval(_TAKEN, 2, *self.keys, taken, CHANNEL_TTL_S)


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
