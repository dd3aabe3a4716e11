"""How one of our runs reads as a Judge0 submission: its status (Judge0's verdict rule, the
runtime error kinds by signal), its attributes, and their presentation (text or Base64).

Written from Judge0's isolate_job.rb and submission_serializer.rb, never copied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from dropin.judge0_contract import (
    COMPILED,
    CPU_EXTRA_TIME,
    DESCRIPTION,
    ID_OF_KEY,
    MAX_FILE_SIZE,
    MAX_PROCESSES,
    NAME_OF,
    NUMBER_OF_RUNS,
    SIGNAL_STATUS,
    STACK_LIMIT,
    TEXT_FIELDS,
    Config,
    encode64,
)
from schemas.events import Judge0Attributes


def strip_output(text: str) -> str:
    """Judge0's comparison form: trailing whitespace off every line, and trailing lines off."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def output_matches(stdout: str | None, expected_output: str | None) -> bool:
    """Judge0's rule (isolate_job.rb): no expected output accepts; else equal once stripped.

    One small function so that our own test-case comparison can take its place later."""
    if expected_output is None:
        return True
    return strip_output(expected_output) == strip_output(stdout or "")


def status_of(run: Run, expected_output: str | None) -> tuple[int, str | None]:
    """Judge0's status id and `message` for one of our runs."""
    if run.status == "QUEUED":
        return 1, None
    if run.status == "RUNNING":
        return 2, None
    code = run.error_code
    if code == "E001" and run.language_key in COMPILED:
        return 6, None
    if run.status == "TIMEOUT" or code == "E004":
        return 5, "Time limit exceeded"
    if code == "E003":
        return 12, "Memory limit exceeded"
    if code in {"E005", "E006"} or run.status not in {"COMPLETED", "FAILED"}:
        return 13, run.error_message or "internal error"
    if run.signal is not None:
        return SIGNAL_STATUS.get(run.signal, 12), f"Caught fatal signal {run.signal}"
    if run.exit_code not in (0, None):
        return 11, f"Exited with error status {run.exit_code}"
    return (3 if output_matches(run.stdout, expected_output) else 4), None


@dataclass(frozen=True)
class Run:
    """The parts of an execution row a Judge0 answer is made of."""

    token: str
    status: str
    language_key: str
    error_code: str | None
    error_message: str | None
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    compile_output: str
    cpu_time_ms: int | None
    execution_time_ms: int | None
    memory_peak_kb: int | None
    source_code: str
    stdin: str
    created_at: datetime | None
    finished_at: datetime | None
    time_limit_ms: int | None
    memory_mb: int | None
    invalid_utf8: tuple[str, ...] = ()  # Outcome.invalid_utf8


def seconds(ms: int | float | None) -> str | None:
    """Judge0's decimals as JSON strings: "0.012", "1.0"."""
    if ms is None:
        return None
    return decimal_text(Decimal(str(ms)) / 1000)


def decimal_text(value: Decimal | float) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text if "." in text else f"{text}.0"


def timestamp(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def attributes(run: Run, asked: Judge0Attributes | None, config: Config) -> dict[str, Any]:
    """Every attribute of the submission, text ones as bytes (encoded by `present`)."""
    asked = asked or Judge0Attributes(language_id=ID_OF_KEY.get(run.language_key, 0))
    seen = run
    if asked.redirect_stderr_to_stdout:  # the verdict compares what the client gets as stdout
        seen = replace(run, stdout=run.stdout + run.stderr, stderr="")
    status_id, message = status_of(seen, asked.expected_output)
    done = status_id > 2
    compile_error = status_id == 6
    stdout, stderr = run.stdout, run.stderr
    if asked.redirect_stderr_to_stdout:
        stdout, stderr = stdout + stderr, ""
    compiled_output = run.compile_output if run.language_key in COMPILED else ""

    def text(value: str) -> bytes | None:
        return value.encode() if done and value else None

    return {
        "source_code": run.source_code.encode(),
        "language_id": asked.language_id,
        "stdin": run.stdin.encode() if run.stdin else None,
        "expected_output": asked.expected_output.encode()
        if asked.expected_output is not None
        else None,
        "stdout": None if compile_error else text(stdout),
        "status_id": status_id,
        "created_at": timestamp(run.created_at),
        "finished_at": timestamp(run.finished_at) if done else None,
        "time": None if compile_error or not done else seconds(run.cpu_time_ms),
        "memory": None if compile_error or not done else run.memory_peak_kb,
        "stderr": None if compile_error else text(stderr),
        "token": run.token,
        "number_of_runs": asked.number_of_runs or NUMBER_OF_RUNS,
        "cpu_time_limit": decimal_text(
            asked.cpu_time_limit
            if asked.cpu_time_limit is not None
            else (run.time_limit_ms or 0) / 1000
        ),
        "cpu_extra_time": decimal_text(
            asked.cpu_extra_time if asked.cpu_extra_time is not None else CPU_EXTRA_TIME
        ),
        "wall_time_limit": decimal_text(
            asked.wall_time_limit
            if asked.wall_time_limit is not None
            else 2 * (run.time_limit_ms or 0) / 1000 + 0.5
        ),
        "memory_limit": asked.memory_limit or (run.memory_mb or 0) * 1024,
        "stack_limit": asked.stack_limit or STACK_LIMIT,
        "max_processes_and_or_threads": asked.max_processes_and_or_threads or MAX_PROCESSES,
        "enable_per_process_and_thread_time_limit": asked.enable_per_process_and_thread_time_limit,
        "enable_per_process_and_thread_memory_limit": (
            asked.enable_per_process_and_thread_memory_limit
        ),
        "max_file_size": asked.max_file_size or MAX_FILE_SIZE,
        "compile_output": text(compiled_output),
        "exit_code": None if compile_error or not done else (run.exit_code or 0),
        "exit_signal": None if compile_error or not done else run.signal,
        "message": message.encode() if message else None,
        "wall_time": None if compile_error or not done else seconds(run.execution_time_ms),
        "compiler_options": asked.compiler_options,
        "command_line_arguments": asked.command_line_arguments,
        "redirect_stderr_to_stdout": asked.redirect_stderr_to_stdout,
        "callback_url": asked.callback_url,
        "additional_files": None,
        "enable_network": asked.enable_network,
        "status": {"id": status_id, "description": DESCRIPTION[status_id]},
        "language": {"id": asked.language_id, "name": NAME_OF.get(asked.language_id)},
    }


class NotUtf8(Exception):
    """An attribute asked for holds what is no UTF-8 text (answer with base64_encoded=true)."""


def not_utf8(run: Run, asked: Judge0Attributes | None) -> frozenset[str]:
    """The attributes whose program output held bytes that are not UTF-8 (the sandbox says
    which: Outcome.invalid_utf8), as the client gets them (stderr redirected into stdout)."""
    invalid = set(run.invalid_utf8)
    if asked is not None and asked.redirect_stderr_to_stdout:
        invalid = ({"stdout"} if invalid & {"stdout", "stderr"} else set()) | (
            invalid & {"compile_output"}
        )
    if run.language_key not in COMPILED:
        invalid.discard("compile_output")  # an interpreted language has none (see attributes)
    return frozenset(invalid)


def present(
    values: dict[str, Any],
    fields: tuple[str, ...],
    base64_encoded: bool,
    invalid: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The asked-for attributes: text Base64-encoded (as stored by Judge0) or as UTF-8 text;
    NotUtf8 when an attribute asked for as text is one of the `invalid` (not UTF-8).

    Our outputs reach us as text, their bytes that are not UTF-8 as U+FFFD: Base64 is of that
    text (Judge0 encodes the bytes themselves)."""
    answer: dict[str, Any] = {}
    for name in fields:
        value = values[name]
        if name in TEXT_FIELDS and isinstance(value, bytes):
            if not base64_encoded and name in invalid:
                raise NotUtf8
            value = encode64(value) if base64_encoded else value.decode()
        answer[name] = value
    return answer
