"""The languages the engine runs."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.params import FromPath

from api.services import ServicesDep
from fleet.catalogue import LanguageEntry


def summary(entry: LanguageEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "runtime": entry.runtime,
        "version": entry.version,
        "default_time_limit_ms": entry.default_time_limit_ms,
        "default_memory_mb": entry.default_memory_mb,
    }


@get("/languages")
async def list_languages(services: ServicesDep) -> dict[str, Any]:
    entries = await services.catalogue.entries()
    return {"total": len(entries), "languages": [summary(e) for e in entries]}


@get("/languages/{language_id:str}")
async def get_language(services: ServicesDep, language_id: FromPath[str]) -> dict[str, Any]:
    entry = await services.catalogue.get(language_id)
    return {
        **summary(entry),
        "key": entry.key,
        "template_code": entry.template_code,
        "file_name": entry.file_name,
    }
