"""`python -m runbox`: the runbox command."""

from __future__ import annotations

import sys

from runbox.cli import main

sys.exit(main())
