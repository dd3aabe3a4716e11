"""What the compilers' speed flags must not change: a failing program still says where it failed
(Go links without symbol table and DWARF, Rust without the standard library's debug info)."""

from __future__ import annotations

import pytest

from sandbox import ErrorCode, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")

GO_PANIC = (
    'package main\n\nimport "fmt"\n\nfunc at(xs []int, i int) int {\n'
    "\treturn xs[i]\n}\n\nfunc main() {\n\tfmt.Println(at(nil, 3))\n}\n"
)
RUST_PANIC = (
    "fn at(xs: &[i32], i: usize) -> i32 {\n    xs[i]\n}\n\n"
    'fn main() {\n    let n = std::env::args().count() + 2;\n    println!("{}", at(&[], n));\n}\n'
)


async def test_a_go_panic_still_names_its_functions_files_and_lines(sandbox: Sandbox) -> None:
    result = await sandbox.run("go", GO_PANIC)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert "panic: runtime error: index out of range [3] with length 0" in result.stderr
    # at() is inlined into main(): both frames, each with its file and line.
    assert "main.at(...)\n\t/box/main.go:6\n" in result.stderr, result.stderr
    assert "main.main()\n\t/box/main.go:10 +0x" in result.stderr


async def test_a_rust_panic_still_names_its_file_and_line(sandbox: Sandbox) -> None:
    result = await sandbox.run("rust", RUST_PANIC)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert "panicked at main.rs:2:5:" in result.stderr, result.stderr
    assert "index out of bounds: the len is 0 but the index is 3" in result.stderr
