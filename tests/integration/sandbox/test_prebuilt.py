"""Compilers use what devstack/runtimes.sh prebuilt for them (sandbox/prebuilt.py), inside the
sandbox, and still say the same things about the same programs."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox import ErrorCode, Sandbox, Status, registry
from sandbox.prebuilt import JAVAC_ARCHIVE
from sandbox.registry import Language, Registry

pytestmark = pytest.mark.usefixtures("clean_host")


def _with_compile_flag(monkeypatch: pytest.MonkeyPatch, key: str, flag: str) -> Language:
    """The language `key` with one more compiler flag (after the compiler's path), as the
    sandbox's only language for this test."""
    lang = registry().get(key)
    assert lang is not None and lang.compile is not None
    changed = dataclasses.replace(lang, compile=(lang.compile[0], flag, *lang.compile[1:]))
    only = Registry([changed])
    monkeypatch.setattr("sandbox.runner.registry", lambda: only)
    return changed


async def test_javac_maps_its_archive_inside_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not JAVAC_ARCHIVE.is_file():
        pytest.fail(f"no {JAVAC_ARCHIVE}: run devstack/runtimes.sh first")
    lang = _with_compile_flag(monkeypatch, "java", "-J-Xlog:cds=info")
    result = await sandbox.run("java", lang.template_code)
    assert result.status is Status.COMPLETED, result
    # The JVM logs the regions it maps: "dynamic" ones come only from our archive on top of the
    # JDK's own (a missing or unreadable archive logs that it was not found and maps none).
    assert "Mapped dynamic region" in result.compile_output, result.compile_output


async def test_a_java_type_error_is_still_javacs_e001(sandbox: Sandbox) -> None:
    source = 'public class Main {\n  public static void main(String[] a) { int x = "s"; }\n}\n'
    result = await sandbox.run("java", source)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "Main.java:2: error: incompatible types: String cannot be converted to int" in (
        result.compile_output
    )
    assert "[cds]" not in result.compile_output and "warning" not in result.compile_output
