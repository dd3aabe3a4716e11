"""The API's exceptions and their one mapping to JSON error responses."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR


class ApiError(Exception):
    """The request could not be served."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.__doc__)
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        self.headers: dict[str, str] = {}


class BadRequest(ApiError):
    """The request is malformed."""

    status_code = 400
    code = "bad_request"


class InvalidInput(ApiError):
    """A field is out of range or of the wrong kind."""

    status_code = 422
    code = "invalid_input"


class NotFound(ApiError):
    """No such resource."""

    status_code = 404
    code = "not_found"


class SessionClosed(ApiError):
    """The code session is closed."""

    status_code = 409
    code = "session_closed"


class TooLarge(ApiError):
    """The request is larger than allowed."""

    status_code = 413
    code = "too_large"


class RateLimited(ApiError):
    """Too many runs; try again later."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str | None = None,
        retry_after: int = 60,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, retryAfter=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after), **(headers or {})}


class Conflict(ApiError):
    """Another change to this code session came first; read it again and retry."""

    status_code = 409
    code = "conflict"


class IdempotencyKeyReused(ApiError):
    """This Idempotency-Key was used for a different request."""

    status_code = 422
    code = "idempotency_key_reused"


class DependencyDown(ApiError):
    """A service the engine depends on is unavailable; try again shortly."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str | None = None, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers = {"Retry-After": str(retry_after)}


class Backpressure(DependencyDown):
    """Too many runs are waiting; try again shortly."""

    code = "backpressure"

    def __init__(self, message: str | None = None, retry_after: int = 2, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, retryAfter=retry_after, **details)


class NoExecutors(DependencyDown):
    """No live executor runs this language right now; try again shortly."""

    code = "no_executors"


class ProjectionBehind(DependencyDown):
    """The write is recorded but not yet visible to reads; try again shortly."""

    code = "projection_behind"


def error_body(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "code": code, "details": details}
    if "retryAfter" in details:
        body["retryAfter"] = details["retryAfter"]
    return body


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return Response(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (a refused parameter, unknown route, wrong method, a body too
    large) in our format."""
    details: dict[str, Any] = {}
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
    }.get(exc.status_code, "http_error")
    if isinstance(exc, ValidationException):
        # A parameter Litestar refused (bodies are decoded by api.dto, never by Litestar): its
        # message quotes the URL, so it must not decide the code.
        details = {"errors": exc.extra} if exc.extra else {}
        return Response(error_body("invalid_input", exc.detail, details), status_code=422)
    return Response(
        error_body(code, exc.detail, details),
        status_code=exc.status_code,
        headers=exc.headers or None,
    )


def unexpected_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    import logging

    logging.getLogger("api").exception("unexpected error", exc_info=exc)
    return Response(
        error_body("internal_error", "internal error", {}),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
