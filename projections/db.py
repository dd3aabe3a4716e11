"""What the projector and the API's reads share about PostgreSQL connections."""

from __future__ import annotations


async def no_reset(_conn: object) -> None:
    """Pooled connections keep no session state: skip the reset query on every release."""
