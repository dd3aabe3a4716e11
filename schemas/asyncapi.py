"""Generates the AsyncAPI document of the engine's topics (channels) and events (messages).

`python -m schemas.asyncapi` rewrites schemas/asyncapi.json from `eventlog.topics` and the event
classes; a unit test fails when the checked-in file is stale. The message payloads are the same
envelope schemas as schemas/json/ (`schemas.jsonschema`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from eventlog import topics
from schemas.events import EVENT_TYPES
from schemas.jsonschema import envelope_schema

OUTPUT = Path(__file__).parent / "asyncapi.json"

# Which events each topic carries and who writes them; a topic in eventlog.topics.ALL without an
# entry here fails the unit test, so a new topic cannot go undocumented.
CHANNELS: dict[str, tuple[tuple[str, ...], str]] = {
    topics.SESSIONS.name: (
        (
            "SessionCreated",
            "SessionCodeUpdated",
            "SessionFileSaved",
            "SessionFileDeleted",
            "SessionClosed",
        ),
        "Code sessions: creation, each autosave (a revision), closing. Keyed by session_id.",
    ),
    topics.REQUESTED.name: (
        ("RunRequested",),
        "Runs asked for by the API, each a full snapshot (code, stdin, limits, language).",
    ),
    topics.EVENTS.name: (
        (
            "RunRejected",
            "RunStarted",
            "OutputChunk",
            "StdinReceived",
            "StdinClosed",
            "RunFinished",
            "RetryScheduled",
            "DeadLettered",
            "RunRequeued",
            "CallbackAttempted",
        ),
        "What happened to each execution: rejection, attempts, output, live input, outcome, "
        "retries, dead letter, and each attempt to POST its result to its callback URL.",
    ),
    topics.DISPATCH.name: (
        ("RunAccepted",),
        "Work queue: accepted runs for the executors (one message per attempt).",
    ),
    topics.RETRY.name: (
        ("RetryScheduled", "RunRequeued"),
        "Work queue: attempts to run again later (each RetryScheduled also kept in the events "
        "topic), and operators' requeues of dead letters.",
    ),
    topics.DEAD_LETTER.name: (
        ("DeadLettered",),
        "Operators' queue of runs that failed for reasons of ours (also kept in the events topic).",
    ),
}


def _retention(topic: topics.Topic) -> str:
    return "forever (the event log)" if topic.log else f"{topic.retention_days} days"


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics.ALL:
        names, description = CHANNELS[topic.name]
        channel_id = topic.name.replace(".", "_").replace("-", "_")
        channels[channel_id] = {
            "address": topic.name,
            "description": f"{description} Retention: {_retention(topic)}.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"topicConfiguration": {"retention.ms": int(
                topic.config["retention.ms"])}}},
        }  # fmt: skip
        operations[f"consume_{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
    messages = {
        name: {
            "name": name,
            "title": f"{name} v{cls.VERSION}",
            "summary": (cls.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": envelope_schema(name),
        }
        for name, cls in EVENT_TYPES.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "runbox event log",
            "version": "1",
            "description": "Every message is a JSON envelope {event_id, type, version, "
            "occurred_at, key, payload}, keyed in Kafka by its `key`.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered() -> bytes:
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> None:
    OUTPUT.write_bytes(rendered())


if __name__ == "__main__":
    main()
