"""`python -m processors`: a Faust worker running the safety, executor and retry agents."""

from __future__ import annotations

import asyncio
import sys

from config import exit_on_bad_settings
from processors.settings import ProcessorSettings
from processors.worker import create_worker, wait_for_kafka
from sandbox import SandboxSettings
from telemetry.logs import configure


def main() -> None:
    settings = exit_on_bad_settings(ProcessorSettings.from_env)
    sandbox_settings = exit_on_bad_settings(SandboxSettings.from_env)
    configure()  # Faust configures logging when it starts; the wait before it logs alike
    # On a loop of its own, before the app exists: Faust makes its loop when it starts.
    asyncio.run(wait_for_kafka(settings.kafka_bootstrap_servers))
    worker = create_worker(settings, sandbox_settings)
    # The Kafka consumer runs in a thread of Faust's: hand the GIL over sooner than every 5 ms.
    sys.setswitchinterval(0.0005)
    sys.argv = [sys.argv[0], "--loop", "uvloop", "worker", "--loglevel", "info", "--without-web"]
    worker.app.main()


if __name__ == "__main__":
    main()
