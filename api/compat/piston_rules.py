"""Piston's v2 contract as pure functions: its language names and aliases, semver selectors,
request checks (with Piston's messages), and how one of our finished runs reads as its answer.

Written from Piston's documentation (docs/api-v2.md) and source (api/src/api/v2.js, job.js),
never copied; the routes are in api/compat/piston.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from config.limits import RunPolicy

# Our language key -> (Piston's language name, its aliases, its runtime when Piston names one).
LANGUAGES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "bash": ("bash", ("sh",), None),
    "c": ("c", ("gcc",), "gcc"),
    "cpp": ("c++", ("cpp", "g++"), "gcc"),
    "go": ("go", ("go", "golang"), None),
    "java": ("java", (), None),
    "javascript": ("javascript", ("node-javascript", "node-js", "javascript", "js"), "node"),
    "php": ("php", (), None),
    "python": ("python", ("py", "py3", "python3"), None),
    "ruby": ("ruby", ("ruby3", "rb"), None),
    "rust": ("rust", ("rs",), None),
    "typescript": ("typescript", ("ts", "node-ts", "tsc"), None),
}
COMPILED = frozenset({"c", "cpp", "go", "java", "rust", "typescript"})
SIGNALS = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
    7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
    13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
    18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG",
    24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
    30: "SIGPWR", 31: "SIGSYS",
}  # fmt: skip
MIB = 1024 * 1024


def semver(version: str) -> str:
    """Our runtime's version as Piston's semver (Go's "1.19" is "1.19.0"; Java's "17.0.13+11"
    is "17.0.13")."""
    found = re.match(r"\d+(?:\.\d+){0,2}", version)
    parts = (found.group(0) if found else "0").split(".")
    return ".".join([*parts, "0", "0"][:3])


def _triple(text: str) -> tuple[int, int, int]:
    a, b, c = (int(p) for p in semver(text).split("."))
    return a, b, c


def satisfies(version: str, selector: str) -> bool:
    """node-semver's `satisfies` for what clients send: *, x-ranges (3, 3.x, 3.10.*), exact,
    comparators (>= < ...), ^ and ~, hyphen ranges, and `||` between alternatives."""
    have = _triple(version)
    return any(_all_match(have, alternative) for alternative in selector.split("||"))


def _all_match(have: tuple[int, int, int], text: str) -> bool:
    text = re.sub(r"\s*-\s+", " - ", text.strip())
    hyphen = re.fullmatch(r"(\S+) - (\S+)", text)
    if hyphen:
        return _one(have, ">=", hyphen.group(1)) and _one(have, "<=", hyphen.group(2))
    tokens = re.findall(r"(>=|<=|>|<|=|\^|~>?|v)?\s*([0-9xX*][0-9A-Za-z.*+-]*)", text)
    if not text or text in {"*", "x", "X", "latest"}:
        return True
    if not tokens:
        return False
    return all(_one(have, op or "", value) for op, value in tokens)


def _pieces(value: str) -> list[int | None]:
    """1.2.x -> [1, 2, None]: a wildcard or a missing part is None."""
    value = value.split("+")[0].split("-")[0]
    parts: list[int | None] = []
    for part in value.split(".")[:3]:
        parts.append(int(part) if part.isdigit() else None)
    while len(parts) < 3:
        parts.append(None)
    if None in parts:  # everything after the first wildcard is one too
        first = parts.index(None)
        parts = parts[:first] + [None] * (3 - first)
    return parts


def _floor(parts: list[int | None]) -> tuple[int, int, int]:
    a, b, c = (p or 0 for p in parts)
    return a, b, c


def _ceiling(parts: list[int | None]) -> tuple[int, int, int] | None:
    """The first version past an x-range (exclusive), None for no bound."""
    if parts[0] is None:
        return None
    if parts[1] is None:
        return parts[0] + 1, 0, 0
    if parts[2] is None:
        return parts[0], parts[1] + 1, 0
    return None


def _one(have: tuple[int, int, int], op: str, value: str) -> bool:
    parts = _pieces(value)
    low, high = _floor(parts), _ceiling(parts)
    if op in {"", "=", "v"}:
        if high is None and None not in parts:
            return have == low
        return have >= low and (high is None or have < high)
    if op == "^":
        if low[0] > 0 or parts[1] is None:
            bound = (low[0] + 1, 0, 0)
        elif low[1] > 0 or parts[2] is None:
            bound = (0, low[1] + 1, 0)
        else:
            bound = (0, 0, low[2] + 1)
        return low <= have < bound
    if op in {"~", "~>"}:
        bound = (low[0] + 1, 0, 0) if parts[1] is None else (low[0], low[1] + 1, 0)
        return low <= have < bound
    if op == ">=":
        return have >= low
    if op == ">":
        return have >= high if high is not None else have > low
    if op == "<":
        return have < low
    if op == "<=":
        return have < high if high is not None else have <= low
    return False


@dataclass(frozen=True)
class Runtime:
    """One entry of GET /api/v2/runtimes, for one of our languages."""

    key: str
    language: str
    version: str
    aliases: tuple[str, ...]
    runtime: str | None

    def listed(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "language": self.language,
            "version": self.version,
            "aliases": list(self.aliases),
        }
        if self.runtime is not None:  # as Piston: only where it names a runtime
            entry["runtime"] = self.runtime
        return entry


def runtimes(versions: dict[str, str]) -> list[Runtime]:
    """Our running languages (key -> version) as Piston runtimes."""
    return [
        Runtime(key, name, semver(versions[key]), aliases, runtime)
        for key, (name, aliases, runtime) in LANGUAGES.items()
        if key in versions
    ]


def find(available: list[Runtime], language: str, version: str) -> Runtime | None:
    """Piston's lookup: the language by name or alias, whose version the selector accepts."""
    for runtime in available:
        named = language == runtime.language or language in runtime.aliases
        if named and satisfies(runtime.version, version):
            return runtime
    return None


class Refused(Exception):
    """A request Piston refuses (400), with its message."""


@dataclass(frozen=True)
class Job:
    """What to run: the source, its input and arguments, and our limits."""

    runtime: Runtime
    source_code: str
    stdin: str
    args: list[str]
    time_limit_ms: int
    memory_mb: int
    files: dict[str, str] = field(default_factory=dict)  # the other code files, by name


@dataclass(frozen=True)
class Bounds:
    """The most this engine allows a Piston request to ask for (ms, bytes)."""

    run_timeout: int
    compile_timeout: int
    run_memory_limit: int
    compile_memory_limit: int

    @classmethod
    def of(cls, policy: RunPolicy) -> Bounds:
        return cls(
            run_timeout=2 * policy.max_time_limit_ms + 500,  # our wall-clock limit
            compile_timeout=60_500,  # the compile step's wall-clock bound (30 s CPU)
            run_memory_limit=policy.max_memory_mb * MIB,
            compile_memory_limit=1024 * MIB,
        )


def job_of(body: Any, available: list[Runtime], policy: RunPolicy) -> Job:
    """Piston's checks, in its order and with its messages; Refused on the first that fails."""
    if not isinstance(body, dict):
        body = {}
    language, version, files = body.get("language"), body.get("version"), body.get("files")
    if not language or not isinstance(language, str):
        raise Refused("language is required as a string")
    if not version or not isinstance(version, str):
        raise Refused("version is required as a string")
    if not isinstance(files, list):
        raise Refused("files is required as an array")
    for i, file in enumerate(files):
        if not isinstance(file, dict) or not isinstance(file.get("content"), str):
            raise Refused(f"files[{i}].content is required as a string")
    runtime = find(available, language, version)
    if runtime is None:
        raise Refused(f"{language}-{version} runtime is unknown")
    code_files = [f for f in files if f.get("encoding") in (None, "utf8")]
    if not code_files:
        raise Refused("files must include at least one utf8 encoded file")
    bounds = Bounds.of(policy)
    given: dict[str, float] = {}
    for name in (
        "compile_memory_limit",
        "run_memory_limit",
        "compile_timeout",
        "run_timeout",
        "compile_cpu_time",
        "run_cpu_time",
    ):
        value = body.get(name)
        if not value or value == -1:  # absent, 0, or Piston's "no limit": our defaults
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Refused(f"If specified, {name} must be a number")
        limit = getattr(bounds, name.replace("cpu_time", "timeout"))
        if value > limit:
            raise Refused(f"{name} cannot exceed the configured limit of {limit}")
        if value < 0:
            raise Refused(f"{name} must be non-negative")
        given[name] = float(value)
    args = body.get("args") or []
    if not isinstance(args, list):
        args = []
    stdin = body.get("stdin")
    cpu = given.get("run_cpu_time") or given.get("run_timeout")
    memory = given.get("run_memory_limit")
    # Piston runs its first code file; the others sit beside it under their names (Piston's
    # default for a file without one: file<i>.code), held to our file rules by the route.
    others = {
        str(f.get("name") or f"file{i}.code"): f["content"] for i, f in enumerate(code_files) if i
    }
    return Job(
        runtime=runtime,
        files=others,
        source_code=code_files[0]["content"],
        stdin=stdin if isinstance(stdin, str) else "",
        args=[a if isinstance(a, str) else str(a) for a in args],
        time_limit_ms=min(policy.max_time_limit_ms, max(policy.min_time_limit_ms, round(cpu)))
        if cpu
        else policy.default_time_limit_ms,
        memory_mb=min(policy.max_memory_mb, max(policy.min_memory_mb, math.ceil(memory / MIB)))
        if memory
        else policy.default_memory_mb,
    )


@dataclass(frozen=True)
class Finished:
    """The parts of a finished execution row a Piston answer is made of."""

    key: str
    status: str
    error_code: str | None
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    compile_output: str


def stage(stdout: str, stderr: str, code: int | None, signal: str | None) -> dict[str, Any]:
    # `output` is both streams in the order written: ours are kept apart, so stdout then stderr.
    return {
        "stdout": stdout,
        "stderr": stderr,
        "code": code,
        "signal": signal,
        "output": stdout + stderr,
    }


def result(run: Finished, runtime: Runtime) -> dict[str, Any]:
    """Piston's answer: `run`, and `compile` for a compiled language (`run` is the compile
    stage when compiling failed, as Piston answers)."""
    answer: dict[str, Any] = {"language": runtime.language, "version": runtime.version}
    killed = run.status == "TIMEOUT" or run.error_code in {"E003", "E004"}
    if run.key in COMPILED:
        if run.error_code == "E001":
            failed = stage("", run.compile_output, 1, None)
            return answer | {"compile": failed, "run": failed}
        answer["compile"] = stage("", run.compile_output, 0, None)
    signal = "SIGKILL" if killed else (SIGNALS.get(run.signal) if run.signal else None)
    code = None if signal is not None else run.exit_code
    return answer | {"run": stage(run.stdout, run.stderr, code, signal)}
