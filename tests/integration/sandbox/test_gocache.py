"""Go through the shared build cache as it is laid out for production: owned by root throughout."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox, Status, gocache

RING = (
    'package main\n\nimport (\n\t"container/ring"\n\t"fmt"\n)\n\n'
    'func main() {\n\tfmt.Println("ring", ring.New(3).Len())\n}\n'
)


@pytest.fixture
def root_owned_cache_sandbox(sandbox: Sandbox, tmp_path: Path) -> Iterator[Sandbox]:
    shared = sandbox.settings.go_cache
    if not (shared / "README").exists():
        pytest.fail(f"no warm Go cache at {shared}: run devstack/runtimes.sh first")
    cache = tmp_path / "go-build"
    shutil.copytree(shared, cache, symlinks=True)
    gocache.set_ownership(cache)
    # No warm sandboxes: they would run as the same users as the shared fixture's.
    sb = Sandbox(dataclasses.replace(sandbox.settings, go_cache=cache, warm_max=0))
    yield sb
    sb.close()


@pytest.mark.usefixtures("clean_host")
async def test_a_package_missing_from_a_root_owned_cache_still_builds(
    root_owned_cache_sandbox: Sandbox,
) -> None:
    # container/ring is not in the warm cache: go must add it (and its index) through the overlay.
    result = await root_owned_cache_sandbox.run("go", RING)
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "ring 3\n"
    cache = root_owned_cache_sandbox.settings.go_cache
    assert gocache.is_safe(cache)
    assert all(p.stat().st_uid == 0 for p in cache.rglob("*"))
