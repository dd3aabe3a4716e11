"""Request bodies (decoded strictly: malformed JSON is a 400, a wrong field a 422) and answers."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec

from api.errors import BadRequest, InvalidInput
from schemas.events import Outcome


class CreateSession(msgspec.Struct, forbid_unknown_fields=True):
    language_id: str
    source_code: str | None = None


class UpdateSession(msgspec.Struct, forbid_unknown_fields=True):
    source_code: str


class RequeueOptions(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None


class RunOptions(msgspec.Struct, forbid_unknown_fields=True):
    time_limit_ms: int | None = None
    memory_mb: int | None = None
    stdin: str | None = None
    args: list[str] | None = None


T = TypeVar("T", bound=msgspec.Struct)


def parse_body(raw: bytes, kind: type[T], *, optional: bool = False) -> T:
    if not raw.strip():
        if optional:
            return kind()
        raise BadRequest("a JSON body is required")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc


class LanguageView(msgspec.Struct, frozen=True, kw_only=True):
    """The language an execution ran with, as it was when the run was requested."""

    id: str | None
    name: str | None
    version: str | None


class ExecutionState(msgspec.Struct, frozen=True, kw_only=True):
    """An execution still QUEUED or RUNNING."""

    execution_id: str
    status: str


class RerunComparison(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a re-run reproduced the execution it re-ran (None: the original has no outcome)."""

    of: str
    stdout_matches: bool | None
    stderr_matches: bool | None
    exit_code_matches: bool | None


class ExecutionResult(Outcome, frozen=True, kw_only=True):
    """A finished execution: its outcome (every field of `Outcome`) and its history."""

    execution_id: str
    error_message: str | None
    attempt: int
    worker_id: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    session_id: str | None
    language: LanguageView
    time_limit_ms: int | None
    memory_mb: int | None
    args: list[str] | None
    rerun: RerunComparison | None = None  # set on re-runs (POST /executions/{id}/rerun)


# Read from the `executions` row by name; the others are built from several columns.
RESULT_COLUMNS = tuple(
    f.name
    for f in msgspec.structs.fields(ExecutionResult)
    if f.name not in {"execution_id", "session_id", "language", "rerun"}
)
