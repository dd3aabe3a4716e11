"""The SDK's exceptions: one root, the API's error answers (`{error, code, details}`) by code."""

from __future__ import annotations

from typing import Any


class RunboxError(Exception):
    """Something went wrong talking to runbox."""


class TransportError(RunboxError):
    """The API could not be reached, or the connection broke (after the retries)."""


class StreamError(RunboxError):
    """The event stream of an execution broke and could not be resumed."""


class ApiError(RunboxError):
    """The API answered with an error: its HTTP status, stable `code`, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400: a malformed request."""


class NotFound(ApiError):
    """404: no resource with this id."""


class SessionClosed(ApiError):
    """409 session_closed: the session refuses writes and runs."""


class Conflict(ApiError):
    """409 conflict: another write came first; `details["revision"]` is the current revision."""

    @property
    def current_revision(self) -> int | None:
        revision = self.details.get("revision")
        return revision if isinstance(revision, int) else None


class TooLarge(ApiError):
    """413: source code or stdin over its limit."""


class InvalidInput(ApiError):
    """422: a field missing, unknown, of the wrong type or out of range (or an idempotency key
    reused for another body: code idempotency_key_reused)."""


class RateLimited(ApiError):
    """429: too many runs; `retry_after` says when to try again."""


class Unavailable(ApiError):
    """503: a dependency is down, too many runs wait, no executor runs the language, or the
    write is recorded but not yet visible (code says which)."""


_BY_CODE: dict[str, type[ApiError]] = {
    "session_closed": SessionClosed,
    "conflict": Conflict,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidInput,
    429: RateLimited,
    503: Unavailable,
}


def error_for(
    status: int,
    body: Any,
    retry_after: float | None = None,
) -> ApiError:
    """The exception for an error answer; a body not in our shape (a proxy's page) still gives
    one, with code `http_error`."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code: str = body["code"]
        message = str(body.get("error", ""))
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        if retry_after is None and isinstance(body.get("retryAfter"), int | float):
            retry_after = float(body["retryAfter"])
    else:
        code, message, details = "http_error", f"HTTP {status}", {}
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status, ApiError)
    return kind(status, code, message, details, retry_after)
