"""How many warm sandboxes each language keeps (sandbox/pool.py: WarmPool.targets): pure logic,
from the runs counted and the time a set takes to become ready; no sandbox is started."""

from __future__ import annotations

from sandbox.limits import Limits
from sandbox.pool import DEMAND_WINDOW_S, WarmPool, WarmSet, covering


def _never(language: str, limits: Limits, index: int) -> WarmSet:
    raise AssertionError("targets() starts nothing")


def _pool(total: int = 4, slots: int = 2, always: tuple[str, ...] = ("python",)) -> WarmPool:
    return WarmPool(_never, users=total + slots, total=total, slots=slots, always=always,
                    defaults=lambda key: Limits())  # fmt: skip


def _runs(pool: WarmPool, language: str, count: int, over_s: float, now: float) -> None:
    for i in range(count):
        pool.demand(language, now - over_s + over_s * (i + 1) / count)


def test_a_language_kept_warm_from_the_start_has_one_before_any_run() -> None:
    assert _pool().targets(now=1000.0) == {"python": 1}
    assert _pool(always=()).targets(now=1000.0) == {}


def test_a_language_run_recently_gets_a_set_and_loses_it_when_no_longer_run() -> None:
    pool = _pool(always=())
    _runs(pool, "ruby", 1, 1.0, now=1000.0)
    assert pool.targets(now=1000.0) == {"ruby": 1}
    assert pool.targets(now=1000.0 + DEMAND_WINDOW_S + 1) == {}


def test_the_count_covers_the_runs_that_come_while_a_set_is_replaced_up_to_one_per_slot() -> None:
    # Enough sets that, 9 times in 10, the runs arriving while a taken set's replacement starts
    # (a Poisson count of mean rate x time to ready) find one ready.
    pool = _pool(always=(), slots=3, total=8)
    pool.lead("python", 0.25)
    _runs(pool, "python", 2, 10.0, now=1000.0)  # 0.2 runs/s x 0.25 s: none 95 % of the time
    assert pool.targets(now=1000.0) == {"python": 1}
    _runs(pool, "python", 18, 10.0, now=1000.0)  # 2 runs/s: mean 0.5, at most 1 91 % of the time
    assert pool.targets(now=1000.0) == {"python": 2}
    _runs(pool, "python", 20, 10.0, now=1000.0)  # 4 runs/s: mean 1, at most 2 92 % of the time
    assert pool.targets(now=1000.0) == {"python": 3}
    _runs(pool, "python", 260, 10.0, now=1000.0)  # 30 runs/s: still one per slot at most
    assert pool.targets(now=1000.0) == {"python": 3}


def test_a_run_right_after_another_finds_a_set_when_runs_come_a_few_a_second() -> None:
    # Runs in pairs (a run, then the next as soon as it ended: a student running twice, a client
    # polling then running again), 4 a second: one set alone would leave every second run cold
    # while the first one's replacement starts.
    pool = _pool(always=(), slots=2, total=4)
    pool.lead("python", 0.1)
    _runs(pool, "python", 40, 10.0, now=1000.0)
    assert pool.targets(now=1000.0) == {"python": 2}


def test_the_total_goes_to_the_most_demanded_languages_first() -> None:
    def pool_with(total: int) -> WarmPool:
        pool = _pool(always=(), slots=2, total=total)
        for language, count in (("python", 200), ("ruby", 50), ("php", 5), ("javascript", 1)):
            pool.lead(language, 1.0)  # each wants 2 (one per slot) but javascript (0.1/s: 1)
            _runs(pool, language, count, 10.0, now=1000.0)
        return pool

    # One each, most demanded first, then a second each in the same order.
    assert pool_with(3).targets(now=1000.0) == {"python": 1, "ruby": 1, "php": 1}
    assert pool_with(5).targets(now=1000.0) == {"python": 2, "ruby": 1, "php": 1, "javascript": 1}
    assert pool_with(6).targets(now=1000.0) == {"python": 2, "ruby": 2, "php": 1, "javascript": 1}


def test_the_count_is_found_for_any_rate() -> None:
    assert [covering(mean, 4) for mean in (0.0, 0.1, 0.5, 1.0, 5.0, 1e6)] == [1, 1, 2, 3, 4, 4]
    assert covering(0.0, 1) == 1
