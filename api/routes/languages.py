"""The languages the engine runs."""

from __future__ import annotations

from litestar import get
from litestar.params import FromPath

from api.contract import LanguageDetail, LanguageList, LanguageSummary, Library, errors
from api.services import ServicesDep


@get("/languages", responses=errors(503))
async def list_languages(services: ServicesDep) -> LanguageList:
    """Every language a live executor runs."""
    entries = await services.catalogue.entries()
    return LanguageList(
        total=len(entries),
        languages=[
            LanguageSummary(
                id=e.id,
                name=e.name,
                runtime=e.runtime,
                version=e.version,
                default_time_limit_ms=e.default_time_limit_ms,
                default_memory_mb=e.default_memory_mb,
            )
            for e in entries
        ],
    )


@get("/languages/{language_id:str}", responses=errors(404, 503))
async def get_language(services: ServicesDep, language_id: FromPath[str]) -> LanguageDetail:
    """A language by id, key or name (case does not matter)."""
    e = await services.catalogue.get(language_id)
    return LanguageDetail(
        id=e.id,
        name=e.name,
        runtime=e.runtime,
        version=e.version,
        default_time_limit_ms=e.default_time_limit_ms,
        default_memory_mb=e.default_memory_mb,
        key=e.key,
        template_code=e.template_code,
        file_name=e.file_name,
        libraries=[
            Library(name=lib.name, version=lib.version, description=lib.description)
            for lib in e.libraries
        ],
    )
