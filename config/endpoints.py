"""Where the engine's services are: the settings every component shares."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from config import Settings


class Endpoints(Settings, frozen=True, kw_only=True):
    """Kafka, PostgreSQL and Redis; the defaults are the local stack of `make up`."""

    kafka_bootstrap_servers: Annotated[
        str, Meta(description="Kafka brokers, host:port[,host:port]")
    ] = "127.0.0.1:19092"
    database_url: Annotated[str, Meta(description="PostgreSQL of the projections")] = (
        "postgresql://postgres@127.0.0.1:15432/runbox"
    )
    redis_url: Annotated[
        str, Meta(description="Redis: rate limits, idempotency keys, live fan-out, the fleet")
    ] = "redis://127.0.0.1:16379/0"
