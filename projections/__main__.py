"""`python -m projections [--replay]`: run the projector; --replay drops the tables first.

`python -m projections audit EXECUTION_ID`: print an execution's history read back from Kafka.
`python -m projections verify`: replay the log into a scratch database and report every row that
differs from the live projection (exit 1 on any difference).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop

from config import exit_on_bad_settings
from projections.fold import FOLD_VERSION
from projections.migrate import drop_all, ensure_fold_version, migrate
from projections.projector import Projector
from projections.reconnect import patiently
from projections.settings import ProjectorSettings
from telemetry import metrics, tracing
from telemetry.logs import configure


async def main(replay: bool) -> None:
    settings = exit_on_bad_settings(ProjectorSettings.from_env)
    tracing.setup_or_exit("runbox-projector")
    metrics.serve(metrics.PROJECTOR, settings.projector_metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # PostgreSQL may be away at start too (a restart of everything): wait for it, like later.
    if not await patiently("preparing the tables", lambda: prepare(settings, replay), stop):
        return
    projector = Projector(settings)
    await projector.start()
    try:
        await projector.run(stop)
    finally:
        await projector.stop()
        tracing.shutdown()


async def prepare(settings: ProjectorSettings, replay: bool) -> None:
    if replay:
        await drop_all(settings.database_url)
    if await ensure_fold_version(settings.database_url, FOLD_VERSION):
        logging.getLogger("projections").warning(
            "the tables were written by other folds: rebuilding them from the log",
            extra={"fold_version": FOLD_VERSION},
        )
    await migrate(settings.database_url)


async def audit(execution_id: str) -> int:
    from projections.audit import history, render

    settings = exit_on_bad_settings(ProjectorSettings.from_env)
    found = await history(settings.kafka_bootstrap_servers, execution_id)
    for line in render(execution_id, found):
        print(line)
    return 0 if found else 1


async def verify(scratch: str | None) -> int:
    from projections.verify import SameDatabase
    from projections.verify import verify as compare

    settings = exit_on_bad_settings(ProjectorSettings.from_env)
    try:
        found = await compare(settings, scratch)
    except SameDatabase as exc:
        print(exc, file=sys.stderr)
        return 2
    for difference in found:
        print(difference.describe())
    print(f"{len(found)} rows differ between the live projection and the log")
    return 1 if found else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--replay", action="store_true", help="drop the tables and rebuild from the log"
    )
    commands = parser.add_subparsers(dest="command")
    audit_command = commands.add_parser("audit", help="an execution's history from Kafka")
    audit_command.add_argument("execution_id")
    verify_command = commands.add_parser(
        "verify", help="compare the live projection with a replay of the log"
    )
    verify_command.add_argument(
        "--scratch-database-url",
        help="replay into this (emptied) database instead of creating and dropping one",
    )
    args = parser.parse_args()
    if args.command is None:
        configure()
    else:  # the report is stdout; only warnings go beside it, on stderr
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "audit":
        sys.exit(uvloop.run(audit(args.execution_id)))
    elif args.command == "verify":
        sys.exit(uvloop.run(verify(args.scratch_database_url)))
    else:
        uvloop.run(main(args.replay))
