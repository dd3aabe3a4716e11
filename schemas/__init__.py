"""Events, envelope, versioning and (de)serialisation shared by every component."""

from schemas.envelope import Envelope, decode, encode, new_event
from schemas.errors import SchemaError, UnknownEventType, UnsupportedVersion

__all__ = [
    "Envelope",
    "SchemaError",
    "UnknownEventType",
    "UnsupportedVersion",
    "decode",
    "encode",
    "new_event",
]
