"""Creates the engine's topics when they are missing, and keeps their configuration current."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from eventlog import topics


async def ensure_topics(bootstrap: str, partitions: int = 12) -> list[str]:
    """Create the missing topics and (re)apply every topic's configuration; return those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics.ALL if t.name not in existing]
        if missing:
            new = [
                NewTopic(
                    name=t.name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs=t.config,
                )
                for t in missing
            ]
            # another process may have created them first
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        present = [t for t in topics.ALL if t.name in existing]
        if present:  # topics made by an older version keep up with today's limits
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, t.name, configs=t.config)
                    for t in present
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()


if __name__ == "__main__":  # `python -m eventlog.admin`: what compose's setup service runs
    import asyncio
    import os

    created = asyncio.run(
        ensure_topics(
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
            int(os.environ.get("TOPIC_PARTITIONS", "12")),
        )
    )
    print(f"topics created: {', '.join(created) or 'none'}")
