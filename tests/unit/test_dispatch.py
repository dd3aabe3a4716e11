"""What a worker remembers of the attempts it started itself (processors/dispatch.py)."""

from __future__ import annotations

from processors.dispatch import REMEMBERED, Handed


def test_a_record_that_comes_back_is_recognised_once() -> None:
    handed = Handed()
    handed.add(("run-a", 1))
    assert handed.take(("run-a", 2)) is False  # another attempt: not started here
    assert handed.take(("run-a", 1)) is True
    assert handed.take(("run-a", 1)) is False  # a second delivery goes to the claim


def test_records_that_never_come_back_do_not_pile_up() -> None:
    # Their partitions were another worker's: only the newest REMEMBERED are kept.
    handed = Handed()
    for n in range(REMEMBERED + 5):
        handed.add((f"run-{n}", 1))
    assert len(handed.attempts) == REMEMBERED
    assert handed.take(("run-0", 1)) is False
    assert handed.take((f"run-{REMEMBERED + 4}", 1)) is True
