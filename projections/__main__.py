"""`python -m projections [--replay]`: run the projector; --replay drops the tables first."""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

from projections.migrate import drop_all, migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings
from schemas.logs import configure


async def main(replay: bool) -> None:
    settings = ProjectorSettings.from_env()
    if replay:
        await drop_all(settings.database_url)
    await migrate(settings.database_url)
    projector = Projector(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await projector.start()
    try:
        await projector.run(stop)
    finally:
        await projector.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--replay", action="store_true", help="drop the tables and rebuild from the log"
    )
    configure()
    uvloop.run(main(parser.parse_args().replay))
