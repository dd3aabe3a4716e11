"""The projector's settings, read from the environment once."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.config import settings_from_env


@dataclass(frozen=True)
class ProjectorSettings:
    """Where the log, the tables and the live channel are; how the projector polls."""

    kafka_bootstrap_servers: str = "127.0.0.1:19092"  # KAFKA_BOOTSTRAP_SERVERS
    database_url: str = "postgresql://postgres@127.0.0.1:15432/runbox"  # DATABASE_URL
    redis_url: str = "redis://127.0.0.1:16379/0"  # REDIS_URL
    batch_size: int = 500  # PROJECTOR_BATCH_SIZE: events folded per transaction at most
    fetch_max_wait_ms: int = 100  # PROJECTOR_FETCH_MAX_WAIT_MS: the broker answers earlier on data

    @classmethod
    def from_env(cls) -> ProjectorSettings:
        return settings_from_env(cls)
