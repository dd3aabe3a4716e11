"""The language catalogue executors publish (in Redis) and the API serves: one entry a language."""

from __future__ import annotations

import msgspec

CATALOGUE_KEY = "languages:catalogue"


class LibraryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An extra package tree installed with the language (sandbox.registry.Library)."""

    name: str
    version: str
    description: str = ""


class LanguageEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A language as the executors run it: the version is read from the installed runtime."""

    id: str
    key: str
    name: str
    runtime: str
    version: str
    file_name: str
    template_code: str
    default_time_limit_ms: int
    default_memory_mb: int
    libraries: tuple[LibraryEntry, ...] = ()  # installed on the executor (older ones: none)


def encode_catalogue(entries: list[LanguageEntry]) -> bytes:
    return msgspec.json.encode(entries)


def decode_catalogue(raw: bytes) -> list[LanguageEntry]:
    return msgspec.json.decode(raw, type=list[LanguageEntry])
