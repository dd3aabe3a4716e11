"""The runbox Python SDK: `Client` (sync) and `AsyncClient` over the HTTP API, and the `runbox`
command line (`runbox.cli`)."""

from __future__ import annotations

from runbox.aio import AsyncClient
from runbox.calls import Retry
from runbox.client import Client
from runbox.errors import (
    ApiError,
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    RunboxError,
    SessionClosed,
    StreamError,
    TooLarge,
    TransportError,
    Unavailable,
)
from runbox.types import (
    ExecutionEvent,
    ExecutionResult,
    ExecutionState,
    ExecutionSummary,
    Language,
    LanguageDetail,
    OutputEvent,
    ResultEvent,
    RunQueued,
    Session,
    SessionRevision,
    StatusEvent,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "ExecutionEvent",
    "ExecutionResult",
    "ExecutionState",
    "ExecutionSummary",
    "InvalidInput",
    "Language",
    "LanguageDetail",
    "NotFound",
    "OutputEvent",
    "RateLimited",
    "ResultEvent",
    "Retry",
    "RunQueued",
    "RunboxError",
    "Session",
    "SessionClosed",
    "SessionRevision",
    "StatusEvent",
    "StreamError",
    "TooLarge",
    "TransportError",
    "Unavailable",
]
