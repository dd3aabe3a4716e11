"""What the projector tells operators: a span per applied event (in the run's trace, from its
`traceparent` header) and its metrics: events applied and lag per topic.

Called once per batch after its commit, with the batch's timing: the events of one batch are
applied in one transaction, so each event's span is that transaction.
"""

from __future__ import annotations

from collections import defaultdict

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from telemetry import metrics, tracing

# The last lag seen per partition: a partition absent from a batch keeps its figure.
_lag: dict[TopicPartition, int] = {}


def applied(
    records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    consumer: AIOKafkaConsumer,
    start_ns: int,
    end_ns: int,
) -> None:
    topics: set[str] = set()
    for tp, messages in records.items():
        metrics.EVENTS_PROJECTED.labels(tp.topic).inc(len(messages))
        highwater = consumer.highwater(tp)
        if highwater is not None and messages:
            _lag[tp] = max(highwater - (messages[-1].offset + 1), 0)
            topics.add(tp.topic)
        if tracing.enabled():
            for message in messages:
                headers = dict(message.headers or ())
                tracing.record_span(
                    f"project {headers.get('event_type', b'event').decode('latin-1')}",
                    start_ns,
                    end_ns,
                    {
                        "messaging.destination.name": tp.topic,
                        "messaging.destination.partition.id": str(tp.partition),
                        "messaging.kafka.offset": message.offset,
                    },
                    parent=tracing.headers_context(headers),
                )
    totals: dict[str, int] = defaultdict(int)
    for tp, lag in _lag.items():
        if tp.topic in topics:
            totals[tp.topic] += lag
    for topic, lag in totals.items():
        metrics.PROJECTOR_LAG.labels(topic).set(lag)
