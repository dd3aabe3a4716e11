"""Faust's aiokafka transport with the Kafka consumer on the worker's own event loop.

faust-streaming's aiokafka driver runs the consumer in a thread of its own, on a second event
loop: every fetched batch is handed to the app's loop (`call_soon_threadsafe`, a wake-up of the
other thread, the GIL passed over) and every next fetch, commit and rebalance callback goes back
through a method queue the same way (bench/fausthop.py measures that stage; docs/architecture.md,
section 7).

Here the very same consumer service (`AIOKafkaConsumerThread`: the same aiokafka consumer and
settings, rebalance listener, commits, seeks) runs as a plain service of the app's loop: its
calls are awaited in place and the rebalance callbacks call the consumer's directly. Nothing
else changes: the agents, their streams and acks, Faust's fetcher and commit timer, and the
producer (which Faust already runs on the app's loop) are Faust's own. The broker URL's scheme
picks it (`SCHEME`), with `FAUST_CONSUMER=loop`. It is not the default: it saves the hand-off but
the consumer's own work (the next fetch request, built as soon as a record is taken) then runs on
the loop ahead of the agent, and in the engine that cost the executor's pick-up more than the
hand-off saved (README, Benchmarks, One Faust hop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.futures import maybe_async

SCHEME = "runbox-kafka"


class LoopConsumerService(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer service, started on the app's loop instead of in a thread."""

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        loop = kwargs.pop("loop", None) or consumer.loop
        # thread_loop is the app's loop: everything the driver creates "in the thread" (the
        # aiokafka consumer, its fetch and heartbeat tasks) lives on the one loop.
        super().__init__(consumer, loop=loop, thread_loop=loop, **kwargs)

    async def start(self) -> None:
        """Start as a plain service: no thread, no method queue."""
        self._thread_started.set()
        await self._default_start()

    async def stop(self) -> None:
        """What the thread would do on its way out, in place: stop the aiokafka consumer (it
        leaves the group), then this service's children, tasks and exit stacks."""
        if not self._started.is_set() or self._stopped.is_set():
            return
        self._stopped.set()
        await self.on_stop()
        await self.on_thread_stop()
        await self._default_stop_children()
        await self._default_stop_futures()
        await self._default_stop_exit_stacks()
        await self.on_shutdown()
        self._shutdown.set()

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a call of the driver's in place (there is no other thread to hand it to)."""
        return await maybe_async(fun(*args, **kwargs))

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await self.consumer.on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        await self.consumer.on_partitions_assigned(assigned, generation_id)


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, its consumer service on the app's loop."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return LoopConsumerService(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport but for where the consumer runs."""

    Consumer = Consumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
