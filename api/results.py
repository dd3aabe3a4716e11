"""An execution as the API shows it: its state while it runs, its result once it has ended."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec

from api.dto import (
    RESULT_COLUMNS,
    ExecutionResult,
    ExecutionState,
    LanguageView,
    RerunComparison,
)
from api.services import Services
from api.snapshot import from_json
from schemas.events import TERMINAL, Judgement

Row = asyncpg.Record | Mapping[str, Any]  # a row of `executions`, or a stream's recorded copy


def present(row: Row) -> ExecutionState | ExecutionResult:
    """A row of `executions` (or its columns as a stream's `result` records them)."""
    execution_id = str(row["execution_id"])
    if row["status"] not in TERMINAL:
        return ExecutionState(execution_id=execution_id, status=row["status"])
    values = {name: row[name] for name in RESULT_COLUMNS}
    values["test_results"] = from_json(row, "test_results", Judgement)
    return ExecutionResult(
        **values,
        execution_id=execution_id,
        session_id=str(row["session_id"]) if row["session_id"] else None,
        language=LanguageView(
            id=str(row["language_id"]) if row["language_id"] else None,
            name=row["language_name"],
            version=row["language_version"],
        ),
    )


async def with_rerun(
    services: Services, row: Row, result: ExecutionState | ExecutionResult
) -> ExecutionState | ExecutionResult:
    """A finished re-run (POST /executions/{id}/rerun) says whether it reproduced the original:
    None where the original has no outcome (yet)."""
    if not isinstance(result, ExecutionResult) or row["rerun_of"] is None:
        return result
    original = await services.db.execution(row["rerun_of"])
    done = original is not None and original["status"] in TERMINAL

    def same(column: str) -> bool | None:
        return bool(row[column] == original[column]) if done and original is not None else None

    comparison = RerunComparison(
        of=str(row["rerun_of"]),
        stdout_matches=same("stdout"),
        stderr_matches=same("stderr"),
        exit_code_matches=same("exit_code"),
    )
    return msgspec.structs.replace(result, rerun=comparison)
