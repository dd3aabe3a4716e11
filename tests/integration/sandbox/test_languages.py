"""Correctness suite: every language's hello world, stdin echo, and each error classified right."""

from __future__ import annotations

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status, registry

from .programs import PROGRAMS

LANGUAGES = sorted(PROGRAMS)
FAST = Limits(time_limit_ms=1000, memory_mb=64)


def test_every_language_has_programs_and_a_version() -> None:
    assert sorted(registry().keys()) == LANGUAGES
    missing = [lang.key for lang in registry() if not lang.available]
    assert missing == [], f"runtimes missing (run devstack/runtimes.sh): {missing}"


@pytest.mark.parametrize("key", LANGUAGES)
async def test_hello_world(sandbox: Sandbox, key: str) -> None:
    lang = registry().get(key)
    assert lang is not None
    result = await sandbox.run(key, lang.template_code)
    assert result.status is Status.COMPLETED, result
    assert result.error_code is None and result.exit_code == 0
    assert result.stdout == "Hello, world!\n"
    assert result.memory_peak_kb and result.cpu_time_ms is not None


@pytest.mark.parametrize("key", LANGUAGES)
async def test_stdin_echo(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["echo"], stdin="héllo stdin\nsecond\n")
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "héllo stdin\n"


@pytest.mark.parametrize("key", LANGUAGES)
async def test_compile_error(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["compile_error"])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert result.compile_output.strip()


@pytest.mark.parametrize("key", LANGUAGES)
async def test_runtime_error(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["runtime_error"])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert result.exit_code != 0


@pytest.mark.parametrize("key", LANGUAGES)
async def test_timeout(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["loop"], limits=FAST)
    assert (result.status, result.error_code) == (Status.TIMEOUT, ErrorCode.TIME), result


@pytest.mark.parametrize("key", LANGUAGES)
async def test_memory_overrun(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["memory"], limits=Limits(memory_mb=64))
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.MEMORY), result
