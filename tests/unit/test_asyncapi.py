"""The AsyncAPI document: current with the code, and naming every topic and every event."""

from __future__ import annotations

import orjson

from eventlog import topics
from schemas.asyncapi import OUTPUT, rendered
from schemas.events import EVENT_TYPES


def test_checked_in_asyncapi_document_is_current() -> None:
    assert OUTPUT.read_bytes() == rendered(), (
        "run `python -m schemas.asyncapi` and commit schemas/asyncapi.json"
    )


def test_every_topic_is_a_channel_and_every_event_a_message_of_one() -> None:
    document = orjson.loads(OUTPUT.read_bytes())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {topic.name for topic in topics.ALL}
    carried = {name for channel in document["channels"].values() for name in channel["messages"]}
    assert carried == set(EVENT_TYPES)
    for name, cls in EVENT_TYPES.items():
        message = document["components"]["messages"][name]
        payload = message["payload"]
        assert payload["properties"]["type"] == {"const": name}
        assert payload["properties"]["version"] == {"const": cls.VERSION}


def test_channels_state_the_topics_retention() -> None:
    document = orjson.loads(OUTPUT.read_bytes())
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    assert "forever" in by_address[topics.EVENTS.name]["description"]
    assert "30 days" in by_address[topics.DEAD_LETTER.name]["description"]
    assert "7 days" in by_address[topics.DISPATCH.name]["description"]
