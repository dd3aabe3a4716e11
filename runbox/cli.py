"""The `runbox` command, on the SDK: run a file on the engine with its output streamed live,
list the languages, or follow an execution.

    runbox run hello.py                 the language from the extension (or --language)
    runbox run main.c --stdin input.txt
    runbox run x.py -- arg1 arg2        the program's command-line arguments
    runbox languages
    runbox watch EXECUTION_ID

The program's stdout and stderr go to ours as it prints; the verdict and figures go to stderr at
the end. The exit status is the program's own, except as EXIT_CODES says.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TextIO

from runbox.aio import AsyncClient
from runbox.errors import ApiError, RunboxError
from runbox.types import ExecutionResult, OutputEvent, ResultEvent, StatusEvent

EXIT_USAGE = 2  # a bad command line, an unreadable file, a request the API refused (4xx)
EXIT_ENGINE = 69  # the engine failed (E005), or could not be reached or answered 5xx
EXIT_TIMEOUT = 124  # E004, as timeout(1)
EXIT_COMPILE_ERROR = 125  # E001
EXIT_REJECTED = 126  # E006, refused by the safety rules
EXIT_MEMORY = 137  # E003 (as a program killed by SIGKILL)
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command killed by it
EXIT_CODES = {
    "E001": EXIT_COMPILE_ERROR,
    "E003": EXIT_MEMORY,
    "E004": EXIT_TIMEOUT,
    "E005": EXIT_ENGINE,
    "E006": EXIT_REJECTED,
}
VERDICTS = {
    "E001": "compile error",
    "E002": "runtime error",
    "E003": "memory limit exceeded",
    "E004": "time limit exceeded",
    "E005": "system error",
    "E006": "rejected by the safety rules",
}
# Extensions other than the one of a language's own file name (GET /languages/{id}).
ALIASES = {".cc": "cpp", ".cxx": "cpp", ".c++": "cpp", ".mjs": "javascript", ".bash": "bash"}


class UsageError(RunboxError):
    """The command line cannot be carried out."""


def exit_code_for(result: ExecutionResult) -> int:
    """The program's exit status; 128 + N when killed by signal N; EXIT_CODES for the rest."""
    if result.error_code in EXIT_CODES:
        return EXIT_CODES[result.error_code]
    if result.exit_code:
        return result.exit_code
    if result.signal:
        return 128 + result.signal
    return 0 if result.status == "COMPLETED" else 1


def figures(result: ExecutionResult) -> str:
    """The verdict and the figures, one line."""
    parts = [result.status]
    if result.error_code:
        parts[0] += f" {result.error_code} ({VERDICTS.get(result.error_code, 'error')})"
    if result.exit_code is not None:
        parts.append(f"exit {result.exit_code}")
    if result.signal:
        parts.append(f"signal {result.signal}")
    if result.compile_time_ms is not None:
        parts.append(f"compile {result.compile_time_ms} ms")
    if result.execution_time_ms is not None:
        parts.append(f"time {result.execution_time_ms} ms")
    if result.cpu_time_ms is not None:
        parts.append(f"cpu {result.cpu_time_ms} ms")
    if result.memory_peak_kb is not None:
        parts.append(f"memory {result.memory_peak_kb / 1024:.1f} MB")
    parts.append(f"execution {result.execution_id}")
    return " · ".join(parts)


class Display:
    """Writes the program's output as it comes, a progress line on a terminal until it does,
    and the verdict at the end."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.printed = {"stdout": "", "stderr": ""}
        self.status = "QUEUED"
        self.since = time.monotonic()
        self.progress = err.isatty()
        self.shown = False

    def on_status(self, status: str) -> None:
        if status != self.status:
            self.status, self.since = status, time.monotonic()

    def on_output(self, event: OutputEvent) -> None:
        self.stop_progress()
        stream = self.out if event.stream == "stdout" else self.err
        stream.write(event.data)
        stream.flush()
        self.printed[event.stream] += event.data

    def on_result(self, result: ExecutionResult) -> None:
        self.stop_progress()
        # What the stream did not bring (joined late, or a chunk lost): from the result.
        for name, stream, full in (
            ("stdout", self.out, result.stdout),
            ("stderr", self.err, result.stderr),
        ):
            if full.startswith(self.printed[name]) and len(full) > len(self.printed[name]):
                stream.write(full[len(self.printed[name]) :])
                stream.flush()
        if result.compile_output and result.error_code == "E001":
            self.err.write(result.compile_output.rstrip("\n") + "\n")
        if result.error_message and result.error_code not in (None, "E001", "E002"):
            self.err.write(f"runbox: {result.error_message}\n")
        if result.stdout_truncated or result.stderr_truncated:
            self.err.write("runbox: the output was truncated at the engine's limit\n")
        if self.printed["stdout"] and not self.printed["stdout"].endswith("\n"):
            self.err.write("\n")
        self.err.write(f"runbox: {figures(result)}\n")
        self.err.flush()

    async def animate(self) -> None:
        """The progress line: queued, then compiling or running, until output or the end."""
        for frame in itertools.cycle(self.FRAMES):
            if not self.progress:
                return
            label = "queued" if self.status == "QUEUED" else "compiling / running"
            elapsed = time.monotonic() - self.since
            self.err.write(f"\r\x1b[K{frame} {label} {elapsed:.1f}s")
            self.err.flush()
            self.shown = True
            await asyncio.sleep(0.1)

    def stop_progress(self) -> None:
        self.progress = False
        if self.shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.shown = False


async def follow(client: AsyncClient, execution_id: str, display: Display) -> int:
    """Stream an execution's events to the display; the exit status its result calls for."""
    spinner = asyncio.create_task(display.animate())
    try:
        async for event in client.events(execution_id):
            if isinstance(event, StatusEvent):
                display.on_status(event.status)
            elif isinstance(event, OutputEvent):
                display.on_output(event)
            elif isinstance(event, ResultEvent):
                display.on_result(event.result)
                return exit_code_for(event.result)
    finally:
        display.stop_progress()
        spinner.cancel()
    raise RunboxError(f"the events of {execution_id} ended without a result")


async def language_for(client: AsyncClient, path: Path, given: str | None) -> str:
    """--language if given, else the language whose file name has the file's extension."""
    if given:
        return given
    suffix = path.suffix.lower()
    details = await asyncio.gather(*(client.language(lang.id) for lang in await client.languages()))
    for detail in details:
        if PurePath(detail.file_name).suffix.lower() == suffix:
            return detail.key
    keys = {detail.key for detail in details}
    if ALIASES.get(suffix) in keys:
        return ALIASES[suffix]
    raise UsageError(
        f"no language here runs {suffix or 'extension-less'} files; name one with --language "
        f"({', '.join(sorted(keys))})"
    )


def read_text(name: str, what: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {name}: {exc}") from exc


async def run(client: AsyncClient, options: argparse.Namespace, program_args: list[str]) -> int:
    source = read_text(str(options.file), "the program")
    stdin = read_text(options.stdin, "stdin from") if options.stdin is not None else None
    language = await language_for(client, Path(options.file), options.language)
    session = await client.create_session(language, source)
    queued = await client.run(
        session.session_id,
        stdin=stdin,
        args=program_args or None,
        time_limit_ms=options.time_limit,
        memory_mb=options.memory,
    )
    return await follow(client, queued.execution_id, Display(sys.stdout, sys.stderr))


async def languages(client: AsyncClient) -> int:
    details = await asyncio.gather(*(client.language(lang.id) for lang in await client.languages()))
    rows = [("KEY", "FILE", "NAME", "VERSION", "TIME LIMIT", "MEMORY")]
    rows += [
        (
            d.key,
            d.file_name,
            d.name,
            d.version,
            f"{d.default_time_limit_ms} ms",
            f"{d.default_memory_mb} MB",
        )
        for d in sorted(details, key=lambda d: d.key)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def parser() -> argparse.ArgumentParser:
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help="the runbox API (default: $RUNBOX_URL, else http://127.0.0.1:3000)",
    )
    main = argparse.ArgumentParser(
        prog="runbox",
        parents=[url],
        description="Run code on a runbox engine.",
        epilog="Exit status: the program's own (128+N if killed by signal N); 124 time limit, "
        "125 compile error, 126 rejected, 137 memory limit, 69 engine error or unreachable, "
        "2 usage error or a request the API refused.",
    )
    commands = main.add_subparsers(dest="command", required=True)
    run_ = commands.add_parser(
        "run", parents=[url], help="run a file", usage="%(prog)s [options] FILE [-- ARG ...]"
    )
    run_.add_argument("file", type=Path, help="the program; its extension names the language")
    run_.add_argument("--language", "-l", help="a language key, id or name (runbox languages)")
    run_.add_argument("--stdin", metavar="FILE", help="the program's standard input (- for ours)")
    run_.add_argument("--time-limit", type=int, metavar="MS", help="CPU time limit")
    run_.add_argument("--memory", type=int, metavar="MB", help="memory limit")
    commands.add_parser("languages", parents=[url], help="the languages the engine runs")
    watch = commands.add_parser("watch", parents=[url], help="follow an execution to its end")
    watch.add_argument("execution_id")
    return main


async def dispatch(options: argparse.Namespace, program_args: list[str]) -> int:
    async with AsyncClient(getattr(options, "url", None)) as client:
        if options.command == "run":
            return await run(client, options, program_args)
        if options.command == "languages":
            return await languages(client)
        return await follow(client, options.execution_id, Display(sys.stdout, sys.stderr))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` is the program's, even what looks like an option.
    program_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, program_args = argv[:split], argv[split + 1 :]
    options = parser().parse_args(argv)
    if program_args and options.command != "run":
        parser().error("arguments after -- are for `runbox run`")
    try:
        return asyncio.run(dispatch(options, program_args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `runbox run x.py | head -1`: the reader left, as with any command
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        print(f"runbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"runbox: {exc}", file=sys.stderr)
        return EXIT_USAGE if 400 <= exc.status < 500 and exc.status != 429 else EXIT_ENGINE
    except RunboxError as exc:
        print(f"runbox: {exc}", file=sys.stderr)
        return EXIT_ENGINE
