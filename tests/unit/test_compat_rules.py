"""The pure halves of the drop-in APIs: Judge0's Base64, fields, comparison, statuses and
validation messages; Piston's semver selectors, checks and answers. No services."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from api.compat import judge0_validation as validation
from api.compat import piston_rules as p
from config.limits import RunPolicy
from dropin import judge0_answers as answers
from dropin import judge0_contract as contract

CONFIG = contract.Config(policy=RunPolicy(), max_queue_size=5000)
RUNNING = {"python", "c", "cpp"}


def run(**changes: object) -> answers.Run:
    values: dict[str, object] = dict(
        token="t", status="COMPLETED", language_key="python", error_code=None,
        error_message=None, exit_code=0, signal=None, stdout="42\n", stderr="",
        compile_output="", cpu_time_ms=12, execution_time_ms=20, memory_peak_kb=9000,
        source_code="print(42)", stdin="", created_at=datetime(2026, 1, 2, 3, 4, 5, 678900, UTC),
        finished_at=None, time_limit_ms=5000, memory_mb=256,
    )  # fmt: skip
    values.update(changes)
    return answers.Run(**values)  # type: ignore[arg-type]


def test_base64_is_rubys_encode64() -> None:
    data = bytes(range(256)) * 2
    encoded = contract.encode64(data)
    assert encoded is not None
    lines = encoded.split("\n")
    assert lines[-1] == "" and all(len(line) == 60 for line in lines[:-2])
    assert base64.b64decode(encoded) == data
    assert contract.encode64(b"hello, Judge0\n") == "aGVsbG8sIEp1ZGdlMAo=\n"  # Judge0's own example
    assert contract.encode64(b"") == "" and contract.encode64(None) is None
    # decode64 is lenient: line breaks, junk and missing padding are fine.
    assert contract.decode64("aGVs\nbG8s IEp1ZGdlMAo") == b"hello, Judge0\n"
    assert contract.decode64("SnVkZ2Uw") == b"Judge0"


def test_fields() -> None:
    assert contract.requested_fields(None) == (contract.DEFAULT_FIELDS, [])
    assert contract.requested_fields("stdout,status_id") == (("stdout", "status_id"), [])
    assert contract.requested_fields("*")[0] == contract.FIELDS and len(contract.FIELDS) == 35
    assert contract.requested_fields("stdout,nope")[1] == ["nope"]
    assert contract.invalid_fields_error(["a", "b"]) == "invalid fields: [a, b]"


def test_judge0s_comparison_rule() -> None:
    assert answers.output_matches("a \nb\t\n\n", "a\nb")
    assert answers.output_matches("x", None)  # nothing expected: accepted
    assert not answers.output_matches(" a\n", "a")  # leading whitespace counts
    assert not answers.output_matches("a\n\nb", "a\nb")  # inner blank lines count


@pytest.mark.parametrize(
    ("changes", "expected", "status"),
    [
        ({"status": "QUEUED"}, None, (1, None)),
        ({"status": "RUNNING"}, None, (2, None)),
        ({}, "42", (3, None)),
        ({}, "43", (4, None)),
        ({"status": "TIMEOUT", "error_code": "E004"}, None, (5, "Time limit exceeded")),
        ({"status": "FAILED", "error_code": "E001", "language_key": "c"}, None, (6, None)),
        ({"status": "FAILED", "error_code": "E002", "signal": 11}, None, (7, "Caught fatal signal 11")),
        ({"status": "FAILED", "error_code": "E002", "signal": 25}, None, (8, "Caught fatal signal 25")),
        ({"status": "FAILED", "error_code": "E002", "signal": 8}, None, (9, "Caught fatal signal 8")),
        ({"status": "FAILED", "error_code": "E002", "signal": 6}, None, (10, "Caught fatal signal 6")),
        ({"status": "FAILED", "error_code": "E002", "exit_code": 2}, None, (11, "Exited with error status 2")),
        # an interpreted language's syntax error is a failed run, as in Judge0
        ({"status": "FAILED", "error_code": "E001", "exit_code": 1}, None, (11, "Exited with error status 1")),
        ({"status": "FAILED", "error_code": "E002", "signal": 9}, None, (12, "Caught fatal signal 9")),
        ({"status": "FAILED", "error_code": "E003", "signal": 9}, None, (12, "Memory limit exceeded")),
        ({"status": "FAILED", "error_code": "E005", "error_message": "boom"}, None, (13, "boom")),
        ({"status": "FAILED", "error_code": "E006", "error_message": "no"}, None, (13, "no")),
    ],
)  # fmt: skip
def test_statuses(
    changes: dict[str, object], expected: str | None, status: tuple[int, str | None]
) -> None:
    assert answers.status_of(run(**changes), expected) == status


def test_attributes_and_presentation() -> None:
    values = answers.attributes(run(), None, CONFIG)
    assert values["language_id"] == 71 and values["time"] == "0.012" and values["memory"] == 9000
    assert values["wall_time"] == "0.02" and values["cpu_time_limit"] == "5.0"
    assert values["created_at"] == "2026-01-02T03:04:05.678Z"
    shown = answers.present(values, ("stdout", "stderr", "status"), base64_encoded=False)
    assert shown == {
        "stdout": "42\n",
        "stderr": None,
        "status": {"id": 3, "description": "Accepted"},
    }
    assert answers.present(values, ("stdout",), base64_encoded=True) == {"stdout": "NDIK\n"}
    # Only what the sandbox names as not UTF-8 needs Base64: a U+FFFD the program printed is text.
    printed = run(stdout="\ufffd")
    assert answers.present(
        answers.attributes(printed, None, CONFIG),
        ("stdout",),
        False,
        answers.not_utf8(printed, None),
    ) == {"stdout": "\ufffd"}
    lossy = run(stdout="\ufffd", invalid_utf8=("stdout",))
    with pytest.raises(answers.NotUtf8):
        answers.present(
            answers.attributes(lossy, None, CONFIG),
            ("stdout",),
            False,
            answers.not_utf8(lossy, None),
        )
    redirected_lossy = run(stderr="\ufffd", invalid_utf8=("stderr",))
    asked_redirect = validation.validate(
        {"source_code": "x", "language_id": 71, "redirect_stderr_to_stdout": True},
        CONFIG, RUNNING, False,
    )  # fmt: skip
    assert isinstance(asked_redirect, validation.Submission)
    assert answers.not_utf8(redirected_lossy, asked_redirect.attributes) == {"stdout"}
    asked = validation.validate(
        {"source_code": "print(1)", "language_id": 71, "redirect_stderr_to_stdout": True,
         "expected_output": "12"}, CONFIG, RUNNING, False,
    )  # fmt: skip
    assert isinstance(asked, validation.Submission)
    redirected = answers.attributes(run(stdout="1", stderr="2"), asked.attributes, CONFIG)
    assert (redirected["stdout"], redirected["stderr"], redirected["status_id"]) == (b"12", None, 3)


def test_validation_messages_and_mapping() -> None:
    assert validation.validate({}, CONFIG, RUNNING, False) == {
        "source_code": ["can't be blank"],
        "language_id": ["can't be blank"],
    }
    assert validation.validate({"source_code": "x", "language_id": 60}, CONFIG, RUNNING, False) == {
        "language_id": ["language with id 60 doesn't exist"]  # Go: not running here
    }
    errors = validation.validate(
        {"source_code": "x", "language_id": "71", "cpu_time_limit": 61, "number_of_runs": 0,
         "wall_time_limit": "0.5", "compiler_options": "-O3", "additional_files": "UEs=",
         "enable_per_process_and_thread_time_limit": "true"}, CONFIG, RUNNING, False,
    )  # fmt: skip
    assert errors == {
        "cpu_time_limit": ["must be less than or equal to 60.0"],
        "wall_time_limit": ["must be greater than or equal to 1.0"],
        "number_of_runs": ["must be greater than 0"],
        "compiler_options": ["setting compiler options is not allowed"],
        "additional_files": ["setting additional files is not allowed"],
        "enable_per_process_and_thread_time_limit": ["this option cannot be enabled"],
    }
    ok = validation.validate(
        {"source_code": "cHJpbnQoMSk=", "language_id": 49, "cpu_time_limit": "0.05",
         "memory_limit": 2048, "command_line_arguments": "a 'b c' $(x) ; d"},
        CONFIG, {"c"}, True,
    )  # fmt: skip
    assert isinstance(ok, validation.Submission)
    assert (ok.key, ok.source_code, ok.time_limit_ms, ok.memory_mb) == ("c", "print(1)", 100, 32)
    assert ok.args == ["a", "b c", "(x)", "d"]
    assert ok.attributes.language_id == 49


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("*", True), ("3.11.2", True), ("3.11.3", False), ("3", True), ("3.x", True),
        ("3.11.x", True), ("3.12.*", False), ("^3.10", True), ("^4", False), ("~3.11.0", True),
        ("~3.10", False), (">=3.8 <4", True), (">3.11.2", False), ("<=3.11", True),
        ("3.0.0 - 3.11.2", True), ("1.x || 3.x", True), ("2.7.17", False),
    ],
)  # fmt: skip
def test_semver_selectors(selector: str, matches: bool) -> None:
    assert p.satisfies("3.11.2", selector) is matches


def test_piston_versions_and_lookup() -> None:
    assert p.semver("1.19") == "1.19.0" and p.semver("17.0.13+11") == "17.0.13"
    runtimes = p.runtimes({"python": "3.11.2", "cpp": "12.2.0"})
    assert runtimes[0].listed() == {
        "language": "c++", "version": "12.2.0", "aliases": ["cpp", "g++"], "runtime": "gcc",
    }  # fmt: skip
    assert p.find(runtimes, "py3", "3.x") is runtimes[1]
    assert p.find(runtimes, "python", "2.x") is None
    job = p.job_of(
        {"language": "python", "version": "*", "files": [{"content": "a"}, {"content": "b"}],
         "run_timeout": 2000, "run_memory_limit": 100 * 1024 * 1024},
        runtimes, RunPolicy(),
    )  # fmt: skip
    assert (job.source_code, job.time_limit_ms, job.memory_mb) == ("a", 2000, 100)


def test_piston_answers() -> None:
    python = p.Runtime("python", "python", "3.11.2", (), None)
    c = p.Runtime("c", "c", "12.2.0", (), "gcc")

    def finished(**changes: object) -> p.Finished:
        values: dict[str, object] = dict(
            key="python", status="COMPLETED", error_code=None, exit_code=0, signal=None,
            stdout="o", stderr="e", compile_output="",
        )  # fmt: skip
        values.update(changes)
        return p.Finished(**values)  # type: ignore[arg-type]

    assert p.result(finished(), python) == {
        "language": "python", "version": "3.11.2",
        "run": {"stdout": "o", "stderr": "e", "code": 0, "signal": None, "output": "oe"},
    }  # fmt: skip
    killed = p.result(finished(status="TIMEOUT", error_code="E004", exit_code=None), python)
    assert (killed["run"]["code"], killed["run"]["signal"]) == (None, "SIGKILL")
    segv = p.result(finished(status="FAILED", error_code="E002", signal=11), python)
    assert (segv["run"]["code"], segv["run"]["signal"]) == (None, "SIGSEGV")
    broken = p.result(finished(key="c", status="FAILED", error_code="E001", compile_output="x"), c)
    assert broken["compile"] == broken["run"] and broken["compile"]["code"] == 1
    assert "compile" in p.result(finished(key="c"), c)
