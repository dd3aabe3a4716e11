"""The embedded local stack: Apache Kafka (KRaft), PostgreSQL and Redis under var/, no Docker."""
