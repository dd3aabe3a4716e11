"""Judge0's checks of a submission, with its own messages (Rails's validations of
app/models/submission.rb), against what this engine runs and allows; and what a valid one runs.

Written from Judge0's source and documentation, never copied.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dropin.judge0_contract import (
    KEY_OF,
    MAX_CPU_EXTRA_TIME,
    MAX_MAX_FILE_SIZE,
    MAX_MAX_PROCESSES,
    MAX_NUMBER_OF_RUNS,
    MAX_STACK_LIMIT,
    Config,
    decode64,
)
from schemas.events import Judge0Attributes

FieldErrors = dict[str, list[str]]

# Rails's boolean casting: these are false, blank is absent, anything else is true.
_FALSE = {False, "0", "f", "F", "false", "FALSE", "False", "off", "OFF"}


def _boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | dict):
        return True
    return value not in _FALSE


def _number(value: Any) -> float | str | None:
    """A number, None (absent), or "nan" (not a number: Rails's "is not a number")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "nan"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return "nan"
        return number if math.isfinite(number) else "nan"
    return "nan"


def _bound(limit: float, integer: bool) -> str:
    """A bound as Rails prints it: 2048 for an integer attribute, 60.0 for a decimal one."""
    return str(int(limit)) if integer else repr(float(limit))


@dataclass(frozen=True)
class Submission:
    """A valid submission: what we run, and what Judge0 attributes it keeps."""

    key: str
    source_code: str
    stdin: str
    args: list[str]
    time_limit_ms: int
    memory_mb: int
    attributes: Judge0Attributes


def validate(
    body: Any, config: Config, available: set[str], base64_encoded: bool
) -> Submission | FieldErrors:
    """Judge0's validations of a submission (with its messages), against our languages."""
    if not isinstance(body, dict):
        body = {}
    errors: FieldErrors = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    def text_of(name: str) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        value = value if isinstance(value, str) else str(value)
        if not base64_encoded:
            return value
        raw = decode64(value) or b""
        try:
            return raw.decode()
        except UnicodeDecodeError:
            add(name, "is not valid UTF-8 once Base64-decoded (this engine runs text only)")
            return None

    source = text_of("source_code")
    if source is None or not source.strip():
        add("source_code", "can't be blank")
    stdin = text_of("stdin") or ""
    expected = text_of("expected_output")

    language_id: int | None = None
    raw_language = body.get("language_id")
    if raw_language is None or raw_language == "":
        add("language_id", "can't be blank")
    else:
        try:
            language_id = int(str(raw_language).strip())
        except ValueError:
            language_id = None
        if language_id not in KEY_OF or KEY_OF[language_id] not in available:
            add("language_id", f"language with id {raw_language} doesn't exist")

    numbers: dict[str, float | None] = {}
    ranges: tuple[tuple[str, float, float, bool], ...] = (
        ("cpu_time_limit", 0, config.max_cpu_time_limit, False),
        ("cpu_extra_time", 0, MAX_CPU_EXTRA_TIME, False),
        ("wall_time_limit", 1, config.max_wall_time_limit, False),
        ("memory_limit", 2048, config.max_memory_limit, False),
        ("stack_limit", 0, MAX_STACK_LIMIT, False),
        ("max_processes_and_or_threads", 0, MAX_MAX_PROCESSES, True),
        ("max_file_size", 0, MAX_MAX_FILE_SIZE, False),
        ("number_of_runs", 0, MAX_NUMBER_OF_RUNS, True),
    )
    for name, low, high, exclusive in ranges:
        value = _number(body.get(name))
        if value == "nan":
            add(name, "is not a number")
            continue
        assert not isinstance(value, str)
        numbers[name] = value
        if value is None:
            continue
        integer_bound = name not in {"cpu_time_limit", "cpu_extra_time", "wall_time_limit"}
        shown_low, shown_high = _bound(low, integer_bound), _bound(high, integer_bound)
        if exclusive and value <= low:
            add(name, f"must be greater than {shown_low}")
        elif not exclusive and value < low:
            add(name, f"must be greater than or equal to {shown_low}")
        if value > high:
            add(name, f"must be less than or equal to {shown_high}")

    for name in ("compiler_options", "command_line_arguments"):
        value = body.get(name)
        if value is not None and len(str(value)) > 512:
            add(name, "is too long (maximum is 512 characters)")
    if str(body.get("compiler_options") or "").strip():
        add("compiler_options", "setting compiler options is not allowed")
    if str(body.get("additional_files") or "").strip():
        add("additional_files", "setting additional files is not allowed")
    if _boolean(body.get("enable_network")):
        add("enable_network", "enabling network is not allowed")
    for name in (
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
    ):
        if _boolean(body.get(name)):
            add(name, "this option cannot be enabled")
    callback_url = body.get("callback_url")
    if callback_url not in (None, ""):
        parts = urlsplit(str(callback_url))
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            add("callback_url", "is not a valid http or https URL")

    if errors:
        return errors
    assert source is not None and language_id is not None
    arguments = str(body.get("command_line_arguments") or "")
    cpu = numbers.get("cpu_time_limit")
    memory_kb = numbers.get("memory_limit")
    policy = config.policy
    return Submission(
        key=KEY_OF[language_id],
        source_code=source,
        stdin=stdin,
        args=command_line(arguments),
        time_limit_ms=max(policy.min_time_limit_ms, round(cpu * 1000))
        if cpu is not None
        else policy.default_time_limit_ms,
        memory_mb=max(policy.min_memory_mb, math.ceil(memory_kb / 1024))
        if memory_kb is not None
        else policy.default_memory_mb,
        attributes=Judge0Attributes(
            language_id=language_id,
            expected_output=expected,
            redirect_stderr_to_stdout=bool(_boolean(body.get("redirect_stderr_to_stdout"))),
            callback_url=str(callback_url) if callback_url not in (None, "") else None,
            command_line_arguments=arguments or None,
            cpu_time_limit=cpu,
            cpu_extra_time=numbers.get("cpu_extra_time"),
            wall_time_limit=numbers.get("wall_time_limit"),
            memory_limit=int(memory_kb) if memory_kb is not None else None,
            stack_limit=_int(numbers.get("stack_limit")),
            max_processes_and_or_threads=_int(numbers.get("max_processes_and_or_threads")),
            max_file_size=_int(numbers.get("max_file_size")),
            number_of_runs=_int(numbers.get("number_of_runs")),
        ),
    )


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def command_line(arguments: str) -> list[str]:
    """Judge0 appends the arguments to a bash command line, without $ & ; < > | `: words as
    bash splits them (quotes group), nothing expanded."""
    cleaned = re.sub(r"[$&;<>|`]", "", arguments.strip())
    try:
        return shlex.split(cleaned)
    except ValueError:  # an unbalanced quote: bash would fail; we split on blanks
        return cleaned.split()
