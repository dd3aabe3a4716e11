"""Programs of several files, without services: the policy on names, count and sizes; the folds
of per-file autosaves; the safety agent's re-check; how a compile command names every source."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import pytest

from config.limits import RunPolicy
from processors.rules import check
from projections.audit import render
from projections.fold import fold_execution, fold_session
from projections.logreader import Logged
from sandbox import InvalidFiles, registry
from sandbox.runner import program_files
from schemas import events, new_event
from tests.samples import T0, run_requested

POLICY = RunPolicy()


def broken(files: dict[str, str], source: str = "print(1)", policy: RunPolicy = POLICY) -> str:
    violation = policy.files_violation(files, len(source.encode()), "main.py")
    assert violation is not None, files
    assert violation.field == "files" and not violation.too_large  # each one a 422
    return violation.message


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x.py", "'..'"),
        ("lib/../../x.py", "'..'"),
        ("./x.py", "'.'"),
        ("/etc/passwd", "absolute"),
        ("a//b.py", "empty part"),
        ("lib/", "empty part"),
        ("", "empty"),
        (".bashrc", "hidden"),
        ("lib/.x.py", "hidden"),
        ("-rf", "not 1 to 100"),
        ("x -> /etc/passwd", "no spaces, links"),
        ("link@", "not 1 to 100"),
        ("a\\b.py", "backslashes"),
        ("C:x.py", "not 1 to 100"),
        ("ü.py", "not 1 to 100"),
        ("a/b/c/d/e/f/g/h/i.py", "8 directories deep"),
        ("x" * 101, "not 1 to 100"),
        ("/".join(["abcdefghij" * 3] * 8) + "x" * 20, "longer than 255 bytes"),
        ("main.py", "entry point"),
    ],
)
def test_a_bad_name_is_refused_saying_why(name: str, why: str) -> None:
    message = broken({name: "x = 1\n"})
    assert repr(name) in message and why in message, message


def test_good_names_pass() -> None:
    files = {
        "greet.py": "",
        "lib/calc.py": "",
        "lib/deep/er/x_y-z+1.txt": "",
        "go.mod": "",
        "Main2.java": "",
    }
    assert POLICY.files_violation(files, 10, "main.py") is None


def test_count_sizes_nul_and_clashes_are_refused() -> None:
    many = {f"m{i}.py": "" for i in range(POLICY.max_files + 1)}
    assert "33 files besides the entry point; the limit is 32" in broken(many)
    assert POLICY.files_violation(dict(list(many.items())[:-1]), 0) is None
    big = "x" * (POLICY.max_source_bytes + 1)
    assert f"'big.py' is {len(big)} bytes; the limit is {POLICY.max_source_bytes}" in broken(
        {"big.py": big}
    )
    four = {f"f{i}.py": "x" * POLICY.max_source_bytes for i in range(4)}
    assert "bytes with the entry point; the limit is 1048576" in broken(four, "print(1)")
    assert "NUL" in broken({"x.py": "a\x00b"})
    assert "'lib' is both a file and a directory" in broken({"lib": "", "lib/x.py": ""})
    assert "'main.py' is both" in broken({"main.py/x.py": ""})


def test_the_limits_follow_the_settings() -> None:
    strict = RunPolicy.from_env({"MAX_FILES": "1", "MAX_FILES_BYTES": "100"})
    assert "the limit is 1" in broken({"a.py": "", "b.py": ""}, policy=strict)
    assert "the limit is 100" in broken({"a.py": "x" * 95}, policy=strict)


SESSION = str(uuid.uuid4())


def test_per_file_autosaves_fold_at_the_revision_they_expect() -> None:
    created = events.SessionCreated(
        session_id=SESSION,
        language_id="l",
        source_code="import a",
        created_at=T0,
        files={"a.py": "x = 1"},
    )
    row = fold_session(None, created)
    assert row is not None and row.files == {"a.py": "x = 1"}
    saved = events.SessionFileSaved(
        session_id=SESSION, path="lib/b.py", content="y", updated_at=T0, expected_revision=1
    )
    row = fold_session(row, saved)
    assert row is not None and (row.revision, row.files) == (2, {"a.py": "x = 1", "lib/b.py": "y"})
    assert fold_session(row, saved) == row  # expected revision 1: lost its race, changes nothing
    deleted = events.SessionFileDeleted(
        session_id=SESSION, path="a.py", deleted_at=T0, expected_revision=2
    )
    row = fold_session(row, deleted)
    assert row is not None and (row.revision, row.files) == (3, {"lib/b.py": "y"})
    code_only = events.SessionCodeUpdated(
        session_id=SESSION, source_code="pass", updated_at=T0, expected_revision=3
    )
    row = fold_session(row, code_only)
    assert row is not None and (row.source_code, row.files) == ("pass", {"lib/b.py": "y"})
    restored = msgspec.structs.replace(code_only, expected_revision=4, files={"c.py": "z"})
    row = fold_session(row, restored)
    assert row is not None and (row.revision, row.files) == (5, {"c.py": "z"})


def test_an_old_session_event_decodes_with_no_files() -> None:
    raw = b'{"session_id":"s","language_id":"l","source_code":"x","created_at":"2026-01-01T00:00:00Z"}'
    assert msgspec.json.decode(raw, type=events.SessionCreated).files == {}


def test_the_run_snapshot_keeps_the_files() -> None:
    request = run_requested(files={"lib/a.py": "x = 1"})
    assert fold_execution(None, request).files == {"lib/a.py": "x = 1"}
    assert fold_execution(None, run_requested()).files == {}


NOW = T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"../x.py": ""}, "'..'"),
        ({"main.py": "print(2)"}, "entry point"),
        ({"main.py/x.py": ""}, "both a file and a directory"),
        ({f"m{i}.py": "" for i in range(33)}, "the limit is 32"),
    ],
)
def test_the_safety_agent_refuses_what_the_api_would(files: dict[str, str], reason: str) -> None:
    decision = check(run_requested(files=files), {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected), decision
    assert (decision.rule, decision.error_code) == ("limits", "E006")
    assert reason in decision.reason


def test_an_endless_loop_in_another_file_of_the_language_is_refused() -> None:
    files = {"data.txt": "while True:\n    pass\n", "lib/spin.py": "x = 1\nwhile True:\n    pass\n"}
    decision = check(run_requested(files=files), {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected) and decision.rule == "infinite_loop"
    assert "line 2" in decision.reason and "(in lib/spin.py)" in decision.reason
    data_only = check(
        run_requested(files={"data.txt": "while True: pass"}), {"python"}, POLICY, NOW
    )
    assert isinstance(data_only, events.RunAccepted)  # not Python: not the rule's to judge


def test_sources_name_the_entry_point_then_the_other_sources() -> None:
    c = registry().get("c")
    assert c is not None and c.compile is not None
    command = c.command(c.compile, 64, files=["lib/b.c", "a.h", "a.c", "main.c"])
    assert command[command.index("main") + 1 :] == ["main.c", "a.c", "lib/b.c", "-lm"]
    python = registry().get("python")
    assert python is not None and python.check is not None
    assert python.command(python.check, 64, files=["x.txt", "lib/m.py"])[-2:] == [
        "main.py",
        "lib/m.py",
    ]


def test_go_gets_a_module_unless_it_has_one() -> None:
    go = registry().get("go")
    assert go is not None
    assert program_files(go, b"package main", {})["go.mod"].startswith(b"module prog\n")
    own = program_files(go, b"package main", {"go.mod": "module x\n"})
    assert own["go.mod"] == b"module x\n"


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a//b", "-o", "main.py"])
def test_the_sandbox_refuses_names_it_cannot_place(name: str) -> None:
    python = registry().get("python")
    assert python is not None
    with pytest.raises(InvalidFiles):
        program_files(python, b"", {name: ""})


def test_the_audit_prints_every_file_of_the_snapshot_verbatim() -> None:
    request = run_requested(files={"lib/calc.py": "def add(a, b):\n    return a + b\n"})
    logged = Logged("executions.requested", 0, 7, 0, new_event(request))
    lines = list(render(request.execution_id, [logged]))
    start = lines.index("    file lib/calc.py (32 bytes):")
    assert lines[start + 1 : start + 3] == ["      | def add(a, b):", "      |     return a + b"]
