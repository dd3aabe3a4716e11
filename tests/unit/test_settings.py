"""Every component refuses a bad setting at start, naming the variable, the value and the range."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import ApiSettings
from callbacks.settings import CallbackSettings
from config import SettingsError, describe
from config.limits import RunPolicy
from processors.settings import ProcessorSettings
from projections.settings import ProjectorSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "variable", "value", "allowed"),
    [
        ("api", "PORT", "3k", "expected an integer >= 1 and <= 65535"),
        ("api", "CLIENT_RUNS_PER_MINUTE", "-5", "expected an integer >= 1"),
        ("api", "DEPENDENCY_TIMEOUT_S", "soon", "expected a number > 0"),
        ("projections", "PROJECTOR_BATCH_SIZE", "0", "expected an integer >= 1"),
        ("processors", "MAX_ATTEMPTS", "-1", "expected an integer >= 1 and <= 20"),
        ("processors", "SANDBOX_SLOTS", "0", "expected an integer >= 1 and <= 256"),
        ("callbacks", "CALLBACK_SECRET", "short", "expected a string of at least 16 characters"),
        ("callbacks", "CALLBACK_ALLOW", "10.0.0.0/33", "neither a network (CIDR) nor host:port"),
        ("api", "CALLBACK_ALLOW", "hooks.internal", "neither a network (CIDR) nor host:port"),
    ],
)
def test_a_component_stops_at_start_naming_the_bad_setting(
    module: str, variable: str, value: str, allowed: str
) -> None:
    # Nothing is reachable at these addresses: a component that did not stop at its settings
    # would hang on its dependencies instead, and the timeout would fail the test.
    env = {
        **os.environ,
        variable: value,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    shown = "(hidden)" if variable.endswith("_SECRET") else value  # a secret is never printed
    assert message.startswith(f"error: {variable}={shown!r} is not valid"), message
    assert allowed in message


def test_settings_read_their_variables_and_keep_defaults() -> None:
    api = ApiSettings.from_env({"PORT": "3100", "MAX_STDIN_BYTES": "10", "HOST": "0.0.0.0"})
    assert (api.port, api.host, api.policy.max_stdin_bytes) == (3100, "0.0.0.0", 10)
    assert api.policy.max_source_bytes == RunPolicy().max_source_bytes
    processors = ProcessorSettings.from_env({"WORKER_ID": "w7", "MAX_MEMORY_MB": "4096"})
    assert (processors.worker_id, processors.policy.max_memory_mb) == ("w7", 4096)
    assert ProjectorSettings.from_env({"PROJECTOR_BATCH_SIZE": "7"}).projector_batch_size == 7


def test_the_run_policy_is_one_declaration_shared_by_api_and_safety_agent() -> None:
    env = {"MAX_TIME_LIMIT_MS": "90000"}
    assert ApiSettings.from_env(env).policy == ProcessorSettings.from_env(env).policy


def test_inconsistent_ranges_are_refused() -> None:
    with pytest.raises(SettingsError, match="DEFAULT_MEMORY_MB=16"):
        RunPolicy.from_env({"DEFAULT_MEMORY_MB": "16"})
    with pytest.raises(SettingsError, match=r"MAX_TIME_LIMIT_MS \(10\)"):
        ProcessorSettings.from_env({"MAX_TIME_LIMIT_MS": "10"})


def test_the_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    for cls in (ApiSettings, ProcessorSettings, ProjectorSettings, CallbackSettings):
        for variable, _default, _description in describe(cls):
            assert f"`{variable}`" in readme, f"{variable} is missing from the README"
