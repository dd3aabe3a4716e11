"""The processors' retry and fleet policy, as pure decisions: backoff, who is dead, settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import SettingsError
from fleet.workers import RunningExecution, WorkerBeat, encode_beat
from processors.failures import backoff
from processors.monitor import dead
from processors.settings import ProcessorSettings


def test_the_product_retries_three_times_after_2_4_8_seconds() -> None:
    settings = ProcessorSettings.from_env({})
    assert settings.max_attempts == 4
    delays = [backoff(settings.retry_backoff_ms, attempt) for attempt in (2, 3, 4)]
    assert delays == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]


def test_the_backoff_base_is_configurable_and_doubles() -> None:
    base = ProcessorSettings.from_env({"RETRY_BACKOFF_MS": "300"}).retry_backoff_ms
    assert [backoff(base, a).total_seconds() for a in (2, 3, 4)] == [0.3, 0.6, 1.2]


def test_workers_beat_every_10_s_and_are_dead_after_30_s() -> None:
    settings = ProcessorSettings.from_env({})
    assert (settings.heartbeat_interval_s, settings.worker_dead_after_s) == (10.0, 30.0)
    assert settings.shutdown_grace_s == 30.0


def test_a_worker_cannot_be_declared_dead_before_it_could_have_beaten() -> None:
    with pytest.raises(SettingsError, match="WORKER_DEAD_AFTER_S"):
        ProcessorSettings.from_env({"HEARTBEAT_INTERVAL_S": "10", "WORKER_DEAD_AFTER_S": "5"})


def beat(worker_id: str, at: float) -> bytes:
    run = RunningExecution(execution_id="e1", attempt=1, started_at=at - 1)
    return encode_beat(
        WorkerBeat(
            worker_id=worker_id, state="running", slots=2, free_slots=1, running=[run], at=at
        )
    )


def test_only_beats_older_than_the_limit_are_dead() -> None:
    beats = {"fresh": beat("fresh", 100.0), "edge": beat("edge", 70.0), "old": beat("old", 60.0)}
    found = dead(beats, dead_after_s=30, now=100.0)
    assert [(b.worker_id, raw) for b, raw in found] == [("old", beats["old"])]
    assert found[0][0].running[0].execution_id == "e1"


def test_an_unreadable_beat_is_a_dead_worker() -> None:
    (found,) = dead({"garbled": b"{not json"}, dead_after_s=30, now=100.0)
    assert (found[0].worker_id, found[0].running) == ("garbled", [])


def test_the_agents_consume_in_faust_s_thread_unless_the_worker_s_loop_is_asked_for() -> None:
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from processors import transport
    from processors.worker import create_app

    threaded = create_app(ProcessorSettings.from_env({})).transport
    assert type(threaded) is faust_aiokafka.Transport
    on_loop = create_app(ProcessorSettings.from_env({"FAUST_CONSUMER": "loop"})).transport
    assert isinstance(on_loop, transport.Transport)
    assert on_loop.Consumer is transport.Consumer
    with pytest.raises(SettingsError, match="FAUST_CONSUMER"):
        ProcessorSettings.from_env({"FAUST_CONSUMER": "threads"})
