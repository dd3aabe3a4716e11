"""Auditing from the log: `python -m projections audit` reads an execution back from Kafka, and
`python -m projections verify` finds every row of a projection that the log disagrees with."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import httpx

from eventlog import topics
from projections.migrate import migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings
from schemas import events
from tests.conftest import temporary_database
from tests.e2e.conftest import REPO, Engine
from tests.e2e.fixtures_fleet import VANISHED, accepted_run, of, produce, wait_terminal
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_history import logged
from tests.event_log import end_offsets, wait_projected


async def command(engine: Engine, *args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "projections",
        *args,
        env={**engine.env, **env},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def test_audit_prints_the_history_from_kafka_with_the_code_and_stdin(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    program = "import sys\nname = sys.stdin.read().strip()\nprint(f'hello {name}')\n"
    session_id = await open_session(client, "python", program)
    execution_id = await submit(client, session_id, {"stdin": "auditor-7f3\n"})
    result = await wait_result(client, execution_id)
    assert result["stdout"] == "hello auditor-7f3\n"

    code, output = await command(engine, "audit", execution_id)
    assert code == 0, output
    for line in program.splitlines():
        assert f"| {line}" in output
    assert "| auditor-7f3" in output
    in_kafka = await logged(engine, execution_id)
    assert {"RunRequested", "RunStarted", "RunFinished"} <= {e.type for e in in_kafka}
    for event in in_kafka:
        assert str(event.event_id) in output
    assert "hello auditor-7f3" in output  # the output chunk and the outcome

    code, output = await command(engine, "audit", "00000000-0000-0000-0000-00000000abcd")
    assert code == 1 and "0 events" in output


async def databases(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


async def test_verify_passes_on_the_live_projection_and_leaves_nothing_behind(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    await wait_result(client, await submit(client, await open_session(client, "python", "1")))
    before = await databases(engine.env["DATABASE_URL"])
    code, output = await command(engine, "verify")
    assert code == 0, output
    assert "0 rows differ" in output
    assert await databases(engine.env["DATABASE_URL"]) == before


async def test_verify_reports_every_row_the_log_disagrees_with(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    session_id = await open_session(client, "python", "print('the log says this')")
    execution_id = await submit(client, session_id)
    await wait_result(client, execution_id)
    async with temporary_database(engine.env["DATABASE_URL"], "tampered") as dsn:
        # A projection of the log of its own, which the test then corrupts.
        bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
        await migrate(dsn)
        projector = Projector(
            ProjectorSettings(
                kafka_bootstrap_servers=bootstrap,
                database_url=dsn,
                redis_url=engine.env["REDIS_URL"],
            ),
            publish=False,
        )
        await projector.start()
        stop = asyncio.Event()
        running = asyncio.create_task(projector.run(stop))
        try:
            await wait_projected(dsn, await end_offsets(bootstrap))
        finally:
            stop.set()
            await running
            await projector.stop()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "UPDATE executions SET stdout = 'forged' WHERE execution_id = $1", execution_id
            )
            await conn.execute("DELETE FROM session_revisions WHERE session_id = $1", session_id)
        finally:
            await conn.close()

        code, output = await command(engine, "verify", DATABASE_URL=dsn)
        assert code == 1, output
        assert f"executions {execution_id}: stdout live='forged' log='the log says this\\n'" in (
            output
        )
        assert f"session_revisions {session_id}, 1: missing from the live projection" in output
        assert "2 rows differ" in output, output


async def test_verify_into_a_given_scratch_database_and_never_into_the_live_one(
    engine: Engine,
) -> None:
    live = engine.env["DATABASE_URL"]
    code, output = await command(engine, "verify", "--scratch-database-url", live)
    assert code == 2 and "the live one" in output, output
    async with temporary_database(live, "given") as scratch:
        code, output = await command(engine, "verify", "--scratch-database-url", scratch)
        assert code == 0, output
        assert "0 rows differ" in output


async def test_history_audit_and_projection_agree_for_a_run_with_retries(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Every attempt fails in the executor (a language it cannot run): three retries, then a
    # dead letter. The oracle is the log read back from Kafka.
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    accepted = accepted_run(source="print('retried 5c1')", language=VANISHED)
    await produce(bootstrap, topics.DISPATCH, accepted)
    execution_id = accepted.execution_id
    row = await wait_terminal(client, execution_id)
    await wait_projected(engine.env["DATABASE_URL"], await end_offsets(bootstrap))

    # What the kept log holds (the work queues, dispatch and retry, expire): every attempt's
    # start, why each failed attempt was retried, and the dead letter.
    in_kafka = list({e.event_id: e for e in await logged(engine, execution_id)}.values())
    retries = of(events.RetryScheduled, in_kafka)
    starts = of(events.RunStarted, in_kafka)
    (dead,) = of(events.DeadLettered, in_kafka)
    assert len(starts) == 4, [e.type for e in in_kafka]
    assert [r.attempt for r in retries] == [2, 3, 4], [e.type for e in in_kafka]
    assert all("UnknownLanguage" in r.reason for r in retries)

    # The projection: the attempts and the end the log records.
    assert (row["status"], row["error_code"]) == ("FAILED", "E005")
    assert row["attempt"] == dead.attempts == len(starts)

    # The history over HTTP: the same events, each at its place in the log.
    response = await client.get(f"/executions/{execution_id}/history")
    assert response.status_code == 200, response.text
    listed = response.json()["events"]
    assert {e["event_id"] for e in listed} == {str(e.event_id) for e in in_kafka}
    assert [e["type"] for e in listed].count("RetryScheduled") == 3
    assert [e["offset"] for e in listed if e["topic"] == topics.EVENTS.name] == sorted(
        e["offset"] for e in listed if e["topic"] == topics.EVENTS.name
    )

    # The audit, read from Kafka by its own consumer: every event, and the code that ran.
    code, output = await command(engine, "audit", execution_id)
    assert code == 0, output
    for event in in_kafka:
        assert str(event.event_id) in output
    assert output.count("RetryScheduled") >= 3
    assert "| print('retried 5c1')" in output

    code, output = await command(engine, "verify")
    assert code == 0 and "0 rows differ" in output, output
