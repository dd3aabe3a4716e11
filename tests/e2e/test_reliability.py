"""What the API promises when something goes wrong: idempotent retries, 2xx means visible,
readiness that counts executors, and no write silently lost to a race."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from eventlog import topics
from schemas import encode, events, new_event
from tests.e2e.conftest import Engine, start_api
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_contract import assert_error


async def test_a_key_whose_append_failed_runs_on_retry(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # A second API whose Kafka is unreachable: the append fails (503) after the key was seen.
    broken = start_api(engine, "api-no-kafka", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
                       DEPENDENCY_TIMEOUT_S="1")  # fmt: skip
    try:
        session_id = await open_session(client, "python", "print('ran')")
        key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
        async with httpx.AsyncClient(base_url=broken, timeout=30) as other:
            failed = await other.post(f"/code-sessions/{session_id}/run", headers=key)
        assert_error(failed, 503, "unavailable")
        # The client retries with the same key on a healthy API: a real run, not a ghost id.
        execution_id = await submit(client, session_id, headers=key)
        assert (await client.get(f"/executions/{execution_id}")).status_code == 200
        result = await wait_result(client, execution_id)
        assert (result["status"], result["stdout"]) == ("COMPLETED", "ran\n")
    finally:
        engine.stop("api-no-kafka")


async def test_a_key_reused_with_another_body_is_refused_and_a_replay_tells_the_status(
    client: httpx.AsyncClient,
) -> None:
    session_id = await open_session(client, "python", "print(input())")
    key = {"Idempotency-Key": "k-body"}
    execution_id = await submit(client, session_id, {"stdin": "a"}, headers=key)
    other = await client.post(f"/code-sessions/{session_id}/run", json={"stdin": "b"}, headers=key)
    body = assert_error(other, 422, "idempotency_key_reused")
    assert body["details"]["execution_id"] == execution_id
    result = await wait_result(client, execution_id)
    assert result["stdout"] == "a\n"
    replay = await client.post(f"/code-sessions/{session_id}/run", json={"stdin": "a"}, headers=key)
    assert replay.status_code == 202
    assert replay.json() == {"execution_id": execution_id, "status": "COMPLETED"}


async def test_a_2xx_means_visible_and_a_paused_projector_gives_503(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    session_id = await open_session(client, "python", "print(1)")
    projector = engine.processes["projector"]
    os.kill(projector.pid, signal.SIGSTOP)
    try:
        saved = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "print(2)"})
        body = assert_error(saved, 503, "projection_behind")
        assert saved.headers["Retry-After"] == "1"
        assert body["details"]["session_id"] == session_id
        ran = await client.post(f"/code-sessions/{session_id}/run")
        run_body = assert_error(ran, 503, "projection_behind")
    finally:
        os.kill(projector.pid, signal.SIGCONT)
    # Recorded, so visible once the projector catches up: nothing lost, the run runs.
    deadline = asyncio.get_running_loop().time() + 30
    while (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] != "print(2)":
        assert asyncio.get_running_loop().time() < deadline, "the autosave was lost"
        await asyncio.sleep(0.05)
    # The run was answered 503, not 202: it is readable once the projector has its own topic
    # (projected apart from the session's), not at once.
    execution_id = run_body["details"]["execution_id"]
    while (await client.get(f"/executions/{execution_id}")).status_code == 404:
        assert asyncio.get_running_loop().time() < deadline, "the run was lost"
        await asyncio.sleep(0.05)
    result = await wait_result(client, execution_id)
    assert result["stdout"] == "1\n"  # the run read what was visible when it was asked for


async def test_not_ready_and_no_runs_without_a_live_executor(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Another Redis database: the same services, but no worker has ever beaten there.
    redis_url = engine.env["REDIS_URL"].rsplit("/", 1)[0] + "/5"
    lonely = start_api(engine, "api-no-workers", REDIS_URL=redis_url)
    try:
        async with httpx.AsyncClient(base_url=lonely, timeout=30) as other:
            ready = await other.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["services"]["executors"] == "down"
            session_id = await open_session(client, "python", "print(1)")
            refused = await other.post(f"/code-sessions/{session_id}/run")
            assert refused.status_code == 503 and "Retry-After" in refused.headers
    finally:
        engine.stop("api-no-workers")
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["services"]["executors"] == "up"
    workers = (await client.get("/workers")).json()
    mine = [w for w in workers["workers"] if w["worker_id"] == "e2e-worker"]
    assert mine and mine[0]["state"] == "running" and mine[0]["slots"] >= 1
    assert "python" in mine[0]["languages"] and workers["alive"] >= 1


async def test_an_autosave_racing_a_close_is_saved_or_refused_never_dropped(
    client: httpx.AsyncClient,
) -> None:
    for attempt in range(8):
        session_id = await open_session(client, "python", "print(0)")
        code = f"print({attempt + 1})"
        saved, closed = await asyncio.gather(
            client.patch(f"/code-sessions/{session_id}", json={"source_code": code}),
            client.patch(f"/code-sessions/{session_id}/close"),
        )
        assert closed.status_code == 200, closed.text
        final = (await client.get(f"/code-sessions/{session_id}")).json()
        assert final["status"] == "INACTIVE"
        if saved.status_code == 200:
            assert final["source_code"] == code, "a 200 autosave was dropped"
        else:
            assert_error(saved, 409)
            assert final["source_code"] == "print(0)"


async def test_if_match_names_the_revision_a_write_expects(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print(0)")
    got = await client.get(f"/code-sessions/{session_id}")
    assert (got.json()["revision"], got.headers["ETag"]) == (1, '"1"')
    first = await client.patch(
        f"/code-sessions/{session_id}", json={"source_code": "a"}, headers={"If-Match": '"1"'}
    )
    assert first.status_code == 200 and first.json()["revision"] == 2
    stale = await client.patch(
        f"/code-sessions/{session_id}", json={"source_code": "b"}, headers={"If-Match": '"1"'}
    )
    assert assert_error(stale, 409, "conflict")["details"]["revision"] == 2
    assert (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] == "a"


async def test_a_dead_letter_is_listed_and_a_requeue_runs_it_as_a_new_attempt(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # A run of ours that failed its attempts (as the executor would record it): it is in the log.
    session_id = await open_session(client, "python", "print('again')")
    python = (await client.get("/languages/python")).json()
    execution_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    request = events.RunRequested(
        execution_id=execution_id, session_id=session_id,
        language=events.LanguageRef(id=python["id"], key="python", name=python["name"],
                                    version=python["version"]),
        source_code="print('again')", stdin="", requested_at=now - timedelta(seconds=20),
        limits=events.RunLimits(time_limit_ms=2000, memory_mb=128),
    )  # fmt: skip
    dead = events.DeadLettered(
        execution_id=execution_id, attempts=4, reason="sandbox broke", request=request,
        dead_lettered_at=now, worker_id="gone", started_at=now - timedelta(seconds=1),
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=engine.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    await producer.start()
    try:
        for topic in (topics.EVENTS, topics.DEAD_LETTER):
            await producer.send_and_wait(
                topic.name, encode(new_event(dead)), key=execution_id.encode()
            )
    finally:
        await producer.stop()
    # Produced straight to Kafka (no API write to wait for): poll until projected.
    deadline = asyncio.get_running_loop().time() + 30
    while (await client.get(f"/executions/{execution_id}")).status_code == 404:
        assert asyncio.get_running_loop().time() < deadline, "the dead letter was not projected"
        await asyncio.sleep(0.05)
    failed = await wait_result(client, execution_id, deadline_s=30)
    assert (failed["status"], failed["error_code"], failed["attempt"]) == ("FAILED", "E005", 4)
    listed = (await client.get("/dead-letters", params={"limit": 100})).json()
    assert execution_id in [d["execution_id"] for d in listed["dead_letters"]]
    one = (await client.get(f"/dead-letters/{execution_id}")).json()
    assert (one["attempts"], one["reason"]) == (4, "sandbox broke")

    requeued = await client.post(f"/dead-letters/{execution_id}/requeue", json={"reason": "fixed"})
    assert requeued.status_code == 202, requeued.text
    assert requeued.json() == {"execution_id": execution_id, "status": "QUEUED", "attempt": 5}
    result = await wait_result(client, execution_id)
    assert (result["status"], result["stdout"], result["attempt"]) == ("COMPLETED", "again\n", 5)
    again = await client.post(f"/dead-letters/{execution_id}/requeue")
    assert_error(again, 409, "conflict")
    assert_error(await client.get(f"/dead-letters/{uuid.uuid4()}"), 404, "not_found")
