"""The Judge0 CE 1.13.1 contract under /judge0, written from Judge0's API documentation
(docs/api in its repository): request and answer shapes, status ids, Base64, fields=, errors.
A client written for Judge0 only changes its base URL."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import pytest

J = "/judge0"
DEFAULT_FIELDS = {
    "token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status",
}  # fmt: skip
ALL_FIELDS = {
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id",
    "created_at", "finished_at", "time", "memory", "stderr", "token", "number_of_runs",
    "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
    "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output",
    "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
    "command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files",
    "enable_network", "status", "language",
}  # fmt: skip
HELLO_C = (
    '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n'
    '  printf("hello, %s\\n", name);\n  return 0;\n}'
)


async def finished(client: httpx.AsyncClient, token: str, query: str = "") -> dict[str, Any]:
    """Poll GET /submissions/{token} (as Judge0 clients do) until its status is past 2."""
    deadline = time.monotonic() + 180
    while True:
        response = await client.get(f"{J}/submissions/{token}{query}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body.get("status", {"id": 3})["id"] > 2:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def waited(client: httpx.AsyncClient, body: dict[str, Any], query: str = "") -> Any:
    response = await client.post(f"{J}/submissions?wait=true{query}", json=body, timeout=200)
    assert response.status_code == 201, response.text
    return response.json()


async def test_about_config_statuses_and_languages(client: httpx.AsyncClient) -> None:
    about = (await client.get(f"{J}/about")).json()
    assert about["version"] == "1.13.1"
    assert set(about) == {"version", "homepage", "source_code", "maintainer"}
    config = (await client.get(f"{J}/config_info")).json()
    assert config["enable_wait_result"] is True
    assert config["enable_submission_delete"] is False
    assert config["max_submission_batch_size"] == 20
    assert config["memory_limit"] <= config["max_memory_limit"]  # KB
    statuses = (await client.get(f"{J}/statuses")).json()
    assert [s["id"] for s in statuses] == list(range(1, 15))
    assert statuses[2] == {"id": 3, "description": "Accepted"}
    assert statuses[6] == {"id": 7, "description": "Runtime Error (SIGSEGV)"}
    assert statuses[10] == {"id": 11, "description": "Runtime Error (NZEC)"}
    assert statuses[13] == {"id": 14, "description": "Exec Format Error"}
    languages = (await client.get(f"{J}/languages")).json()
    ids = {entry["id"]: entry["name"] for entry in languages}
    assert set(ids) == {46, 48, 49, 50, 52, 53, 54, 60, 62, 63, 68, 71, 72, 73, 74}
    assert (
        ids[71] == "Python (3.8.1)" and ids[52] == "C++ (GCC 7.4.0)" and ids[46] == "Bash (5.0.0)"
    )
    assert [e["name"] for e in languages] == sorted(e["name"] for e in languages)
    python = (await client.get(f"{J}/languages/71")).json()
    assert python["id"] == 71 and python["name"] == "Python (3.8.1)"
    assert set(python) == {"id", "name", "is_archived", "source_file", "compile_cmd", "run_cmd"}
    for unknown in ("70", "150000", "abc"):
        response = await client.get(f"{J}/languages/{unknown}")
        assert response.status_code == 404, unknown
        assert response.json() == {"status": 404, "error": "Not Found"}


async def test_create_then_poll_a_token_also_an_execution_of_ours(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        f"{J}/submissions",
        json={"source_code": HELLO_C, "language_id": 50, "stdin": "world"},
    )
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"token"}
    token = created.json()["token"]
    body = await finished(client, token)
    assert set(body) == DEFAULT_FIELDS
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert body["stdout"] == "hello, world\n"
    assert body["stderr"] is None and body["compile_output"] is None and body["message"] is None
    assert isinstance(body["time"], str) and float(body["time"]) >= 0
    assert isinstance(body["memory"], int) and body["memory"] > 0
    # The same run in our own API: one event log, one projection.
    ours = (await client.get(f"/executions/{token}")).json()
    assert ours["status"] == "COMPLETED" and ours["stdout"] == "hello, world\n"
    assert ours["language"]["name"].startswith("C")
    session = (await client.get(f"/code-sessions/{ours['session_id']}")).json()
    assert session["source_code"] == HELLO_C


async def test_wait_expected_output_and_judge0s_comparison(client: httpx.AsyncClient) -> None:
    program = {"source_code": HELLO_C, "language_id": "50", "stdin": "Judge0"}  # "50": as docs
    accepted = await waited(client, {**program, "expected_output": "hello, Judge0"})
    assert accepted["status"]["id"] == 3, accepted
    # Judge0 ignores trailing whitespace of each line and trailing lines, nothing else.
    spaced = await waited(client, {**program, "expected_output": "hello, Judge0   \n\n\n"})
    assert spaced["status"]["id"] == 3, spaced
    wrong = await waited(client, {**program, "expected_output": "hello,  Judge0"})
    assert wrong["status"] == {"id": 4, "description": "Wrong Answer"}
    assert wrong["stdout"] == "hello, Judge0\n"


@pytest.mark.parametrize(
    ("language_id", "source", "status_id", "message"),
    [
        (71, "raise SystemExit(3)", 11, "Exited with error status 3"),
        (
            71,
            "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
            7,
            "Caught fatal signal 11",
        ),
        (71, "import os\nos.abort()", 10, "Caught fatal signal 6"),
        (
            50,
            "#include <signal.h>\nint main(void) { raise(SIGFPE); return 0; }",
            9,
            "Caught fatal signal 8",
        ),
        (71, "import itertools\nfor _ in itertools.count(): pass", 5, "Time limit exceeded"),
    ],
    ids=["nzec", "sigsegv", "sigabrt", "sigfpe", "tle"],
)
async def test_runtime_error_kinds_and_timeouts(
    client: httpx.AsyncClient, language_id: int, source: str, status_id: int, message: str
) -> None:
    body = await waited(
        client,
        {"source_code": source, "language_id": language_id, "cpu_time_limit": 1},
        "&fields=status,message,exit_code,exit_signal",
    )
    assert body["status"]["id"] == status_id, body
    assert body["message"] == message


async def test_compilation_error(client: httpx.AsyncClient) -> None:
    body = await waited(client, {"source_code": "int main( {", "language_id": 54})
    assert body["status"] == {"id": 6, "description": "Compilation Error"}
    assert body["compile_output"] and body["stdout"] is None and body["time"] is None


async def test_base64_in_and_out_as_judge0_writes_it(client: httpx.AsyncClient) -> None:
    line = "x" * 100
    source = f"print(input())\nprint({line!r})"
    encoded = {
        "source_code": base64.b64encode(source.encode()).decode(),
        "language_id": 71,
        "stdin": base64.b64encode(b"Judge0").decode(),
    }
    body = await waited(client, encoded, "&base64_encoded=true&fields=stdout,stdin,source_code")
    stdout = f"Judge0\n{line}\n".encode()
    # Ruby's Base64.encode64: a line break after every 60 characters, and at the end.
    expected = base64.b64encode(stdout).decode()
    assert body["stdout"] == "".join(
        expected[i : i + 60] + "\n" for i in range(0, len(expected), 60)
    )
    assert base64.b64decode(body["stdout"]) == stdout
    assert body["stdin"] == "SnVkZ2Uw\n"
    assert set(body) == {"stdout", "stdin", "source_code"}  # exactly the fields named


async def test_output_that_is_not_utf8_needs_base64(client: httpx.AsyncClient) -> None:
    source = "import sys\nsys.stdout.buffer.write(b'\\xfe')"
    response = await client.post(
        f"{J}/submissions?wait=true", json={"source_code": source, "language_id": 71}, timeout=200
    )
    assert response.status_code == 201
    body = response.json()
    assert body["error"] == (
        "some attributes for this submission cannot be converted to UTF-8, use "
        "base64_encoded=true query parameter"
    )
    plain = await client.get(f"{J}/submissions/{body['token']}")
    assert plain.status_code == 400 and plain.json()["error"] == body["error"]
    encoded = await client.get(f"{J}/submissions/{body['token']}?base64_encoded=true")
    assert encoded.status_code == 200 and encoded.json()["stdout"].endswith("\n")
    ours = (await client.get(f"/executions/{body['token']}")).json()
    assert ours["invalid_utf8"] == ["stdout"]
    # A replacement character the program printed is UTF-8 text like any other.
    printed = await waited(client, {"source_code": "print('\ufffd')", "language_id": 71})
    assert printed["stdout"] == "\ufffd\n"


async def test_fields_selection(client: httpx.AsyncClient) -> None:
    token = (
        await client.post(f"{J}/submissions", json={"source_code": "print(1)", "language_id": 71})
    ).json()["token"]
    await finished(client, token)
    some = (await client.get(f"{J}/submissions/{token}?fields=stdout,status_id,language_id")).json()
    assert some == {"stdout": "1\n", "status_id": 3, "language_id": 71}
    everything = (await client.get(f"{J}/submissions/{token}?fields=*")).json()
    assert set(everything) == ALL_FIELDS
    assert everything["language"] == {"id": 71, "name": "Python (3.8.1)"}
    assert everything["token"] == token and everything["source_code"] == "print(1)"
    assert isinstance(everything["wall_time"], str) and isinstance(
        everything["cpu_time_limit"], str
    )
    assert everything["created_at"].endswith("Z") and everything["finished_at"].endswith("Z")
    bad = await client.get(f"{J}/submissions/{token}?fields=stdout,foo,bar")
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid fields: [foo, bar]"}


async def test_field_errors_and_other_errors(client: httpx.AsyncClient) -> None:
    missing = await client.post(f"{J}/submissions", json={"source_code": HELLO_C})
    assert missing.status_code == 422
    assert missing.json() == {"language_id": ["can't be blank"]}
    unknown = await client.post(
        f"{J}/submissions", json={"source_code": HELLO_C, "language_id": 150000}
    )
    assert unknown.json() == {"language_id": ["language with id 150000 doesn't exist"]}
    limits = await client.post(
        f"{J}/submissions",
        json={"source_code": "print(1)", "language_id": 71, "memory_limit": 100,
              "cpu_time_limit": "abc", "enable_network": True},
    )  # fmt: skip
    assert limits.status_code == 422
    assert limits.json() == {
        "memory_limit": ["must be greater than or equal to 2048"],
        "cpu_time_limit": ["is not a number"],
        "enable_network": ["enabling network is not allowed"],
    }
    callback = await client.post(
        f"{J}/submissions",
        json={"source_code": "print(1)", "language_id": 71, "callback_url": "file:///etc"},
    )
    assert callback.status_code == 422 and "callback_url" in callback.json()
    unknown_token = await client.get(f"{J}/submissions/00000000-0000-4000-8000-000000000000")
    assert unknown_token.status_code == 404
    deleted = await client.delete(f"{J}/submissions/00000000-0000-4000-8000-000000000000")
    assert (deleted.status_code, deleted.json()) == (400, {"error": "delete not allowed"})


async def test_batches(client: httpx.AsyncClient) -> None:
    created = await client.post(
        f"{J}/submissions/batch",
        json={
            "submissions": [
                {"language_id": 46, "source_code": "echo hello from Bash"},
                {"language_id": 123456789, "source_code": 'print("hello from Python")'},
                {"language_id": 72, "source_code": ""},
                {"language_id": 71, "source_code": 'print("hello from Python")'},
            ]
        },
    )
    assert created.status_code == 201, created.text
    answers = created.json()
    assert answers[1] == {"language_id": ["language with id 123456789 doesn't exist"]}
    assert answers[2] == {"source_code": ["can't be blank"]}
    tokens = [answers[0]["token"], answers[3]["token"]]
    for token in tokens:
        await finished(client, token)
    unknown = "00000000-0000-4000-8000-000000000000"
    got = await client.get(
        f"{J}/submissions/batch?tokens={tokens[0]},{unknown},{tokens[1]}"
        "&fields=token,stdout,status_id,language_id"
    )
    assert got.status_code == 200, got.text
    submissions = got.json()["submissions"]
    assert submissions[0] == {
        "token": tokens[0], "stdout": "hello from Bash\n", "status_id": 3, "language_id": 46,
    }  # fmt: skip
    assert submissions[1] is None
    assert submissions[2]["stdout"] == "hello from Python\n"
    empty = await client.get(f"{J}/submissions/batch?tokens=")
    assert empty.status_code == 400
    too_many = await client.post(
        f"{J}/submissions/batch",
        json={"submissions": [{"language_id": 71, "source_code": "1"}] * 21},
    )
    assert too_many.json() == {
        "error": "number of submissions in a batch should be less than or equal to 20"
    }
