"""Library trees (a language's `[[libraries]]`): usable by programs, read-only, listed.

`make test` installs them (Makefile: LIBRARIES); a missing one fails here and says how to get it.
"""

from __future__ import annotations

import pytest

from sandbox import Sandbox, Status
from sandbox.registry import registry

pytestmark = pytest.mark.usefixtures("clean_host")


def _numpy_installed() -> None:
    python = registry().get("python")
    assert python is not None
    (numpy,) = [lib for lib in python.libraries if lib.name == "numpy"]
    if not numpy.available:
        pytest.fail(
            f"numpy is not installed under {numpy.tree}: "
            "run `make up LIBRARIES=python-numpy` (or python -m sandbox.libraries install "
            "python-numpy) first"
        )


async def test_a_python_program_uses_numpy(sandbox: Sandbox) -> None:
    _numpy_installed()
    src = "import numpy as np\nprint(np.arange(6).reshape(2, 3).sum(axis=0).tolist(), np.__version__)\n"
    result = await sandbox.run("python", src)
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "[3, 5, 7] 2.2.6\n"


async def test_a_program_cannot_change_a_library(sandbox: Sandbox) -> None:
    _numpy_installed()
    src = (
        "import numpy, os, sys\n"
        "target = os.path.join(os.path.dirname(numpy.__file__), '__init__.py')\n"
        "for attempt in (lambda: open(target, 'a').write('import os; os.system(\"id\")'),\n"
        "                lambda: os.remove(target),\n"
        "                lambda: open(os.path.join(os.path.dirname(target), 'evil.py'), 'w')):\n"
        "    try:\n        attempt()\n        print('changed')\n"
        "    except OSError as e:\n        print(type(e).__name__)\n"
    )
    result = await sandbox.run("python", src)
    assert result.status is Status.COMPLETED, result
    refused = result.stdout.split()
    assert len(refused) == 3 and "changed" not in refused, result.stdout


async def test_other_languages_do_not_see_the_python_library(sandbox: Sandbox) -> None:
    _numpy_installed()
    result = await sandbox.run("bash", "ls /usr/local/lib/python3.11/dist-packages 2>&1 | head -1")
    assert result.status is Status.COMPLETED, result
    assert "numpy" not in result.stdout
