"""A client generated from the document the API serves (openapi-python-client, offline, into a
temporary folder) creates a session, runs it and reads the result and an error."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Engine


def generate(engine: Engine, folder: Path) -> str:
    """Generate the client package into `folder`; its import name."""
    document = httpx.get(f"{engine.url}/schema/openapi.json", timeout=10)
    assert document.status_code == 200
    (folder / "openapi.json").write_bytes(document.content)
    (folder / "config.yaml").write_text("post_hooks: []\n")  # no formatter needed
    name = f"runbox_generated_{uuid.uuid4().hex[:8]}"
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--output-path",
            str(folder / name),
            "--meta",
            "none",
            "--config",
            str(folder / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # A warning means part of the document could not be turned into code.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    return name


def test_a_generated_client_creates_a_session_and_runs_it(engine: Engine, tmp_path: Path) -> None:
    name = generate(engine, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        package: Any = importlib.import_module(name)
        models: Any = importlib.import_module(f"{name}.models")

        def operation(module: str) -> Any:
            return importlib.import_module(f"{name}.api.default.{module}")

        with package.Client(base_url=engine.url, timeout=httpx.Timeout(30)) as client:
            run_a_session(client, models, operation)
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def run_a_session(client: Any, models: Any, operation: Callable[[str], Any]) -> None:
    """What a user of the generated client writes: create, run, poll, and read an error."""
    created = operation("code_sessions_create_session").sync_detailed(
        client=client,
        body=models.CreateSession(language_id="python", source_code="print(input()[::-1])"),
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.SessionRevision)
    session_id = created.parsed.session_id

    queued = operation("code_sessions_session_id_run_run_session").sync_detailed(
        session_id,
        client=client,
        body=models.RunOptions(stdin="generated\n", time_limit_ms=2000),
        idempotency_key=str(uuid.uuid4()),
    )
    assert queued.status_code == 202, queued.content
    assert isinstance(queued.parsed, models.RunQueued)

    get_execution = operation("executions_execution_id_get_execution")
    deadline = time.monotonic() + 60
    while True:
        found = get_execution.sync(queued.parsed.execution_id, client=client)
        if isinstance(found, models.ExecutionResult):
            break
        assert isinstance(found, models.ExecutionState), found
        assert time.monotonic() < deadline, f"still {found.status} after 60 s"
        time.sleep(0.1)
    assert (found.status.value, found.stdout, found.exit_code) == (
        "COMPLETED",
        "detareneg\n",
        0,
    )

    missing = get_execution.sync_detailed(str(uuid.uuid4()), client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorBody)
    assert missing.parsed.code == "not_found"
