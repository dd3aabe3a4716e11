"""The virtualenv runs the versions pinned in requirements.lock, the ones that were tested."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: `PyYAML`, `pyyaml` and `py_yaml` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock_text: str) -> dict[str, str]:
    return {normalise(name): version for name, version in PIN.findall(lock_text)}


def installed() -> dict[str, str]:
    return {
        normalise(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }


def mismatches(pins: dict[str, str], present: dict[str, str]) -> list[str]:
    return [
        f"{name}: locked {version}, installed {present.get(name, 'nothing')}"
        for name, version in sorted(pins.items())
        if present.get(name) != version
    ]


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {normalise(match.group()) for r in requirements if (match := NAME.match(r))}


def test_every_locked_package_is_installed_at_its_pinned_version() -> None:
    problems = mismatches(pinned(LOCK.read_text()), installed())
    assert not problems, "the venv is not the locked one; run devstack/provision.sh:\n" + "\n".join(
        problems
    )


def test_every_declared_dependency_is_in_the_lock() -> None:
    missing = declared() - pinned(LOCK.read_text()).keys()
    assert not missing, f"declared in pyproject.toml but not locked, run `make lock`: {missing}"


def test_a_version_other_than_the_pinned_one_is_reported() -> None:
    lock_text = "PyYAML==0.0.1 \\\n    --hash=sha256:00\n    # via litestar\n"
    present = installed()
    assert mismatches(pinned(lock_text), present) == [
        f"pyyaml: locked 0.0.1, installed {present['pyyaml']}"
    ]
    assert mismatches({"not-a-dist": "1.0"}, present) == [
        "not-a-dist: locked 1.0, installed nothing"
    ]
