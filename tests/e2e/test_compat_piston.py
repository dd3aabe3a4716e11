"""Piston's v2 API at /api/v2, written from Piston's documentation (docs/api-v2.md): runtimes,
execute's request and answer shapes, semver selectors, and its `{"message"}` errors. A client
written for Piston only changes its base URL."""

from __future__ import annotations

from typing import Any

import httpx


async def execute(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v2/execute", json=body, timeout=200)


async def test_runtimes(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/runtimes")
    assert response.status_code == 200
    runtimes = {r["language"]: r for r in response.json()}
    assert set(runtimes) >= {"python", "c", "c++", "javascript", "bash", "typescript", "rust"}
    for runtime in runtimes.values():
        assert set(runtime) <= {"language", "version", "aliases", "runtime"}
        assert isinstance(runtime["aliases"], list)
        assert len(runtime["version"].split(".")) == 3
    assert "py" in runtimes["python"]["aliases"]
    assert runtimes["javascript"]["runtime"] == "node"


async def test_execute_as_documented(client: httpx.AsyncClient) -> None:
    python = next(
        r for r in (await client.get("/api/v2/runtimes")).json() if r["language"] == "python"
    )
    response = await execute(
        client,
        {
            "language": "py",
            "version": python["version"],
            "files": [{"name": "main.py", "content": "import sys\nprint(input(), sys.argv[1:])"}],
            "stdin": "hi",
            "args": ["1", "2"],
            "compile_timeout": 10000,
            "run_timeout": 3000,
            "compile_memory_limit": -1,
            "run_memory_limit": -1,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "python" and body["version"] == python["version"]
    assert "compile" not in body
    assert body["run"] == {
        "stdout": "hi ['1', '2']\n", "stderr": "", "output": "hi ['1', '2']\n",
        "code": 0, "signal": None,
    }  # fmt: skip
    major = python["version"].split(".")[0]
    for selector in ("*", f"{major}.x", f">={major}.0.0 <99", f"^{major}"):
        again = await execute(
            client, {"language": "python", "version": selector, "files": [{"content": "print(2)"}]}
        )
        assert again.status_code == 200 and again.json()["run"]["stdout"] == "2\n", selector


async def test_compiled_language_has_a_compile_stage(client: httpx.AsyncClient) -> None:
    ok = await execute(
        client,
        {"language": "c", "version": "*",
         "files": [{"content": '#include <stdio.h>\nint main(void){puts("c");return 3;}'}]},
    )  # fmt: skip
    body = ok.json()
    assert body["compile"]["code"] == 0
    assert body["run"]["stdout"] == "c\n" and body["run"]["code"] == 3
    broken = await execute(
        client, {"language": "c", "version": "*", "files": [{"content": "int main( {"}]}
    )
    failed = broken.json()
    assert failed["compile"]["code"] != 0 and failed["compile"]["stderr"]
    assert failed["run"] == failed["compile"]  # Piston answers the compile stage as run


async def test_a_killed_run_has_a_signal_and_no_code(client: httpx.AsyncClient) -> None:
    response = await execute(
        client,
        {"language": "python", "version": "*", "files": [{"content": "import itertools\nfor _ in itertools.count(): pass"}],
         "run_timeout": 1000},
    )  # fmt: skip
    run = response.json()["run"]
    assert (run["signal"], run["code"]) == ("SIGKILL", None)
    crashed = await execute(
        client,
        {"language": "python", "version": "*",
         "files": [{"content": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"}]},
    )  # fmt: skip
    assert crashed.json()["run"]["signal"] == "SIGSEGV"


async def test_pistons_errors(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"version": "*", "files": []}, "language is required as a string"),
        ({"language": "python", "files": []}, "version is required as a string"),
        ({"language": "python", "version": "*"}, "files is required as an array"),
        ({"language": "python", "version": "*", "files": [{}]},
         "files[0].content is required as a string"),
        ({"language": "cobol", "version": "*", "files": [{"content": "x"}]},
         "cobol-* runtime is unknown"),
        ({"language": "python", "version": "1.0.0", "files": [{"content": "x"}]},
         "python-1.0.0 runtime is unknown"),
        ({"language": "python", "version": "*",
          "files": [{"content": "eA==", "encoding": "base64"}]},
         "files must include at least one utf8 encoded file"),
        ({"language": "python", "version": "*", "files": [{"content": "x"}],
          "run_timeout": "3"}, "If specified, run_timeout must be a number"),
    ]  # fmt: skip
    for body, message in cases:
        response = await execute(client, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json() == {"message": message}
    too_long = await execute(
        client,
        {"language": "python", "version": "*", "files": [{"content": "x"}],
         "run_timeout": 10**9},
    )  # fmt: skip
    assert too_long.status_code == 400
    assert too_long.json()["message"].startswith("run_timeout cannot exceed the configured limit")
    plain = await client.post("/api/v2/execute", content=b"{}")
    assert plain.status_code == 415
    assert plain.json() == {"message": "requests must be of type application/json"}


async def test_the_other_files_sit_beside_the_first(client: httpx.AsyncClient) -> None:
    files = [
        {"name": "app.py", "content": "from helpers.greet import hi\nprint(hi('piston'))"},
        {"name": "helpers/greet.py", "content": "def hi(who):\n    return f'hi {who}'\n"},
        {"name": "helpers/__init__.py", "content": ""},
    ]
    response = await execute(client, {"language": "python", "version": "*", "files": files})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "hi piston\n"

    escaping = [files[0], {"name": "../outside.py", "content": "x = 1"}]
    refused = await execute(client, {"language": "python", "version": "*", "files": escaping})
    assert refused.status_code == 400, refused.text
    assert "../outside.py" in refused.json()["message"]
