"""Compilers use what devstack/runtimes.sh prebuilt for them (sandbox/prebuilt.py), inside the
sandbox, and still say the same things about the same programs."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox import ErrorCode, Sandbox, Status, registry
from sandbox.prebuilt import CPP_HEADERS_DIR, JAVAC_ARCHIVE, TSC_SNAPSHOT
from sandbox.registry import Language, Registry

from .large_programs import LARGE

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


@pytest.mark.parametrize("header", ["bits/stdc++.h", "iostream"])
async def test_gpp_reads_the_precompiled_header_inside_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    # -H lists each header read, and a precompiled one with a "!" before its path.
    _with_compile_flag(monkeypatch, "cpp", "-H")
    source = f"#include <{header}>\nint main() {{ std::cout << 42 << std::endl; }}\n"
    result = await sandbox.run("cpp", source)
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "42\n"
    assert f"! {CPP_HEADERS_DIR}/{header}.gch" in result.compile_output, result.compile_output


async def test_a_cpp_error_after_a_precompiled_header_is_still_gpps_e001(sandbox: Sandbox) -> None:
    source = (
        "#include <bits/stdc++.h>\nusing namespace std;\nint main() {\n  vector<int> v = 3;\n}\n"
    )
    result = await sandbox.run("cpp", source)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "main.cpp:4:" in result.compile_output and "error: conversion from" in (
        result.compile_output
    )


async def test_names_a_program_does_not_include_stay_undeclared(sandbox: Sandbox) -> None:
    # The precompiled headers are used for a program's own #include only, never added to it.
    result = await sandbox.run("cpp", "int main() { std::cout << 1; }\n")
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    # g++ quotes names with typographic quotes (U+2018, U+2019) in a UTF-8 locale.
    assert "error: \u2018cout\u2019 is not a member of \u2018std\u2019" in result.compile_output


TYPESCRIPT_CASES: dict[str, str] = {
    "hello": "",  # the template
    "large": LARGE["typescript"],
    "type error": "const n: number = 'not a number';\nconsole.log(n);\n",
    "syntax error": "const x = (1 + ;\n",
    "two errors": "let a: string = 1;\nfunction f(x) { return x; }\n",
    "node types": "import * as os from 'os';\nconst n: number = os.cpus().length;\nconsole.log(n > 0);\n",
    # Not in the snapshot: tsc's own reading of another standard library file.
    "dom lib": '/// <reference lib="dom" />\nconst e: Element | null = null;\nconsole.log(e);\n',
}


def _plain_tsc(lang: Language) -> Language:
    """TypeScript compiled by tsc itself, as before the snapshot."""
    assert lang.compile is not None
    tsc = "/opt/typescript/lib/node_modules/typescript/bin/tsc"
    return dataclasses.replace(lang, compile=("/usr/bin/node", tsc, *lang.compile[4:]))


@pytest.mark.parametrize("case", sorted(TYPESCRIPT_CASES))
async def test_typescript_from_the_snapshot_says_what_tsc_says(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    if not TSC_SNAPSHOT.is_file():
        pytest.fail(f"no {TSC_SNAPSHOT}: run devstack/runtimes.sh first")
    lang = registry().get("typescript")
    assert lang is not None
    source = TYPESCRIPT_CASES[case] or lang.template_code
    ours = await sandbox.run("typescript", source)
    only = Registry([_plain_tsc(lang)])
    monkeypatch.setattr("sandbox.runner.registry", lambda: only)
    theirs = await sandbox.run("typescript", source)
    assert (ours.status, ours.error_code, ours.compile_output, ours.stdout, ours.exit_code) == (
        theirs.status, theirs.error_code, theirs.compile_output, theirs.stdout, theirs.exit_code
    )  # fmt: skip
    if case.endswith("error") or case.endswith("errors"):
        assert ours.error_code is ErrorCode.COMPILE and "error TS" in ours.compile_output
    else:
        # Node says when it cannot load a snapshot (and the command falls back to tsc).
        assert ours.status is Status.COMPLETED and ours.compile_output == "", ours


async def test_typescript_without_its_snapshot_is_compiled_by_tsc(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    lang = registry().get("typescript")
    assert lang is not None and lang.compile is not None
    missing = lang.compile[2].replace(str(TSC_SNAPSHOT), "/nonexistent/tsc.blob")
    changed = dataclasses.replace(lang, compile=(*lang.compile[:2], missing, *lang.compile[3:]))
    only = Registry([changed])
    monkeypatch.setattr("sandbox.runner.registry", lambda: only)
    result = await sandbox.run("typescript", TYPESCRIPT_CASES["type error"])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "main.ts(1,7): error TS2322: Type 'string' is not assignable to type 'number'." in (
        result.compile_output
    )
    result = await sandbox.run("typescript", lang.template_code)
    assert result.status is Status.COMPLETED and result.stdout == "Hello, world!\n", result
