"""`python -m processors`: a Faust worker running the safety, executor and retry agents."""

from __future__ import annotations

import sys

from processors import executor, retry, safety, worker  # noqa: F401 - registers the agents
from processors.app import app


def main() -> None:
    # The Kafka consumer runs in a thread of Faust's: hand the GIL over sooner than every 5 ms.
    sys.setswitchinterval(0.0005)
    sys.argv = [sys.argv[0], "--loop", "uvloop", "worker", "--loglevel", "info", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
