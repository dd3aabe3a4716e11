"""Judge0 CE 1.13.1's contract as pure functions: its language ids, statuses, Base64, `fields=`,
validation messages, and how a finished run of ours reads as a Judge0 submission.

Written from Judge0's documentation and source (app/models/submission.rb, isolate_job.rb,
serializers, services), never copied; the routes are in api/compat/judge0.py.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import shlex
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from config.limits import RunPolicy
from schemas.events import Judge0Attributes

VERSION = "1.13.1"

# (Judge0 id, Judge0 1.13.1 name, our language key): the entries of Judge0's active languages
# whose language we run. Names are Judge0's (clients map names to ids with them), not our versions.
LANGUAGES: tuple[tuple[int, str, str], ...] = (
    (46, "Bash (5.0.0)", "bash"),
    (48, "C (GCC 7.4.0)", "c"),
    (49, "C (GCC 8.3.0)", "c"),
    (50, "C (GCC 9.2.0)", "c"),
    (52, "C++ (GCC 7.4.0)", "cpp"),
    (53, "C++ (GCC 8.3.0)", "cpp"),
    (54, "C++ (GCC 9.2.0)", "cpp"),
    (60, "Go (1.13.5)", "go"),
    (62, "Java (OpenJDK 13.0.1)", "java"),
    (63, "JavaScript (Node.js 12.14.0)", "javascript"),
    (68, "PHP (7.4.1)", "php"),
    (71, "Python (3.8.1)", "python"),
    (72, "Ruby (2.7.0)", "ruby"),
    (73, "Rust (1.40.0)", "rust"),
    (74, "TypeScript (3.7.4)", "typescript"),
)
KEY_OF = {judge0_id: key for judge0_id, _, key in LANGUAGES}
NAME_OF = {judge0_id: name for judge0_id, name, _ in LANGUAGES}
# The id a run of ours (not submitted through Judge0) answers with: the newest of its entries.
ID_OF_KEY = {key: judge0_id for judge0_id, _, key in LANGUAGES}
COMPILED = frozenset({"c", "cpp", "go", "java", "rust", "typescript"})

STATUSES: tuple[tuple[int, str], ...] = (
    (1, "In Queue"),
    (2, "Processing"),
    (3, "Accepted"),
    (4, "Wrong Answer"),
    (5, "Time Limit Exceeded"),
    (6, "Compilation Error"),
    (7, "Runtime Error (SIGSEGV)"),
    (8, "Runtime Error (SIGXFSZ)"),
    (9, "Runtime Error (SIGFPE)"),
    (10, "Runtime Error (SIGABRT)"),
    (11, "Runtime Error (NZEC)"),
    (12, "Runtime Error (Other)"),
    (13, "Internal Error"),
    (14, "Exec Format Error"),
)
DESCRIPTION = dict(STATUSES)
SIGNAL_STATUS = {11: 7, 25: 8, 8: 9, 6: 10}  # SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT; else 12

# Every attribute of a submission, in Judge0's order; `fields=*` answers all of them.
FIELDS = (
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id",
    "created_at", "finished_at", "time", "memory", "stderr", "token", "number_of_runs",
    "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
    "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output",
    "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
    "command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files",
    "enable_network", "status", "language",
)  # fmt: skip
DEFAULT_FIELDS = (
    "token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status",
)  # fmt: skip
TEXT_FIELDS = frozenset({"source_code", "stdin", "expected_output", "stdout", "stderr",
                         "compile_output", "message"})  # fmt: skip
MAX_BATCH = 20

# Judge0's defaults and bounds that we keep as they are (stack, processes, file size, runs:
# accepted and echoed, our own limits apply; see the README).
CPU_EXTRA_TIME, MAX_CPU_EXTRA_TIME = 1.0, 5.0
STACK_LIMIT, MAX_STACK_LIMIT = 64000, 128000
MAX_PROCESSES, MAX_MAX_PROCESSES = 60, 120
MAX_FILE_SIZE, MAX_MAX_FILE_SIZE = 1024, 4096
NUMBER_OF_RUNS, MAX_NUMBER_OF_RUNS = 1, 20


@dataclass(frozen=True)
class Config:
    """Judge0's configuration variables, as this engine honours them (GET /config_info)."""

    policy: RunPolicy
    max_queue_size: int

    @property
    def cpu_time_limit(self) -> float:
        return self.policy.default_time_limit_ms / 1000

    @property
    def max_cpu_time_limit(self) -> float:
        return self.policy.max_time_limit_ms / 1000

    @property
    def wall_time_limit(self) -> float:
        return 2 * self.cpu_time_limit + 0.5  # sandbox/limits.py: 2 x the CPU limit + 0.5 s

    @property
    def max_wall_time_limit(self) -> float:
        return 2 * self.max_cpu_time_limit + 0.5

    @property
    def memory_limit(self) -> int:
        return self.policy.default_memory_mb * 1024

    @property
    def max_memory_limit(self) -> int:
        return self.policy.max_memory_mb * 1024

    def info(self) -> dict[str, Any]:
        return {
            "maintenance_mode": False,
            "enable_wait_result": True,
            "enable_compiler_options": False,
            "allowed_languages_for_compile_options": [],
            "enable_command_line_arguments": True,
            "enable_submission_delete": False,  # the event log keeps every run
            "enable_callbacks": True,
            "callbacks_max_tries": 3,
            "callbacks_timeout": 5.0,
            "enable_additional_files": False,
            "max_queue_size": self.max_queue_size,
            "cpu_time_limit": self.cpu_time_limit,
            "max_cpu_time_limit": self.max_cpu_time_limit,
            "cpu_extra_time": CPU_EXTRA_TIME,
            "max_cpu_extra_time": MAX_CPU_EXTRA_TIME,
            "wall_time_limit": self.wall_time_limit,
            "max_wall_time_limit": self.max_wall_time_limit,
            "memory_limit": self.memory_limit,
            "max_memory_limit": self.max_memory_limit,
            "stack_limit": STACK_LIMIT,
            "max_stack_limit": MAX_STACK_LIMIT,
            "max_processes_and_or_threads": MAX_PROCESSES,
            "max_max_processes_and_or_threads": MAX_MAX_PROCESSES,
            "enable_per_process_and_thread_time_limit": False,
            "allow_enable_per_process_and_thread_time_limit": False,
            "enable_per_process_and_thread_memory_limit": False,
            "allow_enable_per_process_and_thread_memory_limit": False,
            "max_file_size": MAX_FILE_SIZE,
            "max_max_file_size": MAX_MAX_FILE_SIZE,
            "number_of_runs": NUMBER_OF_RUNS,
            "max_number_of_runs": MAX_NUMBER_OF_RUNS,
            "redirect_stderr_to_stdout": False,
            "max_extract_size": 10240,
            "enable_batched_submissions": True,
            "max_submission_batch_size": MAX_BATCH,
            "submission_cache_duration": 1.0,
            "use_docs_as_homepage": False,
            "allow_enable_network": False,
            "enable_network": False,
        }


# --- Base64, as Ruby's Base64.encode64 / decode64 (what Judge0 uses) -------------------------


def encode64(data: bytes | None) -> str | None:
    """RFC 2045 Base64: a line break after every 60 characters and at the end ("" for b"")."""
    if data is None:
        return None
    return "".join(
        base64.b64encode(data[i : i + 45]).decode() + "\n" for i in range(0, len(data), 45)
    )


def decode64(text: str | None) -> bytes | None:
    """Lenient, like decode64: characters outside the alphabet are skipped, padding optional."""
    if text is None:
        return None
    letters = re.sub(r"[^A-Za-z0-9+/]", "", text.split("=", 1)[0])
    if len(letters) % 4 == 1:
        letters = letters[:-1]  # a lone last character carries no whole byte
    try:
        return base64.b64decode(letters + "=" * (-len(letters) % 4))
    except (binascii.Error, ValueError):
        return b""


# --- fields= -----------------------------------------------------------------------------------


def requested_fields(raw: str | None) -> tuple[tuple[str, ...], list[str]]:
    """The attributes asked for (the default 8 when none), and the unknown names asked for."""
    names = [name for name in (raw or "").split(",") if name]
    invalid = [name for name in names if name != "*" and name not in FIELDS]
    if "*" in names:
        return FIELDS, invalid
    valid = tuple(dict.fromkeys(name for name in names if name not in invalid))
    return valid or DEFAULT_FIELDS, invalid


def invalid_fields_error(invalid: list[str]) -> str:
    return f"invalid fields: [{', '.join(invalid)}]"


# --- the verdict ------------------------------------------------------------------------------


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


def present(
    values: dict[str, Any], fields: tuple[str, ...], base64_encoded: bool
) -> dict[str, Any]:
    """The asked-for attributes: text Base64-encoded (as stored by Judge0) or as UTF-8 text.

    Our outputs are text already: bytes a program wrote that were no UTF-8 became U+FFFD when
    the sandbox decoded them, so a replacement character in an output is read as such bytes."""
    answer: dict[str, Any] = {}
    for name in fields:
        value = values[name]
        if name in TEXT_FIELDS and isinstance(value, bytes):
            if base64_encoded:
                value = encode64(value)
            else:
                text = value.decode()
                if name in {"stdout", "stderr", "compile_output"} and "\ufffd" in text:
                    raise NotUtf8
                value = text
        answer[name] = value
    return answer


# --- validation: Judge0's attributes and its messages -----------------------------------------

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
