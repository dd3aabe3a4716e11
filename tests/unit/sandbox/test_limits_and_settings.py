"""Limits validation and settings read from an explicit environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError
from sandbox import InvalidLimits, Limits, SandboxError, SandboxSettings, registry
from sandbox.limits import COMPILE_MEMORY_CAP_MB, COMPILE_TIME_CAP_MS


def test_defaults_follow_the_design() -> None:
    limits = Limits()
    assert (limits.time_limit_ms, limits.memory_mb, limits.pids) == (5000, 256, 64)
    assert limits.stdout_bytes == limits.stderr_bytes == 1 << 20
    assert (limits.file_size_mb, limits.workdir_mb) == (64, 64)
    # Wall-clock: twice the CPU time limit and half a second (sandbox/limits.py).
    assert limits.wall_ms == 10_500


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_limit_ms", 0), ("time_limit_ms", 3_600_001), ("memory_mb", 7), ("memory_mb", 65_537),
     ("pids", 0), ("memory_mb", True), ("time_limit_ms", 1.5)],
)  # fmt: skip
def test_out_of_range_limits_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidLimits) as caught:
        Limits(**{field: value})  # type: ignore[arg-type]
    assert isinstance(caught.value, SandboxError)
    assert caught.value.details["field"] == field


def test_wall_limit_can_differ_from_cpu_limit() -> None:
    limits = Limits(time_limit_ms=1000).with_changes(wall_time_limit_ms=3000)
    assert (limits.time_limit_ms, limits.wall_ms) == (1000, 3000)


def test_exception_docstring_is_the_default_message() -> None:
    assert str(InvalidLimits()) == "A limit is outside its allowed range."


def test_settings_from_an_explicit_environment() -> None:
    settings = SandboxSettings.from_env(
        {"SANDBOX_SLOTS": "3", "SANDBOX_ROOT": "/srv/sb", "SANDBOX_MEMORY_MB": "128",
         "SANDBOX_UID_BASE": "70000", "SANDBOX_CPUS": "0.5"}
    )  # fmt: skip
    assert settings.slots == 3 and settings.root == Path("/srv/sb") and settings.cpus == 0.5
    assert SandboxSettings.from_env({}).cpus == 1.0
    assert settings.defaults.memory_mb == 128 and settings.ids(2) == (70002, 60002)
    assert SandboxSettings.from_env({}).slots >= 1


def test_settings_refuse_invalid_default_limits_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"SANDBOX_TIME_LIMIT_MS=0 is not valid: .*from 1 to"):
        SandboxSettings.from_env({"SANDBOX_TIME_LIMIT_MS": "0"})
    with pytest.raises(
        SettingsError, match=r"SANDBOX_SLOTS='two' is not valid: expected an integer"
    ):
        SandboxSettings.from_env({"SANDBOX_SLOTS": "two"})
    with pytest.raises(SettingsError, match=r"SANDBOX_USE_LAUNCHER='maybe'"):
        SandboxSettings.from_env({"SANDBOX_USE_LAUNCHER": "maybe"})
    with pytest.raises(SettingsError, match=r"SANDBOX_CPUS='-1'"):
        SandboxSettings.from_env({"SANDBOX_CPUS": "-1"})


def test_compile_bounds_follow_the_run_limits_between_floor_and_cap() -> None:
    # The smallest run gets the language's floor, not the old fixed 30 s / 1 GiB.
    assert Limits(time_limit_ms=100, memory_mb=32).compile_bounds(8000, 512) == (8000, 512)
    # The default run: 4 x its time, 2 x its memory.
    assert Limits().compile_bounds(2000, 128) == (20_000, 512)
    # The largest run: capped.
    assert Limits(time_limit_ms=60_000, memory_mb=2048).compile_bounds(2000, 128) == (
        COMPILE_TIME_CAP_MS,
        COMPILE_MEMORY_CAP_MB,
    )
    # An operator's explicit compile limits win (warming the Go cache).
    warm = Limits(compile_time_limit_ms=120_000, compile_memory_mb=2048)
    assert warm.compile_bounds(2000, 128) == (120_000, 2048)


def test_every_compile_floor_is_within_the_cap() -> None:
    for lang in registry():
        assert 100 <= lang.compile_floor_ms <= COMPILE_TIME_CAP_MS, lang.key
        assert 32 <= lang.compile_floor_mb <= COMPILE_MEMORY_CAP_MB, lang.key
