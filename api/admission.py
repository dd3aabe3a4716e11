"""Whether a run may be queued: limits in range, rate limits, failure cooldown, queue caps.

The state lives in Redis (fleet.quota) so every API process shares it. Redis down is a 503.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from api.dto import RunOptions
from api.errors import Backpressure, DependencyDown, InvalidInput, RateLimited, TooLarge
from api.services import Services
from api.settings import ApiSettings
from config.callbacks import CallbackRefused, check_submitted
from fleet.quota import Admission, Quota
from fleet.quota import admit as quota_admit
from schemas.events import RunLimits
from telemetry import metrics


def limits_for(settings: ApiSettings, options: RunOptions) -> RunLimits:
    """The run's limits: what it asks for, else the defaults; 422 outside the policy's ranges."""
    policy = settings.policy
    limits = RunLimits(
        time_limit_ms=policy.default_time_limit_ms
        if options.time_limit_ms is None
        else options.time_limit_ms,
        memory_mb=policy.default_memory_mb if options.memory_mb is None else options.memory_mb,
    )
    cases = options.test_cases or []
    if cases and options.stdin is not None:
        raise InvalidInput("each test case has its own stdin: give no stdin", field="stdin")
    if options.comparison is not None and not cases:
        raise InvalidInput(
            "a comparison applies to test cases: give test_cases", field="comparison"
        )
    violation = policy.violation(
        time_limit_ms=limits.time_limit_ms,
        memory_mb=limits.memory_mb,
        source_bytes=0,
        stdin_bytes=len((options.stdin or "").encode()),
        args=options.args,
        case_count=len(cases),
        case_bytes=sum(len(c.stdin.encode()) + len(c.expected_output.encode()) for c in cases),
    )
    if violation is not None:
        error = TooLarge if violation.too_large else InvalidInput
        raise error(violation.message, field=violation.field, value=violation.value)
    return limits


def callback_for(settings: ApiSettings, options: RunOptions) -> str | None:
    """The run's callback URL if it may have one: 422 for a bad scheme or syntax, or a literal
    address that is not public and not allowed (a name is checked when it is resolved, by the
    deliverer, just before it connects)."""
    if options.callback_url is None:
        return None
    try:
        check_submitted(options.callback_url, settings.callbacks.allow_list())
    except CallbackRefused as exc:
        raise InvalidInput(str(exc), field="callback_url") from None
    return options.callback_url


async def admit(services: Services, session_id: str, client: str, execution_id: str) -> Admission:
    """Count this run against the session's and the client's rate and the queue caps; 429 or
    503 (Retry-After) when one is full, quota untouched."""
    settings = services.settings
    quota = Quota(
        session_per_minute=settings.session_runs_per_minute,
        client_per_minute=settings.client_runs_per_minute,
        queued_per_session=settings.max_queued_per_session,
        queued_total=settings.max_queued_total,
    )
    try:
        answer = await quota_admit(services.redis, quota, session_id, client, execution_id)
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc
    wait = answer.retry_after_s
    if answer.refused is not None:
        metrics.RATE_LIMITED.labels(answer.refused).inc()
    if answer.refused == "failure_streak":
        raise RateLimited(
            "this session failed too many runs in a row; it cools down",
            retry_after=wait,
            reason="failure_streak",
        )
    if answer.refused == "session_rate":
        raise RateLimited(
            f"at most {settings.session_runs_per_minute} runs per minute per session",
            retry_after=wait,
            reason="session_rate",
            headers=rate_headers(answer),
        )
    if answer.refused == "client_rate":
        raise RateLimited(
            f"at most {settings.client_runs_per_minute} runs per minute per client",
            retry_after=wait,
            reason="client_rate",
        )
    if answer.refused is not None:
        what = "this session" if answer.refused == "session_queue" else "the engine"
        raise Backpressure(
            f"too many runs are waiting for {what}; try again shortly",
            retry_after=wait,
            reason=answer.refused,
        )
    return answer


def rate_headers(answer: Admission) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(answer.limit),
        "X-RateLimit-Remaining": str(answer.remaining),
        "X-RateLimit-Reset": str(answer.reset_s),
    }


def check_files(
    services: Services, files: dict[str, str], source: str, entry_point: str | None
) -> None:
    """The program's other files against the policy (names, count, sizes): 422 if broken."""
    policy = services.settings.policy
    broken = policy.files_violation(files, len(source.encode()), entry_point)
    if broken is not None:
        raise InvalidInput(broken.message, field="files", value=broken.value)
