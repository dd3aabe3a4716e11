"""What the route handlers use: the event log, the projection reads, Redis, the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from litestar.datastructures import State
from litestar.di import NamedDependency
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from api.catalogue import Catalogue
from api.eventlog import EventLog, ProjectionWaiter
from api.fleet import Fleet
from api.lag import ConsumerLag
from api.live import LiveChannels
from api.proxies import TrustedProxies
from api.queries import Database
from api.settings import ApiSettings


@dataclass
class Services:
    """One per app; started and stopped with it."""

    settings: ApiSettings
    eventlog: EventLog = field(init=False)
    waiter: ProjectionWaiter = field(init=False)
    db: Database = field(init=False)
    redis: aioredis.Redis = field(init=False)
    catalogue: Catalogue = field(init=False)
    fleet: Fleet = field(init=False)
    proxies: TrustedProxies = field(init=False)
    lag: ConsumerLag = field(init=False)
    live: LiveChannels = field(init=False)

    def __post_init__(self) -> None:
        timeout = self.settings.dependency_timeout_s
        self.eventlog = EventLog(self.settings)
        self.waiter = ProjectionWaiter(self.settings)
        self.db = Database(self.settings)
        self.redis = aioredis.from_url(
            self.settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A restarted Redis closes the pooled connections: one quick try on a fresh one.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        self.catalogue = Catalogue(self.redis)
        self.fleet = Fleet(self.redis, self.settings.worker_dead_after_s)
        self.proxies = TrustedProxies(self.settings.proxy_networks())
        self.lag = ConsumerLag(self.settings, self.db)
        self.live = LiveChannels(self.redis, timeout)

    async def start(self) -> None:
        await self.db.start()
        await self.waiter.start()
        await self.eventlog.start()

    async def stop(self) -> None:
        await self.lag.stop()
        await self.eventlog.stop()
        await self.waiter.stop()
        await self.db.stop()
        await self.live.close()
        await self.redis.aclose()


def services_from_state(state: State) -> Services:
    services: Services = state.services
    return services


ServicesDep = NamedDependency[Services]  # how a route handler asks for them
