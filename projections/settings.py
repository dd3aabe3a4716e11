"""The projector's settings, read from the environment once and validated at start."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from config.endpoints import Endpoints


class ProjectorSettings(Endpoints, frozen=True, kw_only=True):
    """Where the log, the tables and the live channel are; how the projector polls."""

    projector_batch_size: Annotated[
        int, Meta(ge=1, le=100_000, description="events folded per transaction at most")
    ] = 500
    # Latency does not depend on it: the broker answers a fetch as soon as data arrives, and the
    # consumer sends none while it holds unread records. It only sets how often an idle projector
    # asks (each fetch names every partition of the four topics): 2 a second, not 10.
    projector_fetch_max_wait_ms: Annotated[
        int,
        Meta(
            ge=0,
            le=10_000,
            description="longest wait of a fetch; the broker answers earlier on data",
        ),
    ] = 500
    projector_metrics_port: Annotated[
        int, Meta(ge=0, le=65535, description="Prometheus /metrics port of the projector; 0: off")
    ] = 9465
