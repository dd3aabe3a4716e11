"""Judge0 CE 1.13.1's contract, the fixed parts: its language ids and names, statuses,
attributes and `fields=`, configuration variables, and Base64 as Ruby writes it.

Written from Judge0's documentation and source (db/languages, app/enumerations/status.rb,
app/helpers/config.rb, serializers, services), never copied. The verdict and the answers are in
judge0_answers, the checks of a submission in judge0_validation, the routes in judge0.py.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from config.limits import RunPolicy

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
