"""The Kafka event log: its topics, their retention and administration."""
