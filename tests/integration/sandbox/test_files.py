"""Programs of several files: every language builds and runs its three-file program, and no file
name, however hostile, places a file anywhere but inside the run's work dir."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from sandbox import ErrorCode, InvalidFiles, Sandbox, Status, registry
from sandbox.errors import WorkdirError
from sandbox.workdir import Workdir
from tests.multifile import ARGS, PROGRAMS, STDOUT

pytestmark = pytest.mark.usefixtures("clean_host")


def test_every_language_has_a_three_file_program() -> None:
    assert sorted(PROGRAMS) == sorted(registry().keys())


@pytest.mark.parametrize("key", sorted(PROGRAMS))
async def test_three_files_build_and_run_with_their_arguments(sandbox: Sandbox, key: str) -> None:
    program = PROGRAMS[key]
    result = await sandbox.run(key, program.source, args=ARGS, files=program.files)
    assert (result.status, result.stdout) == (Status.COMPLETED, STDOUT), result


async def test_a_go_program_may_name_its_own_module(sandbox: Sandbox) -> None:
    files = {
        "go.mod": "module example.org/tool\n\ngo 1.21\n",
        "text/upper.go": 'package text\n\nimport "strings"\n\n'
        "func Upper(s string) string { return strings.ToUpper(s) }\n",
    }
    source = (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.org/tool/text"\n)\n\n'
        'func main() { fmt.Println(text.Upper("own module")) }\n'
    )
    result = await sandbox.run("go", source, files=files)
    assert (result.status, result.stdout) == (Status.COMPLETED, "OWN MODULE\n"), result


async def test_a_syntax_error_in_an_imported_python_module_is_e001(sandbox: Sandbox) -> None:
    files = {"lib/broken.py": "def broken(:\n    pass\n"}
    result = await sandbox.run("python", "import lib.broken\n", files=files)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "lib/broken.py" in result.compile_output and "SyntaxError" in result.compile_output


async def test_a_compile_error_in_another_c_file_is_e001(sandbox: Sandbox) -> None:
    program = PROGRAMS["c"]
    files = {**program.files, "lib/calc.c": "int add(int a, int b) { return a + undeclared; }\n"}
    result = await sandbox.run("c", program.source, files=files)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "lib/calc.c" in result.compile_output


HOSTILE_NAMES = [
    "../escape.py",
    "a/../../escape.py",
    "/tmp/escape.py",
    "lib//escape.py",
    "./escape.py",
    "lib/",
    "",
    "..",
    "-o",
    "lib/-rf",
    "nul\x00escape.py",
    "a/b/c/d/e/f/g/h/i/escape.py",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_hostile_file_name_is_refused_before_anything_is_written(
    sandbox: Sandbox, name: str
) -> None:
    before = set(os.listdir("/tmp"))
    with pytest.raises(InvalidFiles):
        await sandbox.run("python", 'print("ran")', files={name: "import os\n"})
    assert set(os.listdir("/tmp")) - before == set()
    assert "escape.py" not in os.listdir("/")


@pytest.mark.parametrize(
    "files",
    [{"main.py": "print(2)"}, {"lib": "x = 1\n", "lib/x.py": "y = 2\n"}],
    ids=["entry point twice", "a file and a directory"],
)
async def test_a_tree_the_work_dir_cannot_hold_is_refused(
    sandbox: Sandbox, files: dict[str, str]
) -> None:
    with pytest.raises(InvalidFiles):
        await sandbox.run("python", 'print("ran")', files=files)


async def test_the_program_sees_its_files_only_inside_its_work_dir(sandbox: Sandbox) -> None:
    source = (
        "import os\n"
        "for d, _, names in sorted(os.walk('.')):\n"
        "    for n in sorted(names):\n"
        "        print(os.path.realpath(os.path.join(d, n)))\n"
    )
    files = {"lib/deep/er/x.txt": "x", "y.txt": "y"}
    result = await sandbox.run("python", source, files=files)
    assert result.stdout.split() == [
        "/box/main.py",
        "/box/y.txt",
        "/box/lib/deep/er/x.txt",
    ], result


def test_a_directory_turned_into_a_symlink_is_never_followed(tmp_path: Path) -> None:
    """If something made a directory of the work dir a link to the host (nothing can before the
    program runs, but the writer must not depend on that), writing below it fails."""
    outside = tmp_path / "outside"
    outside.mkdir()
    uid = gid = 65534
    workdir = Workdir.create(tmp_path, f"{os.getpid()}-{uuid.uuid4().hex[:8]}", 1 << 20, uid, gid)
    try:
        (workdir.box / "lib").symlink_to(outside)
        with pytest.raises(WorkdirError):
            workdir.write_file("lib/evil.py", b"pwned")
        (workdir.box / "link.py").symlink_to(outside / "target.py")
        with pytest.raises(WorkdirError):
            workdir.write_file("link.py", b"pwned")
        assert list(outside.iterdir()) == []
    finally:
        workdir.remove()
