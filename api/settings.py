"""The API's settings, read from the environment once and validated at start."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated

import msgspec
from msgspec import Meta

from config import SettingsError
from config.callbacks import CallbackPolicy
from config.endpoints import Endpoints
from config.limits import RunPolicy


class ApiSettings(Endpoints, frozen=True, kw_only=True):
    """Where the API listens, how long it waits for its dependencies, and what it admits."""

    host: Annotated[str, Meta(description="address the API listens on")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535, description="port the API listens on")] = 3000
    dependency_timeout_s: Annotated[
        float,
        Meta(gt=0, le=60, description="longest wait for Kafka, PostgreSQL or Redis; then 503"),
    ] = 3.0
    read_your_writes_timeout_s: Annotated[
        float, Meta(gt=0, le=60, description="longest wait for the projector after a write")
    ] = 5.0
    session_runs_per_minute: Annotated[
        int, Meta(ge=1, description="runs per minute per code session; then 429")
    ] = 10
    client_runs_per_minute: Annotated[
        int, Meta(ge=1, description="runs per minute per client address; then 429")
    ] = 120
    worker_dead_after_s: Annotated[
        float, Meta(gt=0, description="a worker silent this long is dead")
    ] = 30.0
    max_queued_per_session: Annotated[
        int, Meta(ge=1, description="runs of one session waiting or running at once; then 503")
    ] = 20
    max_queued_total: Annotated[
        int, Meta(ge=1, description="runs waiting or running in the whole engine; then 503")
    ] = 5000
    trusted_proxies: Annotated[
        str,
        Meta(
            description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed"
        ),
    ] = ""
    idempotency_ttl_s: Annotated[
        int, Meta(ge=1, description="how long an Idempotency-Key is remembered")
    ] = 24 * 3600
    sync_run_timeout_s: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description="longest a synchronous run (Judge0 ?wait=true, Piston's execute) is "
            "waited for",
        ),
    ] = 150.0
    stdin_buffer_bytes: Annotated[
        int,
        Meta(
            ge=1,
            le=16 * 1024 * 1024,
            description="interactive runs: stdin sent over the WebSocket and not yet taken by "
            "the program; a send beyond it is refused (stdin_buffer_full)",
        ),
    ] = 64 * 1024
    max_batch_runs: Annotated[
        int,
        Meta(
            ge=1,
            le=1000,
            description="runs in one POST /runs/batch, and ids in one GET /executions?ids=; 422 beyond",
        ),
    ] = 20
    playground_editor_dir: Annotated[
        str,
        Meta(
            description="folder of the CodeMirror 5 npm package the playground page's editor is "
            "served from (devstack/runtimes.sh installs it)"
        ),
    ] = "/opt/codemirror/lib/node_modules/codemirror"
    policy: RunPolicy = msgspec.field(default_factory=RunPolicy)
    callbacks: CallbackPolicy = msgspec.field(default_factory=CallbackPolicy)

    def check(self) -> None:
        self.proxy_networks()  # refuse a bad TRUSTED_PROXIES at start

    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        try:
            return tuple(
                ip_network(part.strip(), strict=False)
                for part in self.trusted_proxies.split(",")
                if part.strip()
            )
        except ValueError as exc:
            raise SettingsError("TRUSTED_PROXIES", self.trusted_proxies, str(exc)) from None
