"""A library the operator installed (`make up LIBRARIES=python-numpy`; `make test` installs it):
listed by the API and importable by a run, end to end."""

from __future__ import annotations

import httpx

from tests.e2e.fixtures_runs import open_session, submit, wait_result


async def test_numpy_is_listed_and_a_run_imports_it(client: httpx.AsyncClient) -> None:
    python = (await client.get("/languages/python")).json()
    assert {"name": "numpy", "version": "2.2.6"}.items() <= python["libraries"][0].items(), python
    bash = (await client.get("/languages/bash")).json()
    assert bash["libraries"] == []

    program = "import numpy as np\nprint(int(np.linalg.det(np.array([[2, 1], [1, 3]])).round()))\n"
    result = await wait_result(
        client, await submit(client, await open_session(client, "python", program))
    )
    assert (result["status"], result["stdout"]) == ("COMPLETED", "5\n"), result
