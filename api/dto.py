"""Request bodies (decoded strictly: malformed JSON is a 400, a wrong field a 422) and answers."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args, get_type_hints

import msgspec
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.openapi.spec import Operation, RequestBody
from litestar.typing import FieldDefinition
from msgspec import Meta

from api.errors import BadRequest, InvalidInput
from schemas.events import Outcome
from verdicts import (
    DEFAULT_ABSOLUTE_TOLERANCE,
    DEFAULT_MODE,
    DEFAULT_RELATIVE_TOLERANCE,
    Mode,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference, Schema


class CreateSession(msgspec.Struct, forbid_unknown_fields=True):
    """A new code session in a language, with its first source code."""

    language_id: Annotated[
        str,
        Meta(
            description="A language's id, key or name (GET /languages); an unknown one is 422.",
            examples=["python"],
        ),
    ]
    source_code: Annotated[
        str | None,
        Meta(
            description="At most MAX_SOURCE_BYTES (256 KiB) of UTF-8, no NUL; 413 beyond. "
            "Absent or null: the language's template.",
            examples=["print(input())"],
        ),
    ] = None
    files: Annotated[
        dict[str, str] | None,
        Meta(
            description="The program's files besides its entry point (whose content is `source_code`), "
            "by relative name: at most MAX_FILES (32), each at most MAX_SOURCE_BYTES, "
            "MAX_FILES_BYTES (1 MiB) in all with the source; names of 1 to 8 parts of "
            "letters, digits, `_ . + -` (not leading `.` or `-`) joined by `/`; 422 otherwise.",
            examples=[{"lib/util.py": "def double(x):\n    return 2 * x\n"}],
        ),
    ] = None


class UpdateSession(msgspec.Struct, forbid_unknown_fields=True):
    """An autosave: the session's whole new source code (and, if given, all its other files)."""

    source_code: Annotated[
        str,
        Meta(
            description="At most MAX_SOURCE_BYTES (256 KiB) of UTF-8, no NUL; 413 beyond.",
            examples=["print(2)"],
        ),
    ]
    files: Annotated[
        dict[str, str] | None,
        Meta(
            description="Absent or null: the other files stay as they are. Else they are "
            "replaced by these: "
            + "The program's files besides its entry point (whose content is `source_code`), "
            "by relative name: at most MAX_FILES (32), each at most MAX_SOURCE_BYTES, "
            "MAX_FILES_BYTES (1 MiB) in all with the source; names of 1 to 8 parts of "
            "letters, digits, `_ . + -` (not leading `.` or `-`) joined by `/`; 422 otherwise.",
            examples=[{"lib/util.py": "def double(x):\n    return 2 * x\n"}],
        ),
    ] = None


class SaveFile(msgspec.Struct, forbid_unknown_fields=True):
    """An autosave of one file of the session."""

    path: Annotated[
        str,
        Meta(
            description="The file's relative name, e.g. `lib/util.py`; the language's entry "
            "point (`file_name`, e.g. `main.py`) names the session's `source_code`.",
            examples=["lib/util.py"],
        ),
    ]
    content: Annotated[
        str | None,
        Meta(
            description="The file's whole new content (a new name creates the file); null "
            "deletes it (404 if there is none; the entry point cannot be deleted).",
            examples=["def double(x):\n    return 2 * x\n"],
        ),
    ]


class RequeueOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Why an operator runs a dead letter again (the body may be empty)."""

    reason: Annotated[
        str | None,
        Meta(description="Recorded in the execution's history.", examples=["broker fixed"]),
    ] = None


class CaseInput(msgspec.Struct, forbid_unknown_fields=True):
    """A test case: the program's stdin, and the output it must print."""

    expected_output: Annotated[
        str,
        Meta(
            description="Compared with the program's stdout (see `comparison`).", examples=["42\n"]
        ),
    ]
    stdin: Annotated[
        str, Meta(description="The program's stdin for this case.", examples=["21\n"])
    ] = ""


Tolerance = Annotated[float, Meta(ge=0, le=1e9)]


class ComparisonOptions(msgspec.Struct, forbid_unknown_fields=True):
    """How each test case's stdout is compared with its expected output."""

    mode: Annotated[
        Mode,
        Meta(
            description="exact; trailing_whitespace (the default: trailing spaces, tabs and "
            "carriage returns of each line and trailing empty lines are ignored); tokens "
            "(whitespace-separated tokens); float (tokens, numbers within a tolerance)."
        ),
    ] = DEFAULT_MODE
    absolute_tolerance: Annotated[
        Tolerance,
        Meta(description="float mode: numbers match within this difference (default 1e-6)."),
    ] = DEFAULT_ABSOLUTE_TOLERANCE
    relative_tolerance: Annotated[
        Tolerance,
        Meta(
            description="float mode: ...or within this fraction of the expected number "
            "(default 1e-6)."
        ),
    ] = DEFAULT_RELATIVE_TOLERANCE


class RunOptions(msgspec.Struct, forbid_unknown_fields=True):
    """A run's limits and input; every field is optional, and so is the body."""

    time_limit_ms: Annotated[
        int | None,
        Meta(
            description="CPU time limit: default 5000, from 100 to 60000 (the policy's "
            "MIN/MAX_TIME_LIMIT_MS); 422 outside.",
            examples=[2000],
        ),
    ] = None
    memory_mb: Annotated[
        int | None,
        Meta(
            description="Memory limit: default 256, from 32 to 2048 (MIN/MAX_MEMORY_MB); "
            "422 outside.",
            examples=[128],
        ),
    ] = None
    stdin: Annotated[
        str | None,
        Meta(
            description="The program's standard input: at most MAX_STDIN_BYTES (1 MiB) of "
            "UTF-8; 413 beyond.",
            examples=["42\n"],
        ),
    ] = None
    args: Annotated[
        list[str] | None,
        Meta(
            description="Command-line arguments for the program, passed as given: at most "
            "MAX_ARGS (64), MAX_ARGS_BYTES (16 KiB) in all; no NUL.",
            examples=[["--verbose", "input.txt"]],
        ),
    ] = None
    interactive: Annotated[
        bool | None,
        Meta(
            description="True: the program's stdin stays open while it runs; `stdin` is only "
            "its start, the rest is sent over GET /executions/{execution_id}/ws. The wall "
            "limit (2 x time_limit_ms + 500 ms) still holds, waiting for input included.",
            examples=[True],
        ),
    ] = None
    test_cases: Annotated[
        list[CaseInput] | None,
        Meta(
            description="Run the program once per case (compiled once), each with its own stdin "
            "and under the run's limits, and judge each: the result's `test_results`. At most "
            "MAX_TEST_CASES (32), MAX_TEST_CASES_BYTES (1 MiB) of stdin and expected output in "
            "all; 422 beyond. Not with `stdin`."
        ),
    ] = None
    comparison: Annotated[
        ComparisonOptions | None,
        Meta(description="How outputs are compared (only with `test_cases`)."),
    ] = None
    callback_url: Annotated[
        Annotated[str, Meta(max_length=2048)] | None,
        Meta(
            description="http(s) URL the result is POSTed to when the run ends, signed "
            "(X-Runbox-Signature; see README, Callbacks). Private, loopback, link-local and "
            "other non-public addresses are refused (422) unless CALLBACK_ALLOW opens them.",
            examples=["https://example.com/runbox-hook"],
        ),
    ] = None


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


def _structs_in(
    kind: Any, seen: set[type[msgspec.Struct]] | None = None
) -> set[type[msgspec.Struct]]:
    """`kind` and every Struct type its fields may hold, at any depth."""
    seen = set() if seen is None else seen
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        if kind in seen:
            return seen
        seen.add(kind)
        hints = get_type_hints(kind, include_extras=True)
        for field in msgspec.structs.fields(kind):
            _structs_in(hints[field.name], seen)
    for arg in get_args(kind):
        _structs_in(arg, seen)
    return seen


class StrictBody(AbstractDTO[T]):
    """Declares a handler's `data` to Litestar (so OpenAPI documents it) but decodes it our way:
    strictly (Litestar converts leniently, "5" for 5) and with our errors (400 malformed JSON or
    no body, 422 a wrong field), where Litestar's own decoding would answer its own.

    A handler takes `data: Kind | None = None`: None is an empty or blank body, which
    `body_or_default` turns into the default or a 400.
    """

    def decode_bytes(self, value: bytes) -> Any:
        if not value.strip():
            return None  # blank is no body (Litestar only skips an empty one): the handler decides
        return parse_body(value, self.model_type)

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """Nothing to build: no transfer model, the Struct itself is decoded."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        model = FieldDefinition.from_annotation(cls.model_type)
        reference = schema_creator.for_field_definition(model)
        for kind in _structs_in(cls.model_type):
            if kind.__struct_config__.forbid_unknown_fields:
                # Litestar leaves this out; without it, a body with an unknown field (a 422)
                # would be one the document allows, at any depth (a test case, a batch's run).
                schema_creator.schema_registry.get_schema_for_field_definition(
                    FieldDefinition.from_annotation(kind)
                ).additional_properties = False
        return reference

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition]:
        raise NotImplementedError("StrictBody builds no transfer model")

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False


@dataclass
class OptionalBody(Operation):
    """The OpenAPI operation of a handler whose body may be empty (Litestar marks every
    declared body required)."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


def body_or_default(data: T | None, kind: type[T], *, optional: bool) -> T:
    """The decoded body; an empty one is `kind()` where the body is optional, else a 400."""
    if data is not None:
        return data
    return parse_body(b"", kind, optional=optional)


class LanguageView(msgspec.Struct, frozen=True, kw_only=True):
    """The language an execution ran with, as it was when the run was requested."""

    id: str | None
    name: str | None
    version: str | None


class ExecutionState(msgspec.Struct, frozen=True, kw_only=True):
    """An execution still QUEUED or RUNNING: poll again, or follow its events."""

    execution_id: str
    status: Literal["QUEUED", "RUNNING"]


class RerunComparison(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a re-run reproduced the execution it re-ran (None: the original has no outcome)."""

    of: str
    stdout_matches: bool | None
    stderr_matches: bool | None
    exit_code_matches: bool | None


class ExecutionResult(Outcome, frozen=True, kw_only=True):
    """A finished execution: its outcome (every field of `Outcome`) and its history."""

    # Narrowed from Outcome's `str`, so that a client (and OpenAPI's oneOf) tells the two apart.
    status: Annotated[
        Literal["COMPLETED", "FAILED", "TIMEOUT"],
        Meta(description="FAILED and TIMEOUT name an `error_code`: E001 to E006 (see README)."),
    ]
    execution_id: str
    error_message: str | None
    attempt: int
    worker_id: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    session_id: str | None
    language: LanguageView
    time_limit_ms: int | None
    memory_mb: int | None
    args: list[str] | None
    rerun: RerunComparison | None = None  # set on re-runs (POST /executions/{id}/rerun)


# Read from the `executions` row by name; the others are built from several columns.
RESULT_COLUMNS = tuple(
    f.name
    for f in msgspec.structs.fields(ExecutionResult)
    if f.name not in {"execution_id", "session_id", "language", "rerun"}
)


class BatchRun(RunOptions, kw_only=True, forbid_unknown_fields=True):
    """One run of a batch: a session's current source, with the options of a single run."""

    session_id: Annotated[str, Meta(description="The code session to run (a UUID).")]
    idempotency_key: Annotated[
        str | None,
        Meta(
            description="As the Idempotency-Key header of a single run: a retried batch with "
            "the same key (and options) for this session names the same execution."
        ),
    ] = None

    def options(self) -> RunOptions:
        return RunOptions(**{name: getattr(self, name) for name in RunOptions.__struct_fields__})


class RunBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Runs to queue at once, each admitted as a single run would be, in order."""

    runs: Annotated[list[BatchRun], Meta(description="1 to MAX_BATCH_RUNS (20) runs; 422 outside.")]


@dataclass(frozen=True)
class ExecutionBatch:
    """Several executions, in the order asked for: each as GET /executions/{id} answers, or
    null for an id that names no execution (also listed in `unknown`, as given)."""

    # A dataclass: msgspec documents no untagged union of Structs inside a Struct, Litestar does.
    executions: list[ExecutionState | ExecutionResult | None]
    unknown: list[str]
