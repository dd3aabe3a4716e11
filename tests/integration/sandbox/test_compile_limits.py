"""The compile step is bounded by the request: a multiple of the run's time and memory limits,
at least the language's floor (what real programs need), at most a cap."""

from __future__ import annotations

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status, registry
from sandbox.limits import COMPILE_TIME_CAP_MS
from sandbox.step import StepOutcome, StepSpec, run_step

from .large_programs import LARGE

pytestmark = pytest.mark.usefixtures("clean_host")
SMALLEST = Limits(time_limit_ms=100, memory_mb=32)
COMPILED = sorted(lang.key for lang in registry() if lang.compile)
# 64 constant evaluations, each under g++'s constexpr operation limit (so none fails early),
# about a second each: a compile of about a minute.
CONSTEXPR_SPIN = (
    "template <int N>\nconstexpr unsigned long spin() {\n    unsigned long x = N;\n"
    "    for (unsigned long i = 0; i < 1000; ++i)\n"
    "        for (unsigned long j = 0; j < 1000; ++j) x += i ^ j;\n    return x;\n}\n"
    + "".join(f"constexpr unsigned long v{n} = spin<{n}>();\n" for n in range(64))
    + "int main() { return static_cast<int>(v0 & 1); }\n"
)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[StepSpec, StepOutcome]]:
    """Every step the sandbox runs, with the limits it was given and what it measured."""
    seen: list[tuple[StepSpec, StepOutcome]] = []

    async def recording(spec, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = await run_step(spec, *args, **kwargs)
        seen.append((spec, outcome))
        return outcome

    monkeypatch.setattr("sandbox.runner.run_step", recording)
    return seen


def test_every_compiled_language_has_a_large_program() -> None:
    assert sorted(LARGE) == COMPILED


async def test_including_dev_zero_stops_at_the_derived_memory_bound(
    sandbox: Sandbox, steps: list[tuple[StepSpec, StepOutcome]]
) -> None:
    lang = registry().get("c")
    assert lang is not None
    _cpu_ms, memory_mb = SMALLEST.compile_bounds(lang.compile_floor_ms, lang.compile_floor_mb)
    assert memory_mb < 1024  # not the old fixed gigabyte
    result = await sandbox.run("c", '#include "/dev/zero"\nint main(void){return 0;}\n',
                               limits=SMALLEST)  # fmt: skip
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert result.compile_output.endswith(
        f"[compilation stopped: memory limit of {memory_mb} MB exceeded]"
    )
    [(spec, compiled)] = steps
    assert spec.purpose == "compile" and spec.memory_bytes == memory_mb << 20
    assert compiled.memory_peak_kb is not None and compiled.memory_peak_kb <= memory_mb * 1024


async def test_a_constexpr_loop_stops_at_the_derived_time_bound(
    sandbox: Sandbox, steps: list[tuple[StepSpec, StepOutcome]]
) -> None:
    lang = registry().get("cpp")
    assert lang is not None
    cpu_ms, _memory_mb = SMALLEST.compile_bounds(lang.compile_floor_ms, lang.compile_floor_mb)
    assert cpu_ms <= COMPILE_TIME_CAP_MS // 3
    result = await sandbox.run("cpp", CONSTEXPR_SPIN, limits=SMALLEST)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "[compilation stopped: " in result.compile_output
    [(spec, compiled)] = steps
    assert spec.cpu_ms == cpu_ms
    assert compiled.cpu_ms is not None and cpu_ms <= compiled.cpu_ms <= cpu_ms + 500
    assert result.compile_time_ms is not None and result.compile_time_ms < spec.wall_ms + 1000


@pytest.mark.parametrize("size", ["hello", "large"])
@pytest.mark.parametrize("key", COMPILED)
async def test_real_programs_compile_with_the_smallest_run_limits(
    sandbox: Sandbox, steps: list[tuple[StepSpec, StepOutcome]], key: str, size: str
) -> None:
    lang = registry().get(key)
    assert lang is not None
    src = lang.template_code if size == "hello" else LARGE[key]
    result = await sandbox.run(key, src, limits=SMALLEST)
    # The run itself may not fit in 100 ms (a JVM starts slower): the compile must have passed.
    assert result.error_code is not ErrorCode.COMPILE, result.compile_output
    assert steps[0][0].purpose == "compile" and steps[0][1].exit_code == 0
    assert result.compile_time_ms is not None
