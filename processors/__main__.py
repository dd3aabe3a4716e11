"""`python -m processors`: a Faust worker running the safety, executor and retry agents."""

from __future__ import annotations

import sys

from processors import executor, retry, safety, worker  # noqa: F401 - registers the agents
from processors.app import app


def main() -> None:
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
