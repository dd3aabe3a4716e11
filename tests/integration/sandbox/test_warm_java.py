"""Java's warm programs (`warm_compile` and `warm_run` in java.toml, sources in sandbox/java) say
and do exactly what the cold javac and java say and do, program by program.

Each runs outside the pool, by hand, as the warm sandbox protocol starts it: as the sandbox user,
cwd an empty directory, the control pipe on fd 3; the program's files are then written there and
the cold command line handed over (NUL after each element). The cold commands run as the same
user in a directory of their own with the same files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.warm_java import Outcome, Warm, boxes, commands, make_box, message, run_cold, sandbox_ids
from sandbox import ErrorCode, Sandbox, Status, registry
from sandbox.prebuilt import JAVA_WARM_JAR, build_java_warm
from sandbox.registry import Language

from .large_programs import LARGE


@pytest.fixture(scope="module")
def java() -> Language:
    if os.geteuid() != 0:
        pytest.fail("these tests must run as root (they run the programs as the sandbox user)")
    lang = registry().get("java")
    assert lang is not None and lang.available, "Java is not installed: run devstack/runtimes.sh"
    # What `python -m sandbox prebuild` does at provision time; nothing if the jar is current.
    build_java_warm(lang)
    assert JAVA_WARM_JAR.is_file()
    return lang


@pytest.fixture
def parent() -> Iterator[Path]:
    directory = boxes()
    yield directory
    shutil.rmtree(directory)


@dataclass(frozen=True)
class Program:
    name: str
    files: dict[str, str]
    stdin: bytes = b""
    args: tuple[str, ...] = ()
    expect_compiled: bool = True
    expect: dict[str, object] = field(default_factory=dict)


def _main(body: str, extra: str = "") -> dict[str, str]:
    return {"Main.java": f"{extra}public class Main {{\n{body}\n}}\n"}


HELLO = 'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello, world!");\n    }\n}\n'
PROGRAMS = [
    Program("hello", {"Main.java": HELLO}, expect={"stdout": b"Hello, world!\n"}),
    Program(
        "args",
        _main('    public static void main(String[] args) {\n'
              '        System.out.println(args.length);\n'
              '        for (String a : args) System.out.println("[" + a + "]");\n    }'),
        args=("a b", "\u00fc", "", "--x", "Main"),
        expect={"stdout": "5\n[a b]\n[\u00fc]\n[]\n[--x]\n[Main]\n".encode()},
    ),
    Program(
        "args-to-an-inherited-main-that-calls-itself",
        # The arguments go to the launcher's call only: not to main's own call with no arguments.
        {"Main.java": "public class Main extends Base { }\n"
                      "class Base {\n    public static void main(String... args) {\n"
                      '        System.out.println(args.length + " " + String.join(",", args));\n'
                      "        if (args.length > 0) main();\n    }\n}\n"},
        args=("x", "y"),
        expect={"stdout": b"2 x,y\n0 \n"},
    ),
    Program(
        "stdin-echo",
        _main('    public static void main(String[] args) throws Exception {\n'
              '        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n'
              '        for (String line; (line = in.readLine()) != null; ) {\n'
              '            System.out.println(line.toUpperCase());\n        }\n    }',
              "import java.io.*;\n"),
        stdin=b"one\ntwo\n",
        expect={"stdout": b"ONE\nTWO\n"},
    ),
    Program(
        "exit-3",
        _main('    public static void main(String[] args) {\n'
              '        System.out.println("bye");\n        System.exit(3);\n    }'),
        expect={"status": 3},
    ),
    Program(
        "uncaught-exception",
        _main('    static void f(int n) {\n'
              '        if (n == 0) throw new RuntimeException("outer", new IllegalStateException("inner"));\n'
              '        f(n - 1);\n    }\n'
              '    public static void main(String[] args) {\n        f(2);\n    }'),
        expect={"status": 1},
    ),
    Program(
        "stack-seen-by-the-program",
        # Frames of the warm program below main would show here (and in printStackTrace).
        _main('    public static void main(String[] args) {\n'
              '        for (StackTraceElement e : Thread.currentThread().getStackTrace()) System.out.println(e);\n'
              '        new Exception("caught").printStackTrace(System.out);\n    }'),
    ),
    Program(
        "stack-overflow",
        _main('    static int f(int n) { return f(n + 1) + 1; }\n'
              '    public static void main(String[] args) {\n        f(0);\n    }'),
        expect={"status": 1},
    ),
    Program(
        "out-of-memory",
        # Thrown at once, without filling the heap (these programs run outside any cgroup).
        _main('    public static void main(String[] args) {\n'
              '        long[] huge = new long[Integer.MAX_VALUE];\n'
              '        System.out.println(huge.length);\n    }'),
        expect={"status": 1},
    ),
    Program(
        "non-daemon-thread",
        _main('    public static void main(String[] args) {\n'
              '        new Thread(() -> {\n'
              '            try { Thread.sleep(300); } catch (InterruptedException e) { }\n'
              '            System.out.println("late");\n        }).start();\n'
              '        System.out.println("main done");\n    }'),
        expect={"stdout": b"main done\nlate\n"},
    ),
    Program(
        "exception-in-another-thread",
        _main('    public static void main(String[] args) throws Exception {\n'
              '        Thread t = new Thread(() -> { throw new IllegalArgumentException("worker"); }, "worker");\n'
              '        t.start();\n        t.join();\n        System.out.println("main done");\n    }'),
        expect={"status": 0},
    ),
    Program(
        "no-control-pipe-for-the-program",
        # Only the standard streams are pipes; fd 3 would be one too if left open.
        _main('    public static void main(String[] args) throws Exception {\n'
              '        try (var fds = Files.list(Path.of("/proc/self/fd"))) {\n'
              '            fds.sorted().forEach(fd -> {\n'
              '                try {\n'
              '                    if (Files.readSymbolicLink(fd).toString().startsWith("pipe:")) System.out.println(fd.getFileName());\n'
              '                } catch (Exception e) { }\n            });\n        }\n    }',
              "import java.nio.file.*;\n"),
        expect={"stdout": b"0\n1\n2\n"},
    ),
    Program(
        "jdk-internals-stay-closed",
        # What the warm programs open for themselves (java.io for fd 3, ASM) is not the program's.
        _main('    public static void main(String[] args) throws Exception {\n'
              '        try {\n'
              '            java.io.FileDescriptor.class.getDeclaredField("fd").setAccessible(true);\n'
              '            System.out.println("java.io open");\n'
              '        } catch (RuntimeException e) { System.out.println(e.getClass().getName()); }\n'
              '        Module base = Object.class.getModule(), me = Main.class.getModule();\n'
              '        System.out.println(base.isOpen("java.io", me) + " "\n'
              '            + base.isExported("jdk.internal.org.objectweb.asm", me));\n'
              "    }"),
        expect={"stdout": b"java.lang.reflect.InaccessibleObjectException\nfalse false\n"},
    ),
    Program(
        "properties",
        # user.dir: the directory it runs in (the cold and warm ones differ here, not in /box).
        _main('    public static void main(String[] args) throws Exception {\n'
              '        for (String p : new String[] {"java.class.path", "sun.java.command", "user.home"})\n'
              '            System.out.println(p + "=" + System.getProperty(p));\n'
              '        System.out.println(new File(".").getCanonicalPath().equals(System.getProperty("user.dir")));\n'
              '    }', "import java.io.*;\n"),
    ),
    Program(
        "compile-error",
        _main('    public static void main(String[] args) {\n        int x = "s";\n    }'),
        expect_compiled=False,
    ),
    Program(
        "warnings",
        # A removal warning (on by default) and unchecked operations (a note).
        _main('    public static void main(String[] args) {\n'
              '        Integer boxed = new Integer(5);\n'
              '        java.util.List raw = new java.util.ArrayList();\n'
              '        raw.add(boxed);\n        System.out.println(raw);\n    }'),
        expect={"stdout": b"[5]\n"},
    ),
    Program(
        "two-files",
        {**_main('    public static void main(String[] args) {\n'
                 '        System.out.println(Helper.greet("two"));\n    }'),
         "Helper.java": 'class Helper {\n    static String greet(String who) { return "hi " + who; }\n}\n'},
        expect={"stdout": b"hi two\n"},
    ),
    Program("large", {"Main.java": LARGE["java"]}),
    Program(
        "missing-main-method",
        _main('    public static void mian(String[] args) { }'),
        expect={"status": 1},
    ),
    Program(
        "no-class-main",
        {"Main.java": 'class Other {\n    public static void main(String[] args) { }\n}\n'},
        expect={"status": 1},
    ),
]  # fmt: skip


def _class_files(box: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(box.glob("*.class"))}


def _write(box: Path, files: dict[str, str]) -> None:
    uid, gid = sandbox_ids()
    for name, text in files.items():
        (box / name).write_text(text)
        os.chown(box / name, uid, gid)


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_warm_java_does_what_cold_java_does(java: Language, parent: Path, program: Program) -> None:
    cmds = commands(java, tuple(program.files), program.args)
    cold_box = make_box(parent, program.files)
    # The warm sandboxes start before the program exists, in its still empty directory.
    warm_box = make_box(parent, {})
    warm_compile = Warm(cmds["warm_compile"], warm_box)
    warm_run = Warm(cmds["warm_run"], warm_box)
    try:
        warm_compile.wait_ready()
        warm_run.wait_ready()
        _write(warm_box, program.files)
        cold = run_cold(cmds["compile"], cold_box)
        warm, _ = warm_compile.hand_over(message(cmds["compile"]))
        assert warm == cold
        assert (cold.status == 0) is program.expect_compiled, cold
        assert _class_files(warm_box) == _class_files(cold_box)
        if not program.expect_compiled:
            return
        cold = run_cold(cmds["run"], cold_box, program.stdin)
        warm, _ = warm_run.hand_over(message(cmds["run"]), program.stdin)
        assert warm == cold
        for name, value in program.expect.items():
            assert getattr(cold, name) == value, cold
    finally:
        warm_compile.kill()
        warm_run.kill()


def test_what_the_runs_print_is_what_java_prints(java: Language, parent: Path) -> None:
    """The table above compares; this pins a few of java's own messages, so that two programs
    failing alike (say, both unable to start) cannot pass as equal."""
    cases = {p.name: p for p in PROGRAMS}
    seen = {}
    for name in ("uncaught-exception", "missing-main-method", "no-class-main", "out-of-memory"):
        box = make_box(parent, {})
        cmds = commands(java, tuple(cases[name].files))
        warm = Warm(cmds["warm_run"], box)
        try:
            _write(box, cases[name].files)
            assert run_cold(cmds["compile"], box).status == 0
            seen[name], _ = warm.hand_over(message(cmds["run"]))
        finally:
            warm.kill()
    assert seen["uncaught-exception"].stderr == (
        b'Exception in thread "main" java.lang.RuntimeException: outer\n'
        b"\tat Main.f(Main.java:3)\n\tat Main.f(Main.java:4)\n\tat Main.f(Main.java:4)\n"
        b"\tat Main.main(Main.java:7)\n"
        b"Caused by: java.lang.IllegalStateException: inner\n\t... 4 more\n"
    )
    assert seen["missing-main-method"].stderr.startswith(
        b"Error: Main method not found in class Main, please define the main method as:\n"
    )
    assert seen["no-class-main"].stderr == (
        b"Error: Could not find or load main class Main\n"
        b"Caused by: java.lang.ClassNotFoundException: Main\n"
    )
    assert seen["out-of-memory"].stderr == (
        b'Exception in thread "main" java.lang.OutOfMemoryError: Requested array size exceeds VM'
        b" limit\n\tat Main.main(Main.java:3)\n"
    )


@pytest.mark.parametrize("step", ["warm_compile", "warm_run"])
def test_no_hand_over_is_exit_125_and_silence(java: Language, parent: Path, step: str) -> None:
    warm = Warm(commands(java)[step], make_box(parent, {}))
    try:
        warm.wait_ready()
        assert warm.hand_over(b"")[0] == Outcome(b"", b"", 125)
    finally:
        warm.kill()


@pytest.mark.parametrize("step", ["compile", "run"])
@pytest.mark.parametrize(
    "change",
    ["another program", "other JVM options", "no NUL at the end"],
)
def test_a_hand_over_it_was_not_started_for_is_refused(
    java: Language, parent: Path, step: str, change: str
) -> None:
    """Exit 125 writing nothing, and the program is not run: the pool runs it cold instead."""
    cmds = commands(java)
    argv = list(cmds[step])
    if change == "another program":
        argv[0] = "/usr/bin/javac" if step == "run" else "/usr/bin/java"
    elif change == "other JVM options":
        heap = next(i for i, part in enumerate(argv) if "-Xmx" in part)
        argv[heap] = argv[heap].replace("-Xmx", "-Xmx1")
    data = message(argv)
    if change == "no NUL at the end":
        data = data[:-1]
    box = make_box(parent, {})
    warm = Warm(cmds[f"warm_{step}"], box)
    try:
        warm.wait_ready()
        _write(box, {"Main.java": HELLO})
        if step == "run":
            assert run_cold(cmds["compile"], box).status == 0
        assert warm.hand_over(data)[0] == Outcome(b"", b"", 125)
        if step == "compile":
            assert not list(box.glob("*.class"))
    finally:
        warm.kill()


def test_the_warm_up_leaves_nothing_in_tmp(java: Language, parent: Path) -> None:
    # WarmJavac compiles its sample in /tmp/warm-javac*, removed before it waits.
    uid, _ = sandbox_ids()
    warm = Warm(commands(java)["warm_compile"], make_box(parent, {}))
    try:
        warm.wait_ready()
        left = [p for p in Path("/tmp").glob("warm-javac*") if p.lstat().st_uid == uid]
        assert left == []
    finally:
        warm.kill()


async def _warm_java_ready(sandbox: Sandbox) -> None:
    pool = sandbox.pool
    assert pool is not None, "the default settings keep warm sandboxes"
    pool.demand("java")  # as a run of it would: java is kept warm from now on
    pool.refill()
    deadline = time.monotonic() + 120  # the javac warm-up takes about 1 s of CPU
    while pool.ready_count("java") < 1:
        assert time.monotonic() < deadline, "no warm java sandbox ready within 120 s"
        await asyncio.sleep(0.02)


async def test_the_warm_programs_work_inside_the_sandbox(sandbox: Sandbox) -> None:
    """Through the pool (sandbox/pool.py), under the step's bwrap, seccomp filter, user, rlimits
    and cgroup: a run whose compile and run steps are both handed to warm JVMs."""
    assert sandbox.pool is not None
    await _warm_java_ready(sandbox)
    taken = sandbox.pool.taken
    source = _main(
        "    public static void main(String[] args) throws Exception {\n"
        '        System.out.println(String.join(",", args) + " " + new java.util.Scanner(System.in).next());\n'
        '        throw new IllegalStateException("done");\n'
        "    }"
    )["Main.java"]
    result = await sandbox.run("java", source, stdin="in\n", args=["a", "b c"])
    assert sandbox.pool.taken == taken + 1 and result.warm_start, "not through a warm sandbox"
    assert (result.status, result.error_code, result.exit_code) == (
        Status.FAILED,
        ErrorCode.RUNTIME,
        1,
    ), result
    assert (result.compile_output, result.stdout) == ("", "a,b c in\n")
    assert result.stderr == (
        'Exception in thread "main" java.lang.IllegalStateException: done\n'
        "\tat Main.main(Main.java:4)\n"
    )
    await _warm_java_ready(sandbox)
    taken = sandbox.pool.taken
    result = await sandbox.run("java", _main('    int x = "s";')["Main.java"])
    assert sandbox.pool.taken == taken + 1
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    assert "Main.java:2: error: incompatible types: String cannot be converted to int" in (
        result.compile_output
    )
