"""The Faust application and its topics. Values are raw bytes: schemas.decode reads them."""

from __future__ import annotations

from typing import Any

import faust

from processors.settings import ProcessorSettings
from schemas import topics
from schemas.logs import dict_config

settings = ProcessorSettings.from_env()

app = faust.App(
    "runbox-processors",
    broker=f"kafka://{settings.kafka_bootstrap_servers}",
    value_serializer="raw",
    key_serializer="raw",
    web_enabled=False,
    producer_linger=0.0,
    producer_acks=-1,
    producer_max_request_size=topics.MAX_MESSAGE_BYTES,
    consumer_max_fetch_size=topics.MAX_MESSAGE_BYTES,
    stream_wait_empty=False,
    topic_allow_declare=False,  # topics are created with their retention by processors.topics
    topic_disable_leader=True,
    broker_commit_interval=0.5,
    consumer_auto_offset_reset="earliest",
    logging_config=dict_config(),  # JSON lines with execution_id, like the API and projector
)


def _topic(topic: topics.Topic) -> Any:
    return app.topic(topic.name, key_type=bytes, value_type=bytes, allow_empty=False)


requested_topic = _topic(topics.REQUESTED)
dispatch_topic = _topic(topics.DISPATCH)
events_topic = _topic(topics.EVENTS)
retry_topic = _topic(topics.RETRY)
dead_letter_topic = _topic(topics.DEAD_LETTER)
