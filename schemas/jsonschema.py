"""Generates one JSON Schema per event into schemas/json/ for consumers outside the engine.

`python -m schemas.jsonschema` rewrites the files; a unit test fails when they are stale.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson

from schemas.events import EVENT_TYPES

OUTPUT = Path(__file__).parent / "json"


def envelope_schema(event_type: str) -> dict[str, object]:
    cls = EVENT_TYPES[event_type]
    (payload,), components = msgspec.json.schema_components([cls], ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{event_type} v{cls.VERSION}",
        "type": "object",
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "type": {"const": event_type},
            "version": {"const": cls.VERSION},
            "occurred_at": {"type": "string", "format": "date-time"},
            "key": {"type": "string"},
            "payload": payload,
        },
        "required": ["event_id", "type", "version", "occurred_at", "key", "payload"],
        "$defs": components,
    }


def rendered() -> dict[str, bytes]:
    return {
        f"{name}.v{cls.VERSION}.json": orjson.dumps(
            envelope_schema(name), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
        + b"\n"
        for name, cls in EVENT_TYPES.items()
    }


def main() -> None:
    OUTPUT.mkdir(exist_ok=True)
    for name, content in rendered().items():
        (OUTPUT / name).write_bytes(content)


if __name__ == "__main__":
    main()
