"""`python -m projections [--replay]`: run the projector; --replay drops the tables first."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import uvloop

from config import exit_on_bad_settings
from projections.fold import FOLD_VERSION
from projections.migrate import drop_all, ensure_fold_version, migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings
from telemetry import metrics, tracing
from telemetry.logs import configure


async def main(replay: bool) -> None:
    settings = exit_on_bad_settings(ProjectorSettings.from_env)
    if replay:
        await drop_all(settings.database_url)
    if await ensure_fold_version(settings.database_url, FOLD_VERSION):
        logging.getLogger("projections").warning(
            "the tables were written by other folds: rebuilding them from the log",
            extra={"fold_version": FOLD_VERSION},
        )
    await migrate(settings.database_url)
    tracing.setup_or_exit("runbox-projector")
    metrics.serve(metrics.PROJECTOR, settings.projector_metrics_port)
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
        tracing.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--replay", action="store_true", help="drop the tables and rebuild from the log"
    )
    configure()
    uvloop.run(main(parser.parse_args().replay))
