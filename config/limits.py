"""The limits a run may ask for: declared once, enforced by the API (422/413) and by the safety
agent (E006) for events that did not come through the API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from config import Settings, SettingsError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Violation:
    """Which field is out of bounds and why; `too_large` for sizes (HTTP 413), else range (422)."""

    field: str
    value: int
    message: str
    too_large: bool = False


class RunPolicy(Settings, frozen=True, kw_only=True):
    """Defaults and ranges of a run's limits, and the largest source and stdin accepted."""

    default_time_limit_ms: Annotated[
        int, Meta(ge=1, description="CPU time limit of a run that asks for none")
    ] = 5000
    min_time_limit_ms: Annotated[
        int, Meta(ge=1, description="smallest time_limit_ms a run may ask for")
    ] = 100
    max_time_limit_ms: Annotated[
        int, Meta(ge=1, le=3_600_000, description="largest time_limit_ms a run may ask for")
    ] = 60_000
    default_memory_mb: Annotated[
        int, Meta(ge=1, description="memory limit of a run that asks for none")
    ] = 256
    min_memory_mb: Annotated[
        int, Meta(ge=1, description="smallest memory_mb a run may ask for")
    ] = 32
    max_memory_mb: Annotated[
        int, Meta(ge=1, le=65_536, description="largest memory_mb a run may ask for")
    ] = 2048
    max_source_bytes: Annotated[
        int, Meta(ge=1, le=16 * MIB, description="largest source code (UTF-8 bytes); 413 beyond")
    ] = 256 * KIB
    max_args: Annotated[
        int, Meta(ge=0, le=4096, description="command-line arguments a run may pass its program")
    ] = 64
    max_args_bytes: Annotated[
        int, Meta(ge=0, le=MIB, description="their total size (UTF-8 bytes); 413 beyond")
    ] = 16 * KIB
    max_stdin_bytes: Annotated[
        int, Meta(ge=0, le=16 * MIB, description="largest stdin (UTF-8 bytes); 413 beyond")
    ] = MIB
    max_files: Annotated[
        int,
        Meta(
            ge=0,
            le=1024,
            description="files a program may have besides its entry point; 422 beyond",
        ),
    ] = 32
    max_files_bytes: Annotated[
        int,
        Meta(
            ge=1,
            le=64 * MIB,
            description="size of all of a program's files with its entry point (UTF-8 bytes), "
            "each also at most MAX_SOURCE_BYTES; 422 beyond",
        ),
    ] = MIB
    max_test_cases: Annotated[
        int, Meta(ge=0, le=1024, description="test cases one run may carry; 422 beyond")
    ] = 32
    max_test_cases_bytes: Annotated[
        int,
        Meta(
            ge=0,
            le=16 * MIB,
            description="their stdin and expected output together (UTF-8 bytes); 422 beyond",
        ),
    ] = MIB

    def check(self) -> None:
        for name in ("time_limit_ms", "memory_mb"):
            low, default, high = (getattr(self, f"{p}_{name}") for p in ("min", "default", "max"))
            if not low <= default <= high:
                raise SettingsError(
                    f"DEFAULT_{name.upper()}",
                    default,
                    f"expected MIN_{name.upper()} ({low}) <= it <= MAX_{name.upper()} ({high})",
                )

    def violation(
        self,
        *,
        time_limit_ms: int,
        memory_mb: int,
        source_bytes: int,
        stdin_bytes: int,
        args: list[str] | None = None,
        files: Mapping[str, str] | None = None,
        entry_point: str | None = None,
        case_count: int = 0,
        case_bytes: int = 0,
    ) -> Violation | None:
        """The first limit the run breaks, or None. `files` are the program's files besides
        its entry point (named `entry_point` where known), whose source is `source_bytes` long;
        `case_count` and `case_bytes`: its test cases, and the UTF-8 bytes of their stdin and
        expected output together."""
        if files:
            broken = self.files_violation(files, source_bytes, entry_point)
            if broken is not None:
                return broken
        args = args or []
        if case_count > self.max_test_cases:
            return Violation(
                "test_cases", case_count, f"at most {self.max_test_cases} test cases per run"
            )
        if case_bytes > self.max_test_cases_bytes:
            return Violation(
                "test_cases",
                case_bytes,
                f"the test cases' stdin and expected output are {case_bytes} bytes; the limit "
                f"is {self.max_test_cases_bytes}",
            )
        if len(args) > self.max_args:
            return Violation("args", len(args), f"at most {self.max_args} arguments")
        if any("\x00" in arg for arg in args):
            return Violation("args", len(args), "an argument contains a NUL character")
        args_bytes = sum(len(arg.encode()) for arg in args)
        if args_bytes > self.max_args_bytes:
            return Violation(
                "args",
                args_bytes,
                f"the arguments are {args_bytes} bytes; the limit is {self.max_args_bytes}",
                too_large=True,
            )
        if source_bytes > self.max_source_bytes:
            return Violation(
                "source_code",
                source_bytes,
                f"source code is {source_bytes} bytes; the limit is {self.max_source_bytes}",
                too_large=True,
            )
        if stdin_bytes > self.max_stdin_bytes:
            return Violation(
                "stdin",
                stdin_bytes,
                f"stdin is {stdin_bytes} bytes; the limit is {self.max_stdin_bytes}",
                too_large=True,
            )
        if not self.min_time_limit_ms <= time_limit_ms <= self.max_time_limit_ms:
            return Violation(
                "time_limit_ms",
                time_limit_ms,
                f"time_limit_ms must be between {self.min_time_limit_ms} and {self.max_time_limit_ms}",
            )
        if not self.min_memory_mb <= memory_mb <= self.max_memory_mb:
            return Violation(
                "memory_mb",
                memory_mb,
                f"memory_mb must be between {self.min_memory_mb} and {self.max_memory_mb}",
            )
        return None

    def files_violation(
        self, files: Mapping[str, str], source_bytes: int, entry_point: str | None = None
    ) -> Violation | None:
        """The first rule the program's other files break (their names, count and sizes), or
        None. Every violation is a 422: a file set is judged as a whole, size included."""
        if len(files) > self.max_files:
            return Violation(
                "files",
                len(files),
                f"{len(files)} files besides the entry point; the limit is {self.max_files}",
            )
        total = source_bytes
        for name, content in files.items():
            problem = path_problem(name)
            if problem is None and name == entry_point:
                problem = "is the entry point: its content is source_code"
            if problem is None and "\x00" in content:
                problem = "contains a NUL character"
            if problem is not None:
                return Violation("files", len(files), f"file {name!r} {problem}")
            size = len(content.encode())
            if size > self.max_source_bytes:
                return Violation(
                    "files",
                    size,
                    f"file {name!r} is {size} bytes; the limit is {self.max_source_bytes}",
                )
            total += size
        if total > self.max_files_bytes:
            return Violation(
                "files",
                total,
                f"the program's files are {total} bytes with the entry point; the limit is "
                f"{self.max_files_bytes}",
            )
        clash = directory_clash({**files, entry_point: ""} if entry_point else files)
        if clash is not None:
            return Violation("files", len(files), f"{clash!r} is both a file and a directory")
        return None


MAX_PATH_BYTES = 255
MAX_PATH_DEPTH = 8
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")


def path_problem(name: str) -> str | None:
    """What is wrong with a file name of a program, or None: names are relative, at most
    MAX_PATH_DEPTH parts of letters, digits, `_ . + -` joined by `/`, none hidden (a leading
    dot: no `.`, `..`, `.bashrc`) nor read as an option (a leading `-`)."""
    if not name:
        return "is empty"
    if len(name.encode()) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if name.startswith("/"):
        return "is absolute: names are relative to the program's directory"
    parts = name.split("/")
    if "" in parts:
        return "has an empty part (a doubled or trailing '/')"
    if ".." in parts or "." in parts:
        return "has a '.' or '..' part: names cannot leave the program's directory"
    if len(parts) > MAX_PATH_DEPTH:
        return f"is more than {MAX_PATH_DEPTH} directories deep"
    for part in parts:
        if part.startswith("."):
            return f"has a hidden part {part!r} (starting with '.')"
        if not _PART.fullmatch(part):
            return (
                f"has a part {part!r} that is not 1 to 100 of letters, digits, '_', '.', '+' "
                "and '-' (not first): no spaces, links, backslashes or other characters"
            )
    return None


def directory_clash(names: Mapping[str, object]) -> str | None:
    """A name that is both a file and another file's directory (`lib` and `lib/x.py`)."""
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in names:
                return "/".join(parts[:depth])
    return None
