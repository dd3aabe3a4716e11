"""`python -m processors`: a Faust worker running the safety, executor and retry agents."""

from __future__ import annotations

import asyncio
import sys

import mode.loop

from config import exit_on_bad_settings
from processors.settings import ProcessorSettings
from processors.shutdown import DrainingWorker
from processors.worker import create_worker, wait_for_kafka
from sandbox import SandboxSettings
from telemetry import metrics, tracing
from telemetry.logs import configure


def prepare_process(settings: ProcessorSettings) -> asyncio.AbstractEventLoop:
    """The event loop the worker runs on (uvloop), set as current; and the GIL switch interval."""
    mode.loop.use("uvloop")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if settings.faust_consumer == "thread":
        # The Kafka consumer runs in a thread of Faust's: hand the GIL over sooner than every
        # 5 ms. On the loop (processors/transport.py) no thread of ours waits for it.
        sys.setswitchinterval(0.0005)
    return loop


def main() -> None:
    settings = exit_on_bad_settings(ProcessorSettings.from_env)
    sandbox_settings = exit_on_bad_settings(SandboxSettings.from_env)
    configure()  # Faust configures logging when it starts; the wait before it logs alike
    tracing.setup_or_exit("runbox-processors")
    metrics.serve(metrics.PROCESSORS, settings.metrics_port)
    metrics.SLOTS.set(sandbox_settings.slots)
    # On a loop of its own, before the app exists: Faust makes its loop when it starts.
    asyncio.run(wait_for_kafka(settings.kafka_bootstrap_servers))
    loop = prepare_process(settings)
    worker = create_worker(settings, sandbox_settings)
    DrainingWorker(worker, loglevel="info", loop=loop).execute_from_commandline()


if __name__ == "__main__":
    main()
