"""The result of a run is declared once (schemas.events.Outcome); the others derive from it."""

from __future__ import annotations

import dataclasses
import uuid

import msgspec
import orjson

from api.dto import RESULT_COLUMNS, ExecutionResult
from processors.executor import NOT_FROM_THE_SANDBOX, outcome_of
from projections.fold import EXECUTION_COLUMNS
from sandbox import ErrorCode, Result, Status
from schemas import decode, events

OUTCOME_FIELDS = {f.name for f in msgspec.structs.fields(events.Outcome)}


def test_the_executor_carries_every_outcome_field_from_the_sandbox() -> None:
    result = Result(
        status=Status.FAILED, error_code=ErrorCode.RUNTIME, exit_code=3, signal=None,
        stdout="out", stderr="err", compile_output="cc", stdout_truncated=True,
        stderr_truncated=False, execution_time_ms=11, compile_time_ms=22, cpu_time_ms=33,
        memory_peak_kb=44, read_bytes=55, written_bytes=66, voluntary_context_switches=77,
        involuntary_context_switches=88,
    )  # fmt: skip
    sandbox_fields = {f.name for f in dataclasses.fields(Result)}
    measured = OUTCOME_FIELDS - set(NOT_FROM_THE_SANDBOX)
    assert sandbox_fields >= measured, "the sandbox must measure every outcome field"
    outcome = outcome_of(result, ["a warning"])
    assert msgspec.to_builtins(outcome) == {
        "status": "FAILED", "error_code": "E002", "exit_code": 3, "signal": None,
        "stdout": "out", "stderr": "err", "compile_output": "cc", "stdout_truncated": True,
        "stderr_truncated": False, "execution_time_ms": 11, "compile_time_ms": 22,
        "cpu_time_ms": 33, "memory_peak_kb": 44, "read_bytes": 55, "written_bytes": 66,
        "voluntary_context_switches": 77, "involuntary_context_switches": 88,
        "warnings": ["a warning"], "test_results": None, "invalid_utf8": [],
    }  # fmt: skip


def test_the_row_and_the_answer_have_every_outcome_field() -> None:
    assert set(EXECUTION_COLUMNS) >= OUTCOME_FIELDS
    answer = {f.name for f in msgspec.structs.fields(ExecutionResult)}
    assert answer >= OUTCOME_FIELDS
    assert set(RESULT_COLUMNS) <= set(EXECUTION_COLUMNS), "the API reads columns the row lacks"


def test_a_version_1_run_finished_reads_as_version_2() -> None:
    execution_id = str(uuid.uuid4())
    v1 = {
        "event_id": str(uuid.uuid4()), "type": "RunFinished", "version": 1,
        "occurred_at": "2026-11-28T12:00:02Z", "key": execution_id,
        "payload": {
            "execution_id": execution_id, "attempt": 2, "worker_id": "w9", "status": "TIMEOUT",
            "error_code": "E004", "exit_code": None, "signal": 9, "stdout": "partial",
            "stderr": "", "compile_output": "", "stdout_truncated": False,
            "stderr_truncated": False, "execution_time_ms": 1000, "compile_time_ms": None,
            "cpu_time_ms": 990, "memory_peak_kb": 2048,
            "started_at": "2026-11-28T12:00:01Z", "finished_at": "2026-11-28T12:00:02Z",
        },
    }  # fmt: skip
    event = decode(orjson.dumps(v1))
    assert event.version == 2
    finished = event.payload
    assert isinstance(finished, events.RunFinished)
    assert (finished.attempt, finished.worker_id) == (2, "w9")
    assert finished.outcome == events.Outcome(
        status="TIMEOUT", error_code="E004", signal=9, stdout="partial",
        execution_time_ms=1000, cpu_time_ms=990, memory_peak_kb=2048,
    )  # fmt: skip
