"""The projector's pure recovery rules: what counts as an outage, how long it waits, what it skips."""

from __future__ import annotations

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError

from projections.projector import unapplied
from projections.reconnect import Backoff, TopicsMissing, is_outage


def test_the_backoff_doubles_from_a_fifth_of_a_second_to_five_and_starts_again() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.2


def test_outages_are_waited_out_and_bugs_are_not() -> None:
    for outage in (
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("too many clients"),
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        KafkaConnectionError(),
        TopicsMissing(),
    ):
        assert is_outage(outage), outage
    for bug in (
        asyncpg.UndefinedColumnError("column x does not exist"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        KeyError("x"),
    ):
        assert not is_outage(bug), bug


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )


def test_messages_below_the_stored_offset_are_skipped() -> None:
    a, b, c = (TopicPartition("sessions", p) for p in range(3))
    records = {
        a: [record(a, o) for o in range(5, 10)],
        b: [record(b, o) for o in range(0, 3)],
        c: [record(c, o) for o in range(0, 2)],
    }
    fresh, skipped = unapplied(records, {a: 7, b: 3})
    assert {tp: [m.offset for m in ms] for tp, ms in fresh.items()} == {a: [7, 8, 9], c: [0, 1]}
    assert skipped == 5
