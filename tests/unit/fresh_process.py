"""What a fresh Python process has imported once it has run a few statements (as a Lambda function's cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def modules_after(statements: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh process holds after `statements` (this test suite's own code), run with this process's
    environment and `env`."""
    code = f"import json, sys\n{statements}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(  # noqa: S603 (this test's code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    return set(json.loads(done.stdout))
