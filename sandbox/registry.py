"""Languages as data: one TOML file per language in `sandbox/languages/`, loaded once.

Adding a language is adding a file. Versions are read from the installed runtime on first use
and cached; ids are uuid5 of a fixed namespace and the key, so they are the same on every install.
"""

from __future__ import annotations

import re
import subprocess
import threading
import tomllib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sandbox.errors import LanguageDefinitionError

LANGUAGE_NAMESPACE = uuid.UUID("3b0d1c5e-6a52-4f4b-9c1e-7d2a8f9e0b61")
DEFINITIONS = Path(__file__).with_name("languages")
UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True)
class Library:
    """An extra read-only tree of packages a language's programs can use (e.g. NumPy for Python).

    Installed on the host by the operator's choice (`make up LIBRARIES=...`, see
    devstack/runtimes.sh) under `tree`, and bound read-only at `mount` in every step of the
    language, where its runtime looks for packages; available only when `tree/check` exists.
    """

    name: str
    version: str
    tree: str
    mount: str
    check: str
    description: str = ""

    @property
    def available(self) -> bool:
        return (Path(self.tree) / self.check).exists()


@dataclass(frozen=True)
class Language:
    """One language: how to compile and run it, and what clients see of it."""

    key: str
    name: str
    runtime: str
    file_name: str
    run: tuple[str, ...]
    version_command: tuple[str, ...]
    version_regex: str
    template_code: str
    default_time_limit_ms: int = 5000
    default_memory_mb: int = 256
    compile: tuple[str, ...] | None = None
    mounts: tuple[str, ...] = ()
    env: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    extra_pids: int = 0
    compile_extra_pids: int = 0
    extra_memory_mb: int = 0
    build_cache: str | None = None
    compile_floor_ms: int = 2000
    """Least CPU time its compile step (or syntax check) gets, whatever the run's limits."""
    compile_floor_mb: int = 128
    """Least memory its compile step (or syntax check) gets (see limits.compile_bounds)."""
    libraries: tuple[Library, ...] = ()
    """Extra package trees; those installed are bound read-only into every step (`binds`)."""
    check: tuple[str, ...] | None = None
    """Syntax check of an interpreted language (py_compile, node --check, ...): run by the sandbox
    on the submitted source only after a failed run, and then the only source of its E001."""
    sources: tuple[str, ...] = ()
    """Name endings of the files a `{sources}` part of `compile` or `check` stands for: the
    entry point (`file_name`) first, then the program's other files that end so, sorted."""
    default_files: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Files placed in the work dir unless the program has its own of that name (Go's go.mod)."""
    warm_compile: tuple[str, ...] | None = None
    """The compile step's warm program (see the warm sandboxes' protocol): started in the empty
    work dir before the program exists, it is handed the compile command's argv on fd 3 and then
    behaves exactly as that command. Limit placeholders only: no `{sources}`."""
    warm_run: tuple[str, ...] | None = None
    """The run step's warm program, the same way for `run`."""

    @property
    def id(self) -> uuid.UUID:
        """Stable across installs: derived from the key only."""
        return uuid.uuid5(LANGUAGE_NAMESPACE, self.key)

    @property
    def version(self) -> str:
        """The installed runtime's version, read once per process ("unknown" if absent)."""
        return _version(self.version_command, self.version_regex)

    @property
    def available(self) -> bool:
        return self.version != UNKNOWN_VERSION

    def installed_libraries(self) -> list[Library]:
        return [lib for lib in self.libraries if lib.available]

    def library_mounts(self) -> list[tuple[str, str]]:
        """(host tree, sandbox path) of the installed libraries, each tree once."""
        seen: dict[str, str] = {}
        for lib in self.installed_libraries():
            seen.setdefault(lib.tree, lib.mount)
        return list(seen.items())

    def command(self, template: tuple[str, ...], memory_mb: int,
                limit_mb: int | None = None, files: Iterable[str] = ()) -> list[str]:  # fmt: skip
        """`template` with `{memory_mb}` replaced by the memory the request asked for, and
        `{heap_ceiling_mb}` by twice `limit_mb`, the memory limit of the step's cgroup (default:
        the run step's): a managed heap (JVM, V8) given that as its maximum cannot fill up before
        the cgroup does, so running out of memory is the kernel's OOM kill (E003), never the
        runtime's own error message, which any program can print. A part `{sources}` becomes
        the entry point and those of the program's other `files` that are sources (`sources`)."""
        limit_mb = memory_mb + self.extra_memory_mb if limit_mb is None else limit_mb
        values = {"{memory_mb}": str(memory_mb), "{heap_ceiling_mb}": str(2 * limit_mb)}
        out = []
        for part in template:
            if part == "{sources}":
                out.extend(self.source_files(files))
                continue
            for name, value in values.items():
                part = part.replace(name, value)
            out.append(part)
        return out

    def source_files(self, files: Iterable[str]) -> list[str]:
        """The entry point, then the other files that `{sources}` stands for."""
        others = sorted(f for f in files if f != self.file_name and f.endswith(self.sources))
        return [self.file_name, *others] if self.sources else [self.file_name]

    def to_dict(self) -> dict[str, Any]:
        """What GET /languages/{id} shows."""
        return {
            "id": str(self.id),
            "key": self.key,
            "name": self.name,
            "runtime": self.runtime,
            "version": self.version,
            "file_name": self.file_name,
            "template_code": self.template_code,
            "default_time_limit_ms": self.default_time_limit_ms,
            "default_memory_mb": self.default_memory_mb,
        }


_version_lock = threading.Lock()


@cache
def _version(command: tuple[str, ...], regex: str) -> str:
    with _version_lock:
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=30, check=False, env={"PATH": "/usr/bin:/bin"}
            )
        except (OSError, subprocess.TimeoutExpired):
            return UNKNOWN_VERSION
        text = (done.stdout + done.stderr).decode(errors="replace")
        match = re.search(regex, text)
        return match.group(1) if match and done.returncode == 0 else UNKNOWN_VERSION


def load_definition(path: Path) -> Language:
    """Parse one definition file."""
    try:
        raw = tomllib.loads(path.read_text())
        for name in ("run", "compile", "check", "version_command", "mounts", "sources",
                     "warm_compile", "warm_run"):  # fmt: skip
            if name in raw:
                raw[name] = tuple(raw[name])
        for name in ("warm_compile", "warm_run"):
            # Started before the program exists: its files cannot be named yet.
            if "{sources}" in raw.get(name, ()):
                raise TypeError(f"{name} cannot use {{sources}}")
        raw["env"] = MappingProxyType(dict(raw.get("env", {})))
        raw["libraries"] = tuple(Library(**lib) for lib in raw.get("libraries", ()))
        raw["default_files"] = MappingProxyType(dict(raw.get("default_files", {})))
        raw["template_code"] = raw.get("template_code", "").lstrip("\n")
        re.compile(raw.get("version_regex", ""))
        return Language(**raw)
    except (OSError, tomllib.TOMLDecodeError, TypeError, re.error) as exc:
        raise LanguageDefinitionError(f"{path.name}: {exc}") from exc


class Registry:
    """All languages, found by id, key or name (case-insensitive)."""

    def __init__(self, languages: list[Language]) -> None:
        self._languages = sorted(languages, key=lambda lang: lang.name.lower())
        self._index: dict[str, Language] = {}
        for lang in self._languages:
            for alias in (str(lang.id), lang.key, lang.name):
                self._index[alias.lower()] = lang

    def get(self, ref: str | uuid.UUID) -> Language | None:
        return self._index.get(str(ref).strip().lower())

    def __iter__(self) -> Iterator[Language]:
        return iter(self._languages)

    def __len__(self) -> int:
        return len(self._languages)

    def keys(self) -> list[str]:
        return [lang.key for lang in self._languages]


@cache
def registry(directory: Path = DEFINITIONS) -> Registry:
    """Every language defined in `directory` (default: sandbox/languages), loaded once."""
    return Registry([load_definition(p) for p in sorted(directory.glob("*.toml"))])
