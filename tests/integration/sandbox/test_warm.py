"""Warm sandboxes (sandbox/pool.py): a run handed to a Python interpreter started before it sees
and does exactly what the same run does cold, under the same limits and isolation, and leaves
nothing for the run after it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from sandbox import ErrorCode, Limits, Result, Sandbox, Status
from sandbox.pool import WarmSet
from sandbox.registry import registry

pytestmark = pytest.mark.usefixtures("clean_host")


@pytest.fixture(scope="module")
async def cold(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    sb = Sandbox(dataclasses.replace(sandbox.settings, warm_max=0))
    assert sb.pool is None
    yield sb
    sb.close()


async def _warm_ready(sb: Sandbox, language: str = "python") -> None:
    assert sb.pool is not None, "the default settings keep warm sandboxes"
    if sb.pool.ready_count(language) < 1:
        sb.pool.demand(language)  # as a run of it would: kept warm from now on
        sb.pool.refill()
    deadline = time.monotonic() + 10
    while sb.pool.ready_count(language) < 1:
        assert time.monotonic() < deadline, f"no warm {language} sandbox ready within 10 s"
        await asyncio.sleep(0.01)


async def _run_warm(sb: Sandbox, source: str, language: str = "python",
                    **kwargs: object) -> Result:  # fmt: skip
    """Run through a warm sandbox, and check that one was really used."""
    await _warm_ready(sb, language)
    assert sb.pool is not None
    taken = sb.pool.taken
    result = await sb.run(language, source, **kwargs)  # type: ignore[arg-type]
    assert sb.pool.taken == taken + 1, "the run did not go through a warm sandbox"
    return result


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _exited(pid: int) -> bool:
    """A zombie or gone: its descriptors are closed (a dying process loses its memory, and so
    its cmdline, before its files)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_gone(warm: WarmSet, pids: list[int]) -> None:
    """Until the set's killed interpreter has exited (its pipes closed with it)."""
    deadline = time.monotonic() + 5
    while not all(_exited(pid) for pid in pids):
        assert time.monotonic() < deadline, "the killed interpreter did not exit"
        time.sleep(0.005)


def _seen(result: Result) -> tuple[object, ...]:
    """Everything a user sees of a run but its timings."""
    return (result.status, result.error_code, result.exit_code, result.signal, result.stdout,
            result.stderr, result.stdout_truncated, result.stderr_truncated)  # fmt: skip


PROGRAMS = {
    "hello": 'print("Hello, world!")\n',
    "what the program sees of itself": """\
import sys, os
print(sys.argv, sys.orig_argv, sys.path[0], __file__, __name__, __package__, __spec__)
print(type(__loader__).__name__, __loader__.name, __loader__.path, __cached__, __doc__)
print(sorted(globals()), sorted(sys.modules), os.getcwd(), sorted(os.listdir('.')))
print(sorted(os.listdir('/proc/self/fd')), os.environ == {**os.environ}, sorted(os.environ))
print(sys.flags, sys.stdin.isatty(), sys.stdout.line_buffering, sys.stdin.encoding)
""",
    "stdin": "import sys\nfor line in sys.stdin: print(line.strip()[::-1])\nprint(input is input)\n",
    "exit status": "import sys\nprint('bye')\nsys.exit(3)\n",
    "exit message": "raise SystemExit('fatal: no')\n",
    "uncaught exception": "def f():\n    return 1 / 0\n\nprint('before')\nf()\n",
    "chained exception": "try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('v') from e\n",
    "stack at top level": "import traceback, warnings\ntraceback.print_stack()\nwarnings.warn('w', stacklevel=2)\n",
    "keyboard interrupt": "raise KeyboardInterrupt\n",
    "threads and atexit": """\
import atexit, threading, time
atexit.register(print, 'atexit ran')
t = threading.Thread(target=lambda: (time.sleep(0.05), print('thread done')))
t.start()
print('main done')
""",
    "sibling import": "import helper\nprint(helper.VALUE, helper.__file__)\n",
    "syntax error": "print('unclosed'\n",
    "main module imports": "import __main__, pickle\nclass P: pass\nprint(__main__.P is P, pickle.loads(pickle.dumps(P())).__class__ is P)\n",
}
FILES = {"sibling import": {"helper.py": "VALUE = 42\n"}}
NODE = {
    "hello": 'console.log("Hello, world!");\n',
    "what the program sees of itself": """\
console.log(process.argv, process.execArgv, process.argv0, __filename, __dirname);
console.log(Object.keys(require.cache), require.main === module, module.id, module.paths);
console.log(process.cwd(), require('fs').readdirSync('.'), require('fs').readdirSync('/proc/self/fd'));
console.log(Object.keys(process.env).sort(), process.stdin.isTTY, typeof process.stdin.fd);
""",
    "stdin": "const s = require('fs').readFileSync(0, 'utf8');\nconsole.log(s.split('\\n').reverse());\n",
    "exit status": "console.log('bye');\nprocess.exitCode = 3;\n",
    "exit now": "process.on('exit', (c) => console.log('exit', c));\nprocess.exit(4);\n",
    "uncaught exception": "function f() { throw new TypeError('boom'); }\nconsole.log('before');\nf();\n",
    "unhandled rejection": "Promise.reject(new Error('later'));\n",
    "timers": "setTimeout(() => console.log('timer'), 30);\nconsole.log('main');\n",
    "sibling require": "const h = require('./helper');\nconsole.log(h.value, require.resolve('./helper'));\n",
    "syntax error": "console.log('unclosed'\n",
    "stack": "console.log(new Error('here').stack);\nconsole.trace('t');\n",
}
NODE_FILES = {"sibling require": {"helper.js": "exports.value = 42;\n"}}
CASES = [("python", name) for name in sorted(PROGRAMS)] + [
    ("javascript", name) for name in sorted(NODE)
]
TABLES = {"python": (PROGRAMS, FILES), "javascript": (NODE, NODE_FILES)}


@pytest.mark.parametrize(("language", "name"), CASES)
async def test_a_warm_run_is_the_cold_run(sandbox: Sandbox, cold: Sandbox, language: str,
                                          name: str) -> None:  # fmt: skip
    programs, extra_files = TABLES[language]
    source, files = programs[name], extra_files.get(name, {})
    kwargs = {"stdin": "abc\nxyz\n", "args": ["one", "two words", "--flag"], "files": files}
    warm = await _run_warm(sandbox, source, language, **kwargs)
    ran = await cold.run(language, source, **kwargs)  # type: ignore[arg-type]
    assert _seen(warm) == _seen(ran)
    if name == "hello":
        assert warm.stdout == "Hello, world!\n" and warm.status is Status.COMPLETED
    if name == "what the program sees of itself":
        assert "two words" in warm.stdout and "warm" not in warm.stdout
    if name == "syntax error":  # the check that follows a failed run found it, as cold
        assert warm.error_code is ErrorCode.COMPILE
    if (
        language == "python" and name == "keyboard interrupt"
    ):  # Python ends itself with SIGINT after the traceback
        assert warm.signal == signal.SIGINT


async def test_the_warm_hand_over_leaves_no_trace_for_the_program(sandbox: Sandbox) -> None:
    """Its control and ready pipes are closed, its start-up hook is gone, and nothing of it is
    reachable: the program sees only its stdin, stdout and stderr."""
    src = """\
import os, sys, gc
fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
print(fds[:3], len(fds))
for fd in (3, 4):
    try:
        os.fstat(fd)
        print('open', fd)
    except OSError:
        print('closed', fd)
print('sitecustomize' in sys.modules)
print([o for o in gc.get_objects() if type(o).__name__ == 'function'
       and o.__code__.co_filename.endswith('sitecustomize.py')])
"""
    result = await _run_warm(sandbox, src)
    assert result.status is Status.COMPLETED, result
    # 0-2 and the one listdir reads /proc/self/fd through
    assert result.stdout == "[0, 1, 2] 4\nclosed 3\nclosed 4\nFalse\n[]\n"


async def test_time_and_memory_limits_count_from_the_hand_over(sandbox: Sandbox) -> None:
    """A warm run spinning ends at its CPU limit; one allocating past its memory limit is
    killed; what the interpreter used starting up is not the run's."""
    spin = await _run_warm(sandbox, "while True: pass\n")
    assert spin.status is Status.TIMEOUT and spin.error_code is ErrorCode.TIME
    python = registry().get("python")
    assert python is not None
    limit = sandbox.limits_for(python).time_limit_ms
    # Its CPU limit, or the wall limit first when the machine is busy: never more than the limit.
    assert spin.cpu_time_ms is not None and spin.cpu_time_ms < limit + 500, spin
    hog = await _run_warm(sandbox, "x = bytearray(1 << 30)\nprint(len(x))\n")
    assert hog.error_code is ErrorCode.MEMORY, hog
    hello = await _run_warm(sandbox, "pass\n")
    # A cold start alone takes ~15 ms of CPU here; from the hand-over a bare `pass` is a few ms.
    assert hello.cpu_time_ms is not None and hello.cpu_time_ms < 15, hello


async def test_a_run_cannot_reach_the_warm_sandbox_waiting_for_the_next(sandbox: Sandbox) -> None:
    """A hostile run looks for the warm interpreter kept for the next run (its own user, pid,
    mount and IPC namespaces) and plants what it can; the next run, warm too, finds none of it."""
    attack = """\
import os, subprocess, sys
print(os.getuid(), len([p for p in os.listdir('/proc') if p.isdigit()]))
for path in ('/box/planted', '/tmp/planted', '/dev/shm/planted'):
    open(path, 'w').write('x')
subprocess.Popen(['/bin/sh', '-c', 'sleep 30'], start_new_session=True)
"""
    first = await _run_warm(sandbox, attack)
    assert first.status is Status.COMPLETED, first
    uid, processes = first.stdout.split()
    assert int(processes) <= 3  # bwrap's init, itself (and its child): no waiting interpreter
    assert sandbox.pool is not None
    kept_uids = {w.uid for w in sandbox.pool._sets}
    assert int(uid) not in kept_uids, "a run shares its user with a warm sandbox kept"
    look = """\
import os
print([p for p in ('/box/planted', '/tmp/planted', '/dev/shm/planted') if os.path.exists(p)])
print(sorted(os.listdir('/box')), len([p for p in os.listdir('/proc') if p.isdigit()]))
"""
    second = await _run_warm(sandbox, look)
    assert second.stdout == "[]\n['main.py'] 2\n", second


async def test_a_dead_warm_sandbox_is_never_handed_a_run(sandbox: Sandbox) -> None:
    """The waiting interpreter killed (as an OOM or an operator would): the run goes cold."""
    await _warm_ready(sandbox)
    assert sandbox.pool is not None
    interpreters = [pid for warm in sandbox.pool._sets for step in warm.steps.values()
                    for pid in step.armed.cg.pids() if "python3" in _cmdline(pid)]  # fmt: skip
    assert interpreters
    for pid in interpreters:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not all(_exited(pid) for pid in interpreters):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    taken = sandbox.pool.taken
    result = await sandbox.run("python", "print('still fine')\n")
    assert result.stdout == "still fine\n" and result.status is Status.COMPLETED
    assert sandbox.pool.taken == taken, "a dead warm sandbox was used"
    await _warm_ready(sandbox)  # refilled after that run


async def test_a_warm_sandbox_dying_at_the_hand_over_runs_its_run_cold(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed after it was taken but before it read the run: the run still runs, cold."""
    await _warm_ready(sandbox)
    assert sandbox.pool is not None
    original = sandbox.pool.take

    def take_and_kill(language: str, limits: Limits) -> WarmSet | None:
        warm = original(language, limits)
        assert warm is not None, "a warm sandbox was ready"
        pids = [pid for step in warm.steps.values() for pid in step.armed.cg.pids()
                if "python3" in _cmdline(pid)]  # fmt: skip
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        _wait_gone(warm, pids)
        return warm

    sandbox.pool.take = take_and_kill  # type: ignore[method-assign]
    try:
        result = await sandbox.run("python", "print('ran anyway')\n")
    finally:
        sandbox.pool.take = original  # type: ignore[method-assign]
    assert result.stdout == "ran anyway\n" and result.status is Status.COMPLETED, result
    assert "died before its hand-over; running it cold" in caplog.text


@pytest.fixture
async def python_only(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    """A sandbox of its own (users of its own too), whose pool has seen no other language: the
    shared one's total is held by the languages the tests before ran."""
    s = sandbox.settings
    sb = Sandbox(dataclasses.replace(s, uid_base=s.uid_base + 500, gid_base=s.gid_base + 500))
    yield sb
    sb.close()


async def test_a_run_right_after_another_is_warm_too(python_only: Sandbox) -> None:
    """A language run a few times a second keeps a second set: the run that comes as soon as
    the last one ended (before its set's replacement could even start) is not left cold."""
    pool = python_only.pool
    assert pool is not None
    for _ in range(60):  # six runs a second over the last ten seconds, as take() counts them
        pool.demand("python")
    pool.lead("python", 0.1)
    pool.refill()
    deadline = time.monotonic() + 10
    while pool.ready_count("python") < 2:
        assert time.monotonic() < deadline, "no second warm python sandbox within 10 s"
        await asyncio.sleep(0.01)
    taken = pool.taken
    first = await python_only.run("python", "print('first')\n")
    second = await python_only.run("python", "print('second')\n")
    assert (first.stdout, second.stdout) == ("first\n", "second\n")
    assert pool.taken == taken + 2, "the second run went cold"


async def test_runs_with_other_limits_or_interactive_stdin_run_cold(sandbox: Sandbox) -> None:
    await _warm_ready(sandbox)
    assert sandbox.pool is not None
    taken = sandbox.pool.taken
    result = await sandbox.run("python", "print(1)\n", limits=Limits(time_limit_ms=700))
    assert result.stdout == "1\n" and sandbox.pool.taken == taken


TYPESCRIPT = {
    "hello": 'const who: string = "world";\nconsole.log(`Hello, ${who}!`);\n',
    "type error": 'const n: number = "not a number";\nconsole.log(n);\n',
    "arguments and stdin": (
        'import * as fs from "fs";\n'
        'console.log(process.argv.slice(2), fs.readFileSync(0, "utf8").trim());\n'
    ),
    "uncaught error": (
        "function f(): never {\n  throw new RangeError('boom');\n}\n"
        "console.log(process.execArgv, Object.keys(require.cache));\nf();\n"
    ),
}


@pytest.mark.parametrize("name", sorted(TYPESCRIPT))
async def test_a_typescript_compile_handed_to_a_warm_tsc_is_the_cold_compile(
    sandbox: Sandbox, cold: Sandbox, name: str
) -> None:
    """The compile step goes to the warm tsc (type checking kept: a type error is still E001
    with tsc's message), the run step to the warm node; everything a user sees is the cold
    run's, the stack trace of an uncaught error included."""
    kwargs = {"stdin": "abc\n", "args": ["one", "two words"]}
    await _warm_ready(sandbox, "typescript")
    assert sandbox.pool is not None
    taken = sandbox.pool.taken
    warm = await sandbox.run("typescript", TYPESCRIPT[name], **kwargs)  # type: ignore[arg-type]
    assert sandbox.pool.taken == taken + 1, "the compile did not go to a warm tsc"
    ran = await cold.run("typescript", TYPESCRIPT[name], **kwargs)  # type: ignore[arg-type]
    assert _seen(warm) == _seen(ran)
    assert warm.compile_output == ran.compile_output
    if name == "type error":
        assert warm.error_code is ErrorCode.COMPILE and "TS2322" in warm.compile_output, warm
    elif name == "uncaught error":
        assert warm.warm_start and "RangeError: boom" in warm.stderr, warm
    else:
        assert warm.status is Status.COMPLETED and warm.warm_start, warm
