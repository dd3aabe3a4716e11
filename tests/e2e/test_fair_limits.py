"""Fair limits between users: GCRA rate limits shared by API processes, quota only for runs
that are admitted, trusted proxies, queue caps, failure streaks, and the body cap."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.conftest import Engine, start_api
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_contract import assert_error


async def test_one_session_rate_across_two_api_processes_with_headers(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    other_url = start_api(engine, "api-second")
    try:
        session_id = await open_session(client, "bash", "echo ok")
        async with httpx.AsyncClient(base_url=other_url, timeout=30) as other:
            url = f"/code-sessions/{session_id}/run"
            answers = await asyncio.gather(
                *((client if i % 2 else other).post(url) for i in range(14))
            )
    finally:
        engine.stop("api-second")
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert (len(accepted), len(refused)) == (10, 4), [a.status_code for a in answers]
    assert sorted(int(a.headers["X-RateLimit-Remaining"]) for a in accepted) == list(range(10))
    assert {a.headers["X-RateLimit-Limit"] for a in accepted} == {"10"}
    for answer in refused:
        body = assert_error(answer, 429, "rate_limited")
        assert body["details"]["reason"] == "session_rate"
        # One run every 6 s after the burst: no window boundary lets twice the limit through.
        assert 1 <= int(answer.headers["Retry-After"]) <= 6


async def test_requests_refused_for_another_reason_use_no_quota(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "bash", "echo ok")
    url = f"/code-sessions/{session_id}/run"
    for bad in ({"time_limit_ms": 1}, {"memory_mb": 1}, {"stdin": "x" * (1024 * 1024 + 1)}):
        assert (await client.post(url, json=bad)).status_code in {413, 422}
    remaining = [int((await client.post(url)).headers["X-RateLimit-Remaining"]) for _ in range(10)]
    assert remaining == list(range(9, -1, -1))


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(engine: Engine) -> None:
    trusting = start_api(engine, "api-proxied", TRUSTED_PROXIES="127.0.0.1",
                         CLIENT_RUNS_PER_MINUTE="2")  # fmt: skip
    direct = start_api(engine, "api-direct", CLIENT_RUNS_PER_MINUTE="2")
    try:
        # The direct client comes from an address of its own (the rest of the suite is
        # 127.0.0.1, with other limits): a bucket no other test shares.
        own_address = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with (
            httpx.AsyncClient(base_url=trusting, timeout=30) as proxied,
            httpx.AsyncClient(base_url=direct, timeout=30, transport=own_address) as plain,
        ):

            async def run(http: httpx.AsyncClient, client_address: str) -> int:
                session_id = await open_session(http, "bash", "echo ok")
                answer = await http.post(
                    f"/code-sessions/{session_id}/run",
                    headers={"X-Forwarded-For": f"10.9.9.9, {client_address}"},
                )
                return answer.status_code

            # Behind our proxy, two users each get their own two runs a minute.
            assert [await run(proxied, "203.0.113.7") for _ in range(3)] == [202, 202, 429]
            assert [await run(proxied, "203.0.113.8") for _ in range(2)] == [202, 202]
            # Straight to the API, a forged header changes nothing: one peer, one bucket.
            assert [await run(plain, f"198.51.100.{i}") for i in range(3)] == [202, 202, 429]
    finally:
        engine.stop("api-proxied")
        engine.stop("api-direct")


async def test_a_full_queue_is_a_503_not_an_ever_growing_backlog(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    capped = start_api(engine, "api-capped", MAX_QUEUED_PER_SESSION="2")
    try:
        async with httpx.AsyncClient(base_url=capped, timeout=30) as http:
            session_id = await open_session(http, "bash", "sleep 1; echo done")
            first = await submit(http, session_id)
            await submit(http, session_id)
            full = await http.post(f"/code-sessions/{session_id}/run")
            body = assert_error(full, 503, "backpressure")
            assert int(full.headers["Retry-After"]) >= 1
            assert body["details"]["reason"] == "session_queue"
            assert (await wait_result(http, first))["stdout"] == "done\n"
            await asyncio.sleep(0.2)  # the finished run leaves the queue as it is settled
            assert (await http.post(f"/code-sessions/{session_id}/run")).status_code == 202
    finally:
        engine.stop("api-capped")


async def test_runs_queued_when_a_cooldown_starts_are_refused_not_run(
    client: httpx.AsyncClient,
) -> None:
    session_id = await open_session(client, "bash", "sleep 0.2; exit 1")
    execution_ids = [await submit(client, session_id) for _ in range(10)]
    results = [await wait_result(client, e) for e in execution_ids]
    codes = [r["error_code"] for r in results]
    assert codes[:5] == ["E002"] * 5  # the streak, in submission order
    refused = [r for r in results if r["error_code"] == "E006"]
    assert refused, codes  # queued behind the streak: refused when their turn came
    for result in refused:
        assert "cooled down" in result["error_message"] and result["started_at"] is None
    assert set(codes) <= {"E002", "E006"}


async def test_a_legal_stdin_of_control_bytes_fits_the_body_cap(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "import sys\nprint(len(sys.stdin.read()))")
    stdin = "\x01" * (1024 * 1024)  # 1 MiB, 6 MiB once JSON-escaped
    execution_id = await submit(client, session_id, {"stdin": stdin})
    assert (await wait_result(client, execution_id))["stdout"] == f"{1024 * 1024}\n"
