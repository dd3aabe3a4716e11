"""Runs with test cases: the sandbox compiles once and runs each case (`Sandbox.run_cases`); each
case is judged (verdicts/) as soon as it ended, and only a share of its output is kept, so the
RunFinished of a run with many cases is no larger than that of a single run.

The attempt's measured fields are those of the case that decided the verdict, but its times
(summed over the cases) and memory (their peak); its stdout and stderr stay empty (each case has
its own). Pure but for `run_cases`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import msgspec

from sandbox import ErrorCode, Limits, Result, Sandbox
from schemas import events
from verdicts import Verdict, deciding_index, matches, verdict_for

# The Result's fields a case keeps (its compile output and enforced list belong to the run).
CASE_FIELDS = tuple(f.name for f in msgspec.structs.fields(events.Measured))


def _cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary); whether it was."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[:limit].decode(errors="ignore"), True


def judge_case(
    result: Result,
    case: events.Case,
    comparison: events.Comparison,
    keep_stdout: int,
    keep_stderr: int,
) -> events.CaseResult:
    """One case's verdict (on all the output the sandbox kept) and what is recorded of it."""
    code = result.error_code.value if result.error_code else None
    right = code is None and matches(
        result.stdout,
        case.expected_output,
        comparison.mode,
        comparison.absolute_tolerance,
        comparison.relative_tolerance,
    )
    stdout, stdout_cut = _cut(result.stdout, keep_stdout)
    stderr, stderr_cut = _cut(result.stderr, keep_stderr)
    measured = {name: getattr(result, name) for name in CASE_FIELDS}
    measured |= {
        "status": result.status.value,
        "error_code": code,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": result.stdout_truncated or stdout_cut,
        "stderr_truncated": result.stderr_truncated or stderr_cut,
    }
    return events.CaseResult(**measured, verdict=verdict_for(code, right))


def judgement(cases: Sequence[events.CaseResult]) -> events.Judgement:
    verdicts = [c.verdict for c in cases]
    return events.Judgement(
        verdict=verdicts[deciding_index(verdicts)],
        passed=verdicts.count(Verdict.ACCEPTED),
        total=len(cases),
        cases=list(cases),
    )


def not_compiled(result: Result, total: int) -> events.Judgement:
    """A compile error (E001) is every case's verdict: none of them ran."""
    case = events.CaseResult(
        status=result.status.value, error_code=ErrorCode.COMPILE.value,
        verdict=Verdict.COMPILATION_ERROR,
    )  # fmt: skip
    return events.Judgement(
        verdict=Verdict.COMPILATION_ERROR, passed=0, total=total, cases=[case] * total
    )


def summary(ran: Sequence[Result], judged: events.Judgement) -> Result:
    """The attempt's Result: the deciding case's status, code and exit, the cases' summed times
    and peak memory, the compile's output and time; no stdout or stderr of its own."""
    deciding = ran[deciding_index([c.verdict for c in judged.cases])]

    def total(name: str) -> int | None:
        values = [getattr(r, name) for r in ran if getattr(r, name) is not None]
        return sum(values) if values else None

    peaks = [r.memory_peak_kb for r in ran if r.memory_peak_kb is not None]
    return dataclasses.replace(
        deciding,
        stdout="",
        stderr="",
        stdout_truncated=any(c.stdout_truncated for c in judged.cases),
        stderr_truncated=any(c.stderr_truncated for c in judged.cases),
        execution_time_ms=total("execution_time_ms"),
        cpu_time_ms=total("cpu_time_ms"),
        memory_peak_kb=max(peaks) if peaks else None,
    )


async def run_cases(
    sandbox: Sandbox, request: events.RunRequested, limits: Limits
) -> tuple[Result, events.Judgement | None]:
    """Run and judge every case of `request`: the attempt's Result and its judgement (None for
    a failure of ours, E005, which is retried)."""
    cases = request.test_cases
    comparison = request.comparison or events.Comparison()
    # The run's output caps, shared by its cases: the result stays as large as a single run's.
    keep_stdout, keep_stderr = limits.stdout_bytes // len(cases), limits.stderr_bytes // len(cases)

    def judge(index: int, result: Result) -> tuple[Result, events.CaseResult]:
        judged = judge_case(result, cases[index], comparison, keep_stdout, keep_stderr)
        return dataclasses.replace(result, stdout="", stderr=""), judged

    ran = await sandbox.run_cases(
        language=request.language.key,
        source=request.source_code,
        stdins=[case.stdin for case in cases],
        judge=judge,
        limits=limits,
        args=request.args,
        files=request.files,
    )
    if isinstance(ran, Result):
        if ran.error_code is ErrorCode.COMPILE:
            return ran, not_compiled(ran, len(cases))
        return ran, None
    judged = judgement([case for _, case in ran])
    return summary([result for result, _ in ran], judged), judged
