"""Programs of several files over HTTP: per-file autosave with its revisions and conflicts, the
run's snapshot (history, re-run) carrying every file, and a clear 422 for each name, count or
size the policy refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.fixtures_runs import open_session, submit, wait_result

MAIN = "from lib.calc import add\nfrom greet import hello\n\nprint(hello(), add(2, 3))\n"
FILES = {
    "greet.py": 'def hello():\n    return "hello"\n',
    "lib/calc.py": "def add(a, b):\n    return a + b\n",
}


def refused(response: httpx.Response, *words: str) -> dict[str, Any]:
    """A 422 in our error shape whose message says what is wrong."""
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "invalid_input", body
    assert all(word in body["error"] for word in words), body["error"]
    return body


async def save(
    client: httpx.AsyncClient, session_id: str, path: str, content: str | None, revision: int
) -> httpx.Response:
    return await client.patch(
        f"/code-sessions/{session_id}/files",
        json={"path": path, "content": content},
        headers={"If-Match": f'"{revision}"'},
    )


async def test_files_are_saved_one_at_a_time_and_run_together(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", MAIN, {"greet.py": FILES["greet.py"]})
    session = (await client.get(f"/code-sessions/{session_id}/files")).json()
    assert (session["entry_point"], session["files"]) == (
        "main.py",
        {"greet.py": FILES["greet.py"]},
    )

    first = await wait_result(client, await submit(client, session_id))
    assert "No module named 'lib'" in first["stderr"], first  # lib/calc.py is not there yet

    saved = await save(client, session_id, "lib/calc.py", FILES["lib/calc.py"], 1)
    assert (saved.status_code, saved.headers["ETag"]) == (200, '"2"'), saved.text
    stale = await save(client, session_id, "lib/calc.py", "def add(a, b):\n    return 0\n", 1)
    assert stale.status_code == 409, stale.text  # another write came first: nothing saved
    session = (await client.get(f"/code-sessions/{session_id}/files")).json()
    assert (session["revision"], session["files"]) == (2, FILES)
    ran = await wait_result(client, await submit(client, session_id))
    assert (ran["status"], ran["stdout"]) == ("COMPLETED", "hello 5\n"), ran

    # The entry point's name saves the source; it cannot be deleted; a missing file is a 404.
    entry = await save(client, session_id, "main.py", MAIN.replace("add(2, 3)", "add(4, 4)"), 2)
    assert entry.status_code == 200, entry.text
    refused(await save(client, session_id, "main.py", None, 3), "entry point", "cannot be deleted")
    missing = await save(client, session_id, "nothing.py", None, 3)
    assert missing.status_code == 404, missing.text
    deleted = await save(client, session_id, "greet.py", None, 3)
    assert deleted.status_code == 200, deleted.text
    session = (await client.get(f"/code-sessions/{session_id}/files")).json()
    assert (session["revision"], sorted(session["files"])) == (4, ["lib/calc.py"])
    assert "add(4, 4)" in session["source_code"]

    kinds = [
        r["kind"]
        for r in (await client.get(f"/code-sessions/{session_id}/revisions")).json()["revisions"]
    ]
    assert kinds == [
        "SessionCreated",
        "SessionFileSaved",
        "SessionCodeUpdated",
        "SessionFileDeleted",
    ]
    second = (await client.get(f"/code-sessions/{session_id}/revisions/2")).json()
    assert second["files"] == FILES
    restored = await client.post(f"/code-sessions/{session_id}/revisions/2/restore")
    assert restored.status_code == 200, restored.text
    session = (await client.get(f"/code-sessions/{session_id}/files")).json()
    assert (session["source_code"], session["files"]) == (MAIN, FILES)

    closed = await client.patch(f"/code-sessions/{session_id}/close")
    assert closed.status_code == 200, closed.text
    late = await save(client, session_id, "greet.py", "x = 1\n", closed.json()["revision"])
    assert late.status_code == 409, late.text


async def test_an_autosave_may_replace_every_file_or_leave_them(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", MAIN, FILES)
    code_only = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "print(1)"})
    assert code_only.status_code == 200, code_only.text
    assert (await client.get(f"/code-sessions/{session_id}/files")).json()["files"] == FILES
    whole = await client.patch(
        f"/code-sessions/{session_id}", json={"source_code": MAIN, "files": {"x.txt": "x"}}
    )
    assert whole.status_code == 200, whole.text
    assert (await client.get(f"/code-sessions/{session_id}/files")).json()["files"] == {
        "x.txt": "x"
    }


async def test_the_snapshot_keeps_the_files_for_history_and_rerun(
    client: httpx.AsyncClient,
) -> None:
    session_id = await open_session(client, "python", MAIN, FILES)
    original = await wait_result(client, await submit(client, session_id, {"args": ["z"]}))
    assert original["stdout"] == "hello 5\n", original
    # The session moves on; the snapshot does not.
    changed = await save(client, session_id, "lib/calc.py", "def add(a, b):\n    return 0\n", 1)
    assert changed.status_code == 200, changed.text

    history = (await client.get(f"/executions/{original['execution_id']}/history")).json()
    requested = [e for e in history["events"] if e["type"] == "RunRequested"]
    assert [e["payload"]["files"] for e in requested] == [FILES]

    again = await client.post(f"/executions/{original['execution_id']}/rerun")
    assert again.status_code == 202, again.text
    rerun = await wait_result(client, again.json()["execution_id"])
    assert (rerun["stdout"], rerun["args"]) == ("hello 5\n", ["z"]), rerun
    assert rerun["rerun"]["stdout_matches"] is True


BIG = 256 * 1024  # MAX_SOURCE_BYTES by default
VIOLATIONS: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("dot-dot", {"../x.py": ""}, ("'../x.py'", "cannot leave the program's directory")),
    ("absolute", {"/etc/passwd": ""}, ("'/etc/passwd'", "absolute")),
    ("empty part", {"a//b": ""}, ("'a//b'", "empty part")),
    ("symlink-like", {"x -> /etc/passwd": ""}, ("'x -> /etc/passwd'", "no spaces, links")),
    ("hidden", {".bashrc": ""}, ("'.bashrc'", "hidden")),
    ("option-like", {"-rf": ""}, ("'-rf'",)),
    ("backslash", {"a\\b.py": ""}, ("backslashes",)),
    ("entry point", {"main.py": "print(2)"}, ("'main.py'", "entry point")),
    ("file and directory", {"lib": "", "lib/x.py": ""}, ("'lib' is both a file and a directory",)),
    ("too many", {f"m{i}.py": "" for i in range(33)}, ("33 files", "the limit is 32")),
    ("too big", {"big.py": "#" * (BIG + 1)}, ("'big.py' is 262145 bytes", "the limit is 262144")),
    (
        "too big in all",
        {f"f{i}.py": "#" * BIG for i in range(4)},
        ("with the entry point", "the limit is 1048576"),
    ),
]


@pytest.mark.parametrize(
    ("files", "words"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
async def test_each_violation_is_a_clear_422(
    client: httpx.AsyncClient, files: dict[str, str], words: tuple[str, ...]
) -> None:
    body = {"language_id": "python", "source_code": "print(1)", "files": files}
    refused(await client.post("/code-sessions", json=body), *words)
    session_id = await open_session(client, "python", "print(1)")
    refused(
        await client.patch(
            f"/code-sessions/{session_id}", json={"source_code": "print(1)", "files": files}
        ),
        *words,
    )
    if len(files) == 1:  # the same name or content through the one-file autosave
        [(path, content)] = files.items()
        if path != "main.py":
            refused(await save(client, session_id, path, content, 1), *words)
    session = (await client.get(f"/code-sessions/{session_id}/files")).json()
    assert (session["revision"], session["files"]) == (1, {})  # nothing was saved
