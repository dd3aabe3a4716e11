"""`make bench`'s latency floor (bench/chain.py), a few runs over the real services: each run
passes every hand-off in order, the stand-in program really takes its time, and nothing of the
chain (topics, tables) is left behind."""

from __future__ import annotations

import socket

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench import chain
from tests.conftest import Stack, temporary_database

ORDER = ("posted", "received", "appended", "picked", "began", "ran", "projected", "seen")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_each_run_passes_every_hand_off_in_order_and_leaves_nothing(stack: Stack) -> None:
    async with temporary_database(stack.database_url, "chain") as dsn:
        floor = chain.Chain(
            runs=5, warmup=2, program_ms=20, gap_ms=10, http_port=free_port(),
            services=(stack.kafka_bootstrap_servers, stack.redis_url, dsn),
        )  # fmt: skip
        runs = await chain.measure(floor)
        conn = await asyncpg.connect(dsn)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'bench_chain%'"
            )
        finally:
            await conn.close()
    assert len(runs) == 5
    for stamps in runs:
        # The API's append is acked before its answer, the worker reads the request only once it
        # is appended... so the stamps (one clock: one machine) follow the chain's order.
        times = [stamps[name] for name in ORDER if name != "appended"]
        assert times == sorted(times), stamps
        assert stamps["received"] <= stamps["appended"] <= stamps["seen"], stamps
        assert stamps["ran"] - stamps["began"] >= 0.020, "the stand-in program did not wait"
    summary = chain.summarise(runs)
    assert summary["overhead (per run)"].min > 0
    assert summary["end to end"].min > summary["stand-in program (measured)"].min
    assert tables == []
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        assert not {chain.REQUESTS, chain.EVENTS} & set(await admin.list_topics())
    finally:
        await admin.close()
