"""Where the real services are: from the environment `make test` sets, else testcontainers.

Unit tests use none of this. Integration and end-to-end tests ask for `stack`; when neither the
environment nor a Docker engine provides the services, they fail and say how to run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.stack import scratch_database

HOW_TO_RUN = (
    "these tests need real Kafka, PostgreSQL and Redis: run them with `make test`, which starts "
    "all three, or set KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and REDIS_URL, or provide a Docker "
    "engine for testcontainers"
)


@dataclass(frozen=True)
class Stack:
    """How to reach the services of this test run."""

    kafka_bootstrap_servers: str
    database_url: str
    redis_url: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }


# A new, empty database beside the one of a DSN, dropped afterwards: `temporary_database(dsn, prefix)`.
temporary_database = scratch_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast and isolated first: unit, then integration, then end to end (whose engine runs on)."""
    order = {"unit": 0, "integration": 1, "e2e": 2}
    items.sort(key=lambda item: order.get(item.path.relative_to(item.config.rootpath).parts[1], 3))


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")
    if all(os.environ.get(name) for name in names):
        yield Stack(*(os.environ[name] for name in names))
        return
    if not _docker_answers():
        pytest.fail(HOW_TO_RUN, pytrace=False)
    yield from _containers()


def _containers() -> Iterator[Stack]:
    """Docker users: the same three services from testcontainers (not exercised on our CI)."""
    import asyncio

    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from eventlog.admin import ensure_topics
    from projections.migrate import migrate

    port = 39092  # advertised as-is, so the host port must be fixed
    kafka = (
        DockerContainer("apache/kafka:4.1.1")
        .with_bind_ports(port, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", f"PLAINTEXT://:{port},CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_MESSAGE_MAX_BYTES", "16777216")
    )
    with (
        kafka,
        PostgresContainer("postgres:16", driver=None) as postgres,
        RedisContainer("redis:7") as redis,
    ):
        wait_for_logs(kafka, "Kafka Server started", timeout=120)
        found = Stack(
            f"127.0.0.1:{port}",
            postgres.get_connection_url(),
            f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        )
        asyncio.run(ensure_topics(found.kafka_bootstrap_servers))
        asyncio.run(migrate(found.database_url))
        yield found
