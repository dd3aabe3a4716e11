"""What the compilers' speed flags must not change: a failing program still says where it failed
(Go links without symbol table and DWARF, Rust without the standard library's debug info), and
C++ programs linked by gold instead of the default linker link, unwind and fail as before."""

from __future__ import annotations

import pytest

from sandbox import ErrorCode, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")

GO_PANIC = (
    'package main\n\nimport "fmt"\n\nfunc at(xs []int, i int) int {\n'
    "\treturn xs[i]\n}\n\nfunc main() {\n\tfmt.Println(at(nil, 3))\n}\n"
)
# What a C++ link can get wrong: a static constructor, an exception unwound through two frames
# (gold writes the unwinder's index, --eh-frame-hdr), a thread, libm, RTTI.
CPP_LINKED = r"""#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <typeinfo>

struct Shape { virtual ~Shape() = default; };
struct Square : Shape {};
struct Announce { Announce() { std::puts("static"); } } announce;

static int deep(int n) {
    if (n == 0) throw std::range_error("deep");
    return deep(n - 1) + 1;
}

int main(int argc, char**) {
    try { deep(2); } catch (const std::exception& e) { std::printf("caught %s\n", e.what()); }
    double root = 0;
    std::thread t([&] { root = std::sqrt(2.0 * argc); });
    t.join();
    Shape* s = new Square;
    std::printf("%.3f %d\n", root, dynamic_cast<Square*>(s) != nullptr);
    delete s;
}
"""
PROGRAMS_CPP_THROW = '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n'
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


async def test_a_cpp_program_links_unwinds_and_runs_threads(sandbox: Sandbox) -> None:
    result = await sandbox.run("cpp", CPP_LINKED)
    assert (result.status, result.stdout) == (Status.COMPLETED, "static\ncaught deep\n1.414 1\n"), (
        result
    )


async def test_a_cpp_link_error_is_still_e001_naming_the_symbol(sandbox: Sandbox) -> None:
    result = await sandbox.run("cpp", "int missing(int);\nint main() { return missing(1); }\n")
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "undefined reference to 'missing(int)'" in result.compile_output.replace("`", "'")
    assert "collect2: error: ld returned 1 exit status" in result.compile_output


async def test_an_uncaught_cpp_exception_still_says_what(sandbox: Sandbox) -> None:
    result = await sandbox.run("cpp", PROGRAMS_CPP_THROW)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert (
        "terminate called after throwing an instance of 'std::runtime_error'\n  what():  boom"
    ) in result.stderr, result.stderr
