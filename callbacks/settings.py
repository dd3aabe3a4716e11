"""The deliverer's settings, read from the environment once and validated at start."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from config import SettingsError
from config.callbacks import CallbackPolicy
from config.endpoints import Endpoints

# Only for the local stack: a deployment sets its own (the deliverer warns when it runs with it).
LOCAL_SECRET = "runbox-local-callback-secret"


class CallbackSettings(Endpoints, frozen=True, kw_only=True):
    """How results are signed and delivered, and where they may go (CallbackPolicy)."""

    callback_secret: Annotated[
        str,
        Meta(
            min_length=16,
            description="the key of the HMAC-SHA256 signature of every callback (at least 16 "
            "characters); receivers verify with the same key",
        ),
    ] = LOCAL_SECRET
    callback_max_attempts: Annotated[
        int, Meta(ge=1, le=30, description="attempts to deliver one result; then it is given up")
    ] = 8
    callback_backoff_ms: Annotated[
        int, Meta(ge=1, description="delay before the second attempt; doubled at each, jittered")
    ] = 1000
    callback_max_backoff_ms: Annotated[
        int, Meta(ge=1, description="longest delay between two attempts")
    ] = 5 * 60 * 1000
    callback_timeout_s: Annotated[
        float,
        Meta(
            gt=0,
            le=120,
            description="longest attempt: resolving, connecting, sending and reading the answer",
        ),
    ] = 10.0
    callback_max_response_bytes: Annotated[
        int,
        Meta(
            ge=256,
            le=1024 * 1024,
            description="most of a receiver's answer read (status line and headers; the body is "
            "never read)",
        ),
    ] = 16 * 1024
    callback_concurrency: Annotated[
        int, Meta(ge=1, le=10_000, description="delivery attempts in progress at once")
    ] = 64
    callback_max_pending: Annotated[
        int,
        Meta(
            ge=1,
            le=100_000,
            description="deliveries in progress, waiting for their next attempt included; at "
            "this many the deliverer reads no more until one ends (each holds its body in memory)",
        ),
    ] = 1000
    callback_max_age_s: Annotated[
        int,
        Meta(
            ge=1,
            description="results of executions that ended longer ago are not delivered (a new "
            "consumer group reads the log from its start)",
        ),
    ] = 24 * 3600
    callback_group: Annotated[
        str, Meta(min_length=1, description="the deliverer's Kafka consumer group")
    ] = "runbox-callbacks"
    policy: CallbackPolicy = msgspec.field(default_factory=CallbackPolicy)

    def check(self) -> None:
        if len(self.callback_secret) < 16:  # Meta's min_length is not checked from the environment
            raise SettingsError(
                "CALLBACK_SECRET", "(hidden)", "expected a string of at least 16 characters"
            )
        if self.callback_max_backoff_ms < self.callback_backoff_ms:
            raise SettingsError(
                "CALLBACK_MAX_BACKOFF_MS",
                self.callback_max_backoff_ms,
                f"expected at least CALLBACK_BACKOFF_MS ({self.callback_backoff_ms})",
            )
