"""The drop-in APIs take no second path: a Judge0 submission or a Piston execute is counted by
our admission (the per-client rate) and screened by our safety rules, like any run of ours,
and each API says so in its own error shape."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Engine, start_api

LOOP = "while True:\n    pass"  # a loop that can never end: refused by INFINITE_LOOP_RULE=block


async def test_the_client_rate_limit_counts_both_apis(engine: Engine) -> None:
    limited = start_api(engine, "api-compat-limited", CLIENT_RUNS_PER_MINUTE="2")
    try:
        # An address of its own (the suite's 127.0.0.1 has other limits): its own bucket.
        own_address = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
        async with httpx.AsyncClient(base_url=limited, timeout=60, transport=own_address) as http:
            body = {"source_code": "print(1)", "language_id": 71}
            first = await http.post("/judge0/submissions", json=body)
            second = await http.post(
                "/api/v2/execute",
                json={"language": "python", "version": "*", "files": [{"content": "print(2)"}]},
            )
            assert (first.status_code, second.status_code) == (201, 200), second.text
            refused = await http.post("/judge0/submissions", json=body)
            assert refused.status_code == 429
            assert refused.json() == {"error": "at most 2 runs per minute per client"}
            assert int(refused.headers["Retry-After"]) >= 1
            piston = await http.post(
                "/api/v2/execute",
                json={"language": "python", "version": "*", "files": [{"content": "print(3)"}]},
            )
            assert piston.status_code == 429
            assert piston.json() == {"message": "at most 2 runs per minute per client"}
    finally:
        engine.stop("api-compat-limited")


async def test_the_safety_rules_screen_both_apis(client: httpx.AsyncClient) -> None:
    judge0 = await client.post(
        "/judge0/submissions?wait=true&fields=token,status,message",
        json={"source_code": LOOP, "language_id": 71},
        timeout=200,
    )
    assert judge0.status_code == 201, judge0.text
    body = judge0.json()
    assert body["status"] == {"id": 13, "description": "Internal Error"}
    assert "loop" in body["message"]
    ours = (await client.get(f"/executions/{body['token']}")).json()
    assert (ours["status"], ours["error_code"]) == ("FAILED", "E006")
    piston = await client.post(
        "/api/v2/execute",
        json={"language": "python", "version": "*", "files": [{"content": LOOP}]},
        timeout=200,
    )
    assert piston.status_code == 400
    assert "loop" in piston.json()["message"]
