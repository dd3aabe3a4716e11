"""Kafka -> PostgreSQL materialisers: fold the event log into the tables the API reads."""
