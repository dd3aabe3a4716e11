"""`python -m callbacks`: deliver the results of runs that named a callback URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvloop
from aiokafka.errors import KafkaError

from callbacks.deliverer import Deliverer
from callbacks.settings import LOCAL_SECRET, CallbackSettings
from config import exit_on_bad_settings
from telemetry.logs import configure

log = logging.getLogger("callbacks")


async def main() -> None:
    settings = exit_on_bad_settings(CallbackSettings.from_env)
    configure()
    if settings.callback_secret == LOCAL_SECRET:
        log.warning("CALLBACK_SECRET is the local stack's default: set one of your own")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    delay = 0.2
    while not stop.is_set():
        try:
            await Deliverer(settings).run(stop)
        except (KafkaError, OSError) as exc:  # Kafka away (at start, or for longer): wait it out
            log.warning("Kafka is unavailable (%s); retrying in %.1fs", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)


if __name__ == "__main__":
    uvloop.run(main())
