"""`GET /metrics`: the API's Prometheus metrics, every worker's heartbeat age, consumer lag."""

from __future__ import annotations

from litestar import Response, get

from api.errors import DependencyDown
from api.services import ServicesDep
from telemetry import metrics


@get("/metrics", include_in_schema=False)
async def get_metrics(services: ServicesDep) -> Response[bytes]:
    """Prometheus exposition text; heartbeat ages are read from the fleet hash at each scrape
    (without Redis they are left out, the rest is still served)."""
    try:
        beats = await services.fleet.beats(fresh=True)
    except DependencyDown:
        beats = []
    metrics.HEARTBEAT_AGE.clear()  # a worker gone from the hash leaves the metric too
    for beat in beats:
        metrics.HEARTBEAT_AGE.labels(beat.worker_id).set(round(beat.age_s(), 3))
    await services.lag.refresh()
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
