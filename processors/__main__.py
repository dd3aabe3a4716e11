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


def prepare_process() -> asyncio.AbstractEventLoop:
    """The event loop the worker runs on (uvloop), set as current; and the GIL switch interval."""
    mode.loop.use("uvloop")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # A thread holding the GIL (Faust's consumer thread with FAUST_CONSUMER=thread; the metrics
    # server's, the trace exporter's) hands it back to the loop within 0.5 ms, not 5 ms.
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
    loop = prepare_process()
    worker = create_worker(settings, sandbox_settings)
    DrainingWorker(worker, loglevel="info", loop=loop).execute_from_commandline()


if __name__ == "__main__":
    main()
