"""What the API answers, as typed values (msgspec Structs; fields the SDK does not know yet are
ignored, so a newer server does not break an older client)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMEOUT"})


class Language(msgspec.Struct, frozen=True, kw_only=True):
    """A language the engine runs."""

    id: str
    name: str
    runtime: str
    version: str
    default_time_limit_ms: int
    default_memory_mb: int


class LanguageDetail(Language, frozen=True, kw_only=True):
    """A language with its key, template and the file name its source is saved as."""

    key: str
    template_code: str
    file_name: str


class LanguageList(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    languages: list[Language]


class SessionRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A code session after a write (created, saved or closed)."""

    session_id: str
    status: Literal["ACTIVE", "INACTIVE"]
    revision: int


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A code session as it is now."""

    session_id: str
    status: Literal["ACTIVE", "INACTIVE"]
    language_id: str
    language_name: str | None
    source_code: str
    runtime: str | None
    version: str | None
    created_at: datetime
    updated_at: datetime
    revision: int


class RunQueued(msgspec.Struct, frozen=True, kw_only=True):
    """A run accepted: follow it with `events()` or `wait()`."""

    execution_id: str
    status: str


class ExecutionSummary(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    status: str
    execution_time_ms: int | None
    exit_code: int | None
    created_at: datetime | None


class SessionExecutions(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    executions: list[ExecutionSummary]


class ExecutionState(msgspec.Struct, frozen=True, kw_only=True):
    """An execution not finished yet (QUEUED or RUNNING)."""

    execution_id: str
    status: str

    @property
    def done(self) -> bool:
        return False


class LanguageView(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None
    name: str | None
    version: str | None


class RerunComparison(msgspec.Struct, frozen=True, kw_only=True):
    of: str
    stdout_matches: bool | None
    stderr_matches: bool | None
    exit_code_matches: bool | None


class ExecutionResult(msgspec.Struct, frozen=True, kw_only=True):
    """A finished execution: COMPLETED, FAILED or TIMEOUT (then `error_code` is E001 to E006)."""

    execution_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    compile_output: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    execution_time_ms: int | None = None
    compile_time_ms: int | None = None
    cpu_time_ms: int | None = None
    memory_peak_kb: int | None = None
    warnings: list[str] = []
    attempt: int = 1
    worker_id: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    session_id: str | None = None
    language: LanguageView | None = None
    time_limit_ms: int | None = None
    memory_mb: int | None = None
    args: list[str] | None = None
    rerun: RerunComparison | None = None

    @property
    def done(self) -> bool:
        return True

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"


class StatusEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The execution's status now (sent first, then on each change)."""

    status: str


class OutputEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk the program printed, as it printed it."""

    stream: Literal["stdout", "stderr"]
    data: str
    seq: int = 0


class ResultEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The end of the stream: the finished execution."""

    result: ExecutionResult


ExecutionEvent = StatusEvent | OutputEvent | ResultEvent
