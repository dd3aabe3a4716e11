"""`python -m api`: serve the API with uvicorn on HOST:PORT (default 127.0.0.1:3000)."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from config import exit_on_bad_settings
from telemetry.logs import configure


def main() -> None:
    settings = exit_on_bad_settings(ApiSettings.from_env)
    configure()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        # GET /executions/{id}/ws; a frame may carry the stdin buffer's worth of JSON-escaped
        # text (6 bytes a byte at worst), and no more.
        ws="websockets-sansio",
        ws_max_size=6 * settings.stdin_buffer_bytes + 4096,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
