"""The run bookkeeping the API and the workers share in Redis, each step one atomic script
on Redis's own clock (so several API processes agree on the order of their requests).

- `admit` (API, before a run is appended): the session's failure cooldown, a GCRA rate limit per
  session and per client (a burst of N, then one every 60/N s: no window boundary to game), and
  caps on runs queued per session and in all. It consumes quota only when every check passes.
- `settle` (worker, when a run ends): takes the run off the queues and decides the failure streak
  in *submission* order (a run's place is when it was admitted, whatever order runs finish in);
  a streak of `limit` failed runs starts the session's cooldown. Failures of ours (E005) and
  runs the safety rules refused are neutral: they neither count nor break a streak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

COOLDOWN_KEY = "cooldown:session:{}"
QUEUED_STALE_MS = 15 * 60 * 1000  # a queued entry older than this is forgotten (its run crashed)

_ADMIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local cooldown = redis.call('PTTL', KEYS[3])
if cooldown > 0 then return {'failure_streak', cooldown} end
local function tat(key, period, burst)
  local t = tonumber(redis.call('GET', key) or '0')
  if t < now then t = now end
  return t, t - period * (burst - 1) - now
end
local s_period, c_period = tonumber(ARGV[1]), tonumber(ARGV[3])
local s_tat, s_wait = tat(KEYS[1], s_period, tonumber(ARGV[2]))
if s_wait > 0 then return {'session_rate', s_wait} end
local c_tat, c_wait = tat(KEYS[2], c_period, tonumber(ARGV[4]))
if c_wait > 0 then return {'client_rate', c_wait} end
local stale = now - tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', stale)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', stale)
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return {'session_queue', 2000} end
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[6]) then return {'total_queue', 2000} end
local s_new, c_new = s_tat + s_period, c_tat + c_period
redis.call('SET', KEYS[1], s_new, 'PX', math.ceil(s_new - now) + 1000)
redis.call('SET', KEYS[2], c_new, 'PX', math.ceil(c_new - now) + 1000)
redis.call('ZADD', KEYS[4], now, ARGV[7])
redis.call('PEXPIRE', KEYS[4], ARGV[8])
redis.call('ZADD', KEYS[5], now, ARGV[7])
redis.call('ZADD', KEYS[6], now, ARGV[7])
redis.call('HSET', KEYS[7], ARGV[7], 'pending')
redis.call('EXPIRE', KEYS[6], 86400)
redis.call('EXPIRE', KEYS[7], 86400)
return {'ok', s_new - now, c_new - now}
"""

_SETTLE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local rank = redis.call('ZRANK', KEYS[3], ARGV[1])
if not rank then return 0 end
if ARGV[2] == 'neutral' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
if ARGV[2] ~= 'fail' then return 0 end
local members = redis.call('ZRANGE', KEYS[3], 0, -1)
local first, last = rank + 1, rank + 1
while first > 1 and redis.call('HGET', KEYS[4], members[first - 1]) == 'fail' do
  first = first - 1
end
while last < #members and redis.call('HGET', KEYS[4], members[last + 1]) == 'fail' do
  last = last + 1
end
local streak = last - first + 1
if streak >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[5], streak, 'PX', ARGV[4])
  for i = first, last do
    redis.call('ZREM', KEYS[3], members[i])
    redis.call('HDEL', KEYS[4], members[i])
  end
end
local extra = redis.call('ZCARD', KEYS[3]) - 200
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, extra - 1)
  for _, member in ipairs(old) do redis.call('HDEL', KEYS[4], member) end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1)
end
return streak
"""


@dataclass(frozen=True)
class Quota:
    """How many runs a minute, and how many may wait, per session and in all."""

    session_per_minute: int
    client_per_minute: int
    queued_per_session: int
    queued_total: int


@dataclass(frozen=True)
class Admission:
    """The answer of `admit`: `refused` is None when the run may go; else the reason."""

    refused: str | None
    retry_after_s: int
    limit: int  # the session's runs per minute
    remaining: int  # runs the session may still start right now
    reset_s: int  # seconds until the session's full burst is available again


def _keys(session_id: str, client: str) -> list[str]:
    return [
        f"gcra:session:{session_id}",
        f"gcra:client:{client}",
        COOLDOWN_KEY.format(session_id),
        f"queued:session:{session_id}",
        "queued:all",
        f"streak:{session_id}",
        f"streak:{session_id}:status",
    ]


async def admit(
    redis: aioredis.Redis, quota: Quota, session_id: str, client: str, execution_id: str
) -> Admission:
    s_period = 60_000 / quota.session_per_minute
    c_period = 60_000 / quota.client_per_minute
    answer = await redis.eval(
        _ADMIT, 7, *_keys(session_id, client), s_period, quota.session_per_minute,
        c_period, quota.client_per_minute, quota.queued_per_session, quota.queued_total,
        execution_id, QUEUED_STALE_MS,
    )  # fmt: skip
    verdict = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
    limit = quota.session_per_minute
    if verdict != "ok":
        wait_ms = float(answer[1])
        return Admission(verdict, max(1, math.ceil(wait_ms / 1000)), limit, 0, 0)
    used_ms = float(answer[1])  # how far the session's theoretical arrival time runs ahead
    remaining = max(0, math.floor((s_period * (limit - 1) - used_ms) / s_period) + 1)
    return Admission(None, 0, limit, remaining, math.ceil(used_ms / 1000))


async def settle(
    redis: aioredis.Redis,
    session_id: str,
    execution_id: str,
    outcome: str,
    streak_limit: int,
    cooldown_s: int,
) -> int:
    """Record how a run ended ("ok", "fail" or "neutral"); the failure streak it is part of."""
    keys = _keys(session_id, "-")
    streak = await redis.eval(
        _SETTLE, 5, keys[3], keys[4], keys[5], keys[6], keys[2],
        execution_id, outcome, streak_limit, cooldown_s * 1000,
    )  # fmt: skip
    return int(streak)
