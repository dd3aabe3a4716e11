"""Test cases with verdicts, and batches, over HTTP against the real engine and sandbox.

Every language's table runs at once (one fixture submits them all; compiling is slow here), each
test waits for its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import open_session, run_to_end, submit, wait_result

# Each program reads n: below 0 it crashes, at 0 it loops in a way no safety rule can prove
# endless (so it runs into its time limit), else it prints 2n.
DOUBLERS: dict[str, str] = {
    "python": "n = int(input())\nif n < 0:\n    raise ValueError('negative')\nif n == 0:\n"
    "    k = 1\n    while k != 0:\n        k |= 1\nprint(2 * n)",
    "javascript": "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
    "if (n < 0) throw new Error('negative');\n"
    "if (n === 0) { let k = 1; while (k !== 0) { k |= 1; } }\nconsole.log(2 * n);",
    "typescript": "import * as fs from 'fs';\nconst n: number = parseInt(fs.readFileSync(0, 'utf8'));\n"
    "if (n < 0) throw new Error('negative');\n"
    "if (n === 0) { let k: number = 1; while (k !== 0) { k |= 1; } }\nconsole.log(2 * n);",
    "c": "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { long n = 0;\n"
    '  if (scanf("%ld", &n) != 1) return 9;\n  if (n < 0) abort();\n'
    "  if (n == 0) { volatile unsigned long k = 1; while (k != 0) k |= 1; }\n"
    '  printf("%ld\\n", 2 * n); return 0; }',
    "cpp": "#include <iostream>\n#include <stdexcept>\nint main() { long n = 0; std::cin >> n;\n"
    '  if (n < 0) throw std::runtime_error("negative");\n'
    "  if (n == 0) { volatile unsigned long k = 1; while (k != 0) k |= 1; }\n"
    "  std::cout << 2 * n << std::endl; }",
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar n int\n\tfmt.Scan(&n)\n'
    '\tif n < 0 {\n\t\tpanic("negative")\n\t}\n'
    "\tif n == 0 {\n\t\tk := 1\n\t\tfor k != 0 {\n\t\t\tk |= 1\n\t\t}\n\t}\n"
    "\tfmt.Println(2 * n)\n}",
    "java": "import java.util.Scanner;\npublic class Main { public static void main(String[] a) {\n"
    "  long n = new Scanner(System.in).nextLong();\n"
    '  if (n < 0) throw new IllegalArgumentException("negative");\n'
    "  if (n == 0) { long k = 1; while (k != 0) { k |= 1; } }\n"
    "  System.out.println(2 * n); } }",
    "php": "<?php\n$n = (int) trim(fgets(STDIN));\nif ($n < 0) { throw new Exception('negative'); }\n"
    'if ($n == 0) { $k = 1; while ($k != 0) { $k |= 1; } }\necho 2 * $n, "\\n";',
    "ruby": "n = gets.to_i\nraise 'negative' if n < 0\nif n == 0\n  k = 1\n  while k != 0\n"
    "    k |= 1\n  end\nend\nputs 2 * n",
    "rust": "use std::io::Read;\nfn main() {\n    let mut s = String::new();\n"
    "    std::io::stdin().read_to_string(&mut s).unwrap();\n"
    '    let n: i64 = s.trim().parse().unwrap();\n    if n < 0 { panic!("negative"); }\n'
    "    if n == 0 { let mut k: u64 = 1; while k != 0 { k = std::hint::black_box(k | 1); } }\n"
    '    println!("{}", 2 * n);\n}',
    "bash": 'read -r n\nif [ "$n" -lt 0 ]; then exit 3; fi\n'
    'if [ "$n" -eq 0 ]; then k=1; while [ $k -ne 0 ]; do k=$((k | 1)); done; fi\n'
    "echo $((2 * n))",
}
# Right, wrong (the program prints 10), endless, crash: the first case that is not accepted is
# the wrong answer, so that is the run's verdict.
CASES = [
    {"stdin": "21\n", "expected_output": "42\n"},
    {"stdin": "5\n", "expected_output": "11\n"},
    {"stdin": "0\n", "expected_output": "0\n"},
    {"stdin": "-1\n", "expected_output": "-2\n"},
]
VERDICTS = ["ACCEPTED", "WRONG_ANSWER", "TIME_LIMIT_EXCEEDED", "RUNTIME_ERROR"]
TIME_LIMIT_MS = {"java": 3000}  # the JVM starts in about 0.6 s of CPU here
COMPILED = {"c", "cpp", "go", "java", "rust", "typescript"}


@pytest.fixture(scope="module")
async def judged(engine: Engine) -> AsyncIterator[dict[str, str]]:
    """Every language's table submitted at once, each from its own session: execution ids."""
    async with httpx.AsyncClient(base_url=engine.url, timeout=30) as http:

        async def one(language: str) -> tuple[str, str]:
            session_id = await open_session(http, language, DOUBLERS[language])
            options = {"test_cases": CASES, "time_limit_ms": TIME_LIMIT_MS.get(language, 1000)}
            return language, await submit(http, session_id, options)

        yield dict(await asyncio.gather(*(one(language) for language in DOUBLERS)))


async def test_every_language_has_a_table(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/languages")).json()["languages"]
    keys = {(await client.get(f"/languages/{lang['id']}")).json()["key"] for lang in listed}
    assert keys == set(DOUBLERS)


@pytest.mark.parametrize("language", sorted(DOUBLERS))
async def test_each_case_gets_its_verdict(
    client: httpx.AsyncClient, judged: dict[str, str], language: str
) -> None:
    result = await wait_result(client, judged[language])
    report = result["test_results"]
    assert report is not None, result
    cases = report["cases"]
    assert [c["verdict"] for c in cases] == VERDICTS, cases
    assert (report["verdict"], report["passed"], report["total"]) == ("WRONG_ANSWER", 1, 4)
    right, wrong, endless, crash = cases
    assert (right["stdout"], right["exit_code"], right["status"]) == ("42\n", 0, "COMPLETED")
    assert (wrong["stdout"], wrong["error_code"]) == ("10\n", None)
    assert (endless["status"], endless["error_code"]) == ("TIMEOUT", "E004")
    # Stopped at the run's limit, which each case has (wall time: CPU or wall-clock limit).
    assert result["time_limit_ms"] <= endless["execution_time_ms"] < result["time_limit_ms"] + 5000
    assert (crash["status"], crash["error_code"]) == ("FAILED", "E002")
    assert crash["exit_code"] != 0 or crash["signal"] is not None
    for case in cases:
        assert case["execution_time_ms"] >= 0 and case["memory_peak_kb"] > 0, case
    # The run as a whole: the deciding case's status (the wrong answer ran to its end), the
    # cases' times summed, no output of its own.
    assert (result["status"], result["error_code"]) == ("COMPLETED", None)
    assert result["execution_time_ms"] == sum(c["execution_time_ms"] for c in cases)
    assert (result["stdout"], result["stderr"]) == ("", "")
    if language in COMPILED:
        assert result["compile_time_ms"] > 0


@pytest.mark.parametrize(
    ("language", "source", "note"),
    [
        ("c", "int main(void) { return undeclared; }", "undeclared"),
        ("python", "def broken(:\n    pass", "SyntaxError"),
    ],
)
async def test_a_compile_error_is_every_cases_verdict(
    client: httpx.AsyncClient, language: str, source: str, note: str
) -> None:
    result = await run_to_end(client, language, source, {"test_cases": CASES[:3]})
    assert (result["status"], result["error_code"]) == ("FAILED", "E001"), result
    assert note in result["compile_output"]
    report = result["test_results"]
    assert (report["verdict"], report["passed"], report["total"]) == ("COMPILATION_ERROR", 0, 3)
    assert [c["verdict"] for c in report["cases"]] == ["COMPILATION_ERROR"] * 3


async def test_the_runs_comparison_mode_is_used_and_kept_for_history_and_reruns(
    client: httpx.AsyncClient,
) -> None:
    source = "import math\nprint(math.pi)\nprint('done')"
    cases = [{"expected_output": "3.1416\ndone"}]
    floats = {"mode": "float", "absolute_tolerance": 1e-3}
    result = await run_to_end(client, "python", source, {"test_cases": cases, "comparison": floats})
    assert result["test_results"]["verdict"] == "ACCEPTED", result
    exact = await run_to_end(
        client, "python", source, {"test_cases": cases, "comparison": {"mode": "exact"}}
    )
    assert exact["test_results"]["verdict"] == "WRONG_ANSWER", exact
    # The log keeps the cases and every verdict; a re-run runs the same cases the same way.
    history = (await client.get(f"/executions/{result['execution_id']}/history")).json()
    payloads = {e["type"]: e["payload"] for e in history["events"]}
    assert payloads["RunRequested"]["test_cases"] == [{"stdin": "", **cases[0]}]
    assert payloads["RunRequested"]["comparison"]["mode"] == "float"
    finished = payloads["RunFinished"]["outcome"]["test_results"]
    assert finished == result["test_results"]
    rerun = await client.post(f"/executions/{result['execution_id']}/rerun")
    assert rerun.status_code == 202, rerun.text
    again = await wait_result(client, rerun.json()["execution_id"])
    assert again["test_results"]["verdict"] == "ACCEPTED", again


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"test_cases": [{"expected_output": "1"}] * 33}, "at most 32 test cases"),
        ({"test_cases": [{"stdin": "x" * 600_000, "expected_output": "y" * 500_000}]}, "limit"),
        ({"test_cases": [{"expected_output": "1"}], "stdin": "2"}, "stdin"),
        ({"comparison": {"mode": "tokens"}}, "test_cases"),
        ({"test_cases": [{"expected_output": "1"}], "comparison": {"mode": "close"}}, "mode"),
        (
            {"test_cases": [{"expected_output": "1"}], "comparison": {"absolute_tolerance": -1}},
            "absolute_tolerance",
        ),
        ({"test_cases": [{"expected": "1"}]}, "expected"),  # an unknown field
        ({"test_cases": [{"stdin": "1"}]}, "expected_output"),  # a missing one
    ],
)
async def test_test_cases_out_of_bounds_are_422(
    client: httpx.AsyncClient, options: dict[str, Any], says: str
) -> None:
    session_id = await open_session(client, "python", "print(1)")
    response = await client.post(f"/code-sessions/{session_id}/run", json=options)
    body = error_of(response, 422)
    assert body["code"] == "invalid_input" and says in body["error"], body


async def test_a_batch_answers_ids_in_order_and_every_run_completes(
    client: httpx.AsyncClient,
) -> None:
    echo = {
        "python": await open_session(client, "python", "print(input().upper())"),
        "bash": await open_session(client, "bash", 'read -r x; echo "${x^^}"'),
        "c": await open_session(
            client,
            "c",
            "#include <stdio.h>\n#include <ctype.h>\nint main(void) { int c;\n"
            "  while ((c = getchar()) != EOF) putchar(toupper(c)); return 0; }",
        ),
    }
    runs: list[dict[str, Any]] = [
        {"session_id": echo[language], "stdin": f"{language} {i}\n"}
        for i, language in enumerate(["python", "c", "bash", "python", "c", "bash"])
    ]
    runs.append(
        {"session_id": echo["python"], "test_cases": [{"stdin": "a", "expected_output": "A"}]}
    )
    response = await client.post("/runs/batch", json={"runs": runs})
    assert response.status_code == 200, response.text
    entries = response.json()["runs"]
    assert [e["status_code"] for e in entries] == [202] * len(runs), entries
    ids = [e["execution_id"] for e in entries]
    assert len(set(ids)) == len(ids)
    results = await asyncio.gather(*(wait_result(client, i) for i in ids))
    for run, result in zip(runs[:-1], results, strict=False):
        assert result["session_id"] == run["session_id"]
        assert (result["status"], result["stdout"]) == ("COMPLETED", run["stdin"].upper()), result
    assert results[-1]["test_results"]["verdict"] == "ACCEPTED"
    # Read back in one request, in the order asked for.
    read = await client.get("/executions", params={"ids": ",".join(reversed(ids))})
    assert read.status_code == 200, read.text
    assert [e["execution_id"] for e in read.json()["executions"]] == list(reversed(ids))
    assert read.json()["executions"][0]["test_results"]["passed"] == 1


async def test_a_refused_run_of_a_batch_says_why_in_its_position(
    client: httpx.AsyncClient,
) -> None:
    mine = await open_session(client, "bash", "echo ok")
    closed = await open_session(client, "bash", "echo ok")
    assert (await client.patch(f"/code-sessions/{closed}/close")).status_code == 200
    burst = await open_session(client, "bash", "echo ok")  # a fresh rate: a burst of 10
    runs: list[dict[str, Any]] = [
        {"session_id": mine},
        {"session_id": closed},
        {"session_id": str(uuid.uuid4())},
        {"session_id": mine, "time_limit_ms": 1},
        {"session_id": mine, "test_cases": [{"expected_output": "1"}] * 33},
        *({"session_id": burst} for _ in range(11)),
    ]
    response = await client.post("/runs/batch", json={"runs": runs})
    assert response.status_code == 200, response.text
    entries = response.json()["runs"]
    codes = [(e["status_code"], (e["error"] or {}).get("code")) for e in entries]
    assert codes == [
        (202, None),
        (409, "session_closed"),
        (404, "not_found"),
        (422, "invalid_input"),
        (422, "invalid_input"),
        *[(202, None)] * 10,
        (429, "rate_limited"),
    ], entries
    assert entries[-1]["error"]["details"]["reason"] == "session_rate"
    assert entries[-1]["error"]["retryAfter"] >= 1
    assert entries[1]["execution_id"] is None
    done = await asyncio.gather(*(wait_result(client, e["execution_id"]) for e in entries
                                  if e["status_code"] == 202))  # fmt: skip
    assert {r["stdout"] for r in done} == {"ok\n"}


async def test_an_idempotency_key_in_a_batch_names_the_same_execution(
    client: httpx.AsyncClient,
) -> None:
    session_id = await open_session(client, "bash", "echo once")
    batch = {"runs": [{"session_id": session_id, "idempotency_key": "k1"}]}
    first = (await client.post("/runs/batch", json=batch)).json()["runs"][0]
    again = (await client.post("/runs/batch", json=batch)).json()["runs"][0]
    assert first["status_code"] == again["status_code"] == 202
    assert first["execution_id"] == again["execution_id"]
    # The single route with the same key agrees.
    single = await client.post(
        f"/code-sessions/{session_id}/run", json={}, headers={"Idempotency-Key": "k1"}
    )
    assert single.json()["execution_id"] == first["execution_id"]


@pytest.mark.parametrize("count", [0, 21])
async def test_a_batch_of_no_or_too_many_runs_is_422(client: httpx.AsyncClient, count: int) -> None:
    session_id = await open_session(client, "bash", "echo ok")
    runs = [{"session_id": session_id}] * count
    body = error_of(await client.post("/runs/batch", json={"runs": runs}), 422)
    assert "1 to 20 runs" in body["error"]


async def test_reading_several_executions_reports_unknown_ids(client: httpx.AsyncClient) -> None:
    result = await run_to_end(client, "bash", "echo here")
    known = result["execution_id"]
    unknown = str(uuid.uuid4())
    response = await client.get("/executions", params={"ids": f"{unknown},{known},not-a-uuid"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown"] == [unknown, "not-a-uuid"]
    first, second, third = body["executions"]
    assert first is None and third is None
    assert second == (await client.get(f"/executions/{known}")).json()


@pytest.mark.parametrize("ids", ["", " , ", ",".join(str(uuid.uuid4()) for _ in range(21))])
async def test_reading_no_or_too_many_executions_is_422(
    client: httpx.AsyncClient, ids: str
) -> None:
    body = error_of(await client.get("/executions", params={"ids": ids}), 422)
    assert body["code"] == "invalid_input"


async def test_the_largest_run_with_cases_fits_its_events(client: httpx.AsyncClient) -> None:
    """32 cases at the size limit, and each case flooding both streams with control bytes
    (which JSON escapes six times over): the request and the result each fit one event."""
    source = (
        "import sys\nsys.stdout.write('\\x01' * (2 << 20))\nsys.stderr.write('\\x02' * (2 << 20))"
    )
    cases = [{"stdin": "", "expected_output": "\x03" * (32 * 1024)}] * 32
    session_id = await open_session(client, "python", source)
    response = await client.post(f"/code-sessions/{session_id}/run", json={"test_cases": cases})
    # Projecting 6 MiB of escaped JSON may take the projector longer than the engine's
    # READ_YOUR_WRITES_TIMEOUT_S on a busy machine: then the run is recorded all the same.
    assert response.status_code in (202, 503), response.text
    if response.status_code == 503:
        assert response.json()["code"] == "projection_behind", response.text
    execution_id = (response.json().get("details") or response.json())["execution_id"]
    deadline = time.monotonic() + 60
    while (await client.get(f"/executions/{execution_id}")).status_code == 404:
        assert time.monotonic() < deadline, "the run never became visible"
        await asyncio.sleep(0.2)
    result = await wait_result(client, execution_id)
    report = result["test_results"]
    assert (result["status"], report["verdict"], report["total"]) == (
        "COMPLETED", "WRONG_ANSWER", 32,
    ), {k: v for k, v in result.items() if k != "test_results"}  # fmt: skip
    for case in report["cases"]:
        # Each keeps its share of the run's 1 MiB per stream, flagged as cut.
        assert (len(case["stdout"]), len(case["stderr"])) == (32 * 1024, 32 * 1024)
        assert (case["stdout_truncated"], case["stderr_truncated"]) == (True, True)
    assert (result["stdout_truncated"], result["stderr_truncated"]) == (True, True)
