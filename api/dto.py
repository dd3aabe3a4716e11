"""Request bodies, decoded strictly: malformed JSON is a 400, a wrong field a 422."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from api.errors import BadRequest, InvalidInput


class CreateSession(msgspec.Struct, forbid_unknown_fields=True):
    language_id: str
    source_code: str | None = None


class UpdateSession(msgspec.Struct, forbid_unknown_fields=True):
    source_code: str


class RunOptions(msgspec.Struct, forbid_unknown_fields=True):
    time_limit_ms: int | None = None
    memory_mb: int | None = None
    stdin: str | None = None


T = TypeVar("T", bound=msgspec.Struct)


def parse_body(raw: bytes, kind: type[T], *, optional: bool = False) -> T:
    if not raw.strip():
        if optional:
            return kind()
        raise BadRequest("a JSON body is required")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
