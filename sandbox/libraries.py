"""Installs the extra library trees the operator asks for (`make up LIBRARIES=python-numpy`).

A library is declared in its language's data file (`[[libraries]]`, see registry.Library) and
named `<language key>-<library name>` here. Installing is per language (only Python's pip for
now); the tree is owned by root and read-only to the sandbox users, who see it bound read-only.

    python -m sandbox.libraries install python-numpy [...]
    python -m sandbox.libraries list
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox.registry import Language, Library, registry


class LibraryError(Exception):
    """A library that is not declared, or whose installation failed."""


def find(name: str) -> tuple[Language, Library]:
    """The language and library named `<language key>-<library name>`."""
    for lang in registry():
        for lib in lang.libraries:
            if name == f"{lang.key}-{lib.name}":
                return lang, lib
    known = [f"{lang.key}-{lib.name}" for lang in registry() for lib in lang.libraries]
    raise LibraryError(f"no library {name!r}: the known ones are {', '.join(known) or 'none'}")


def _python_version(interpreter: str) -> str:
    done = subprocess.run([interpreter, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+\.\d+)", done.stdout + done.stderr)
    if match is None:
        raise LibraryError(f"cannot tell the version of {interpreter}")
    return match.group(1)


def install(lang: Language, lib: Library) -> bool:
    """Install `lib` under its tree unless it is there; True if it was installed now."""
    if lib.available:
        return False
    if lang.key != "python":
        raise LibraryError(f"no installer for {lang.key} libraries")
    # Wheels for the sandbox's interpreter (the language's), installed by this one's pip.
    interpreter = lang.run[0]
    tree = Path(lib.tree)
    tree.mkdir(parents=True, exist_ok=True)
    tree.chmod(0o755)
    command = [
        sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
        "--target", str(tree), "--upgrade", "--only-binary=:all:",
        "--python-version", _python_version(interpreter), f"{lib.name}=={lib.version}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not lib.available:
        raise LibraryError(f"installing {lib.name}=={lib.version} failed: {done.stderr.strip()}")
    return True


def remove(lib: Library) -> None:
    shutil.rmtree(lib.tree, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.libraries", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    install_cmd = sub.add_parser("install", help="install libraries (names or a comma list)")
    install_cmd.add_argument("names", nargs="+")
    sub.add_parser("list", help="every declared library and whether it is installed")
    args = parser.parse_args(argv)
    if args.command == "list":
        for lang in registry():
            for lib in lang.libraries:
                state = "installed" if lib.available else "not installed"
                print(f"{lang.key}-{lib.name}  {lib.version}  {state}  {lib.description}")
        return 0
    names = [n for arg in args.names for n in re.split(r"[,\s]+", arg) if n]
    try:
        for name in names:
            lang, lib = find(name)
            if install(lang, lib):
                print(f"installed {name} {lib.version} under {lib.tree}")
    except LibraryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
