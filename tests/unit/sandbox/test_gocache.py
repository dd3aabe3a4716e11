"""The shared Go build cache, handled as root: never through a link a sandbox user planted, and
never in a directory a sandbox user owns (the Judge0 CVE-2024-28185/28189 pattern)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandbox import gocache

RUN_UID = 60000


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A root-owned file outside the cache, the target of the planted links."""
    if os.geteuid() != 0:
        pytest.fail("these tests must run as root: they check what root does in the cache")
    victim = tmp_path / "outside" / "shadow"
    victim.parent.mkdir()
    victim.write_text("secret")
    victim.chmod(0o600)
    return victim


def _cache(tmp_path: Path) -> Path:
    cache = tmp_path / "go-build"
    (cache / "00").mkdir(parents=True)
    (cache / "00" / "entry-a").write_text("object")
    cache.chmod(0o755)
    return cache


def test_keep_fresh_never_writes_through_a_planted_temp_link(tmp_path: Path,
                                                             outside: Path) -> None:  # fmt: skip
    cache = _cache(tmp_path)
    (cache / f".{gocache.TRIM_FILE}.{os.getpid()}").symlink_to(outside)
    assert gocache.keep_fresh(cache, now=100_000) is True
    assert outside.read_text() == "secret" and stat.S_IMODE(outside.stat().st_mode) == 0o600
    trim = cache / gocache.TRIM_FILE
    assert not trim.is_symlink() and trim.read_text() == "100000"


def test_keep_fresh_replaces_a_planted_trim_link_without_following_it(tmp_path: Path,
                                                                      outside: Path) -> None:  # fmt: skip
    cache = _cache(tmp_path)
    (cache / gocache.TRIM_FILE).symlink_to(outside)
    assert gocache.keep_fresh(cache, now=100_000) is True
    assert outside.read_text() == "secret" and stat.S_IMODE(outside.stat().st_mode) == 0o600
    assert not (cache / gocache.TRIM_FILE).is_symlink()


def test_keep_fresh_refuses_a_cache_a_sandbox_user_can_write(tmp_path: Path,
                                                             outside: Path) -> None:  # fmt: skip
    cache = _cache(tmp_path)
    os.chown(cache, RUN_UID, RUN_UID)
    assert gocache.keep_fresh(cache, now=100_000) is False
    assert sorted(os.listdir(cache)) == ["00"]
    os.chown(cache, 0, 0)
    cache.chmod(0o777)
    assert gocache.keep_fresh(cache, now=100_000) is False
    assert sorted(os.listdir(cache)) == ["00"]


def test_set_ownership_never_follows_links_and_leaves_root_owning_everything(
    tmp_path: Path, outside: Path
) -> None:
    cache = _cache(tmp_path)
    outside_dir = outside.parent
    outside_dir.chmod(0o700)
    (cache / "00" / "link-to-file").symlink_to(outside)
    (cache / "00" / "link-to-dir").symlink_to(outside_dir)
    (cache / "01").symlink_to(outside_dir)
    os.mkfifo(cache / "00" / "fifo")
    # As after warming: the sandbox user owned it all.
    for path in (cache, cache / "00", cache / "00" / "entry-a"):
        os.chown(path, RUN_UID, RUN_UID)
    gocache.set_ownership(cache)
    assert outside.read_text() == "secret" and stat.S_IMODE(outside.stat().st_mode) == 0o600
    assert stat.S_IMODE(outside_dir.stat().st_mode) == 0o700
    # Links and special files have no place in a build cache: gone, not followed.
    assert sorted(os.listdir(cache)) == ["00"] and os.listdir(cache / "00") == ["entry-a"]
    for path, mode in ((cache, 0o755), (cache / "00", 0o755), (cache / "00" / "entry-a", 0o644)):
        st = path.lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, mode), path


def test_go_trim_stamp_is_rewritten_before_go_would_trim(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    (cache / gocache.TRIM_FILE).write_text("1000")
    assert gocache.keep_fresh(cache, now=1000 + 3600) is False
    assert gocache.keep_fresh(cache, now=1000 + 7 * 3600) is True
    assert (cache / gocache.TRIM_FILE).read_text() == str(1000 + 7 * 3600)
    (cache / gocache.TRIM_FILE).write_text("garbage")
    assert gocache.keep_fresh(cache, now=5000) is True
