"""Exceptions raised while reading or writing events."""

from __future__ import annotations


class SchemaError(Exception):
    """The event could not be (de)serialised."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class UnknownEventType(SchemaError):
    """The event type is not one this version of the engine knows."""


class UnsupportedVersion(SchemaError):
    """The event version is newer than this engine understands, or has no upcaster."""
