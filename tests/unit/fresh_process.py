"""What a fresh Python process has imported once it has run a few statements (as a Lambda function's cold start)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_after(statements: str) -> set[str]:
    """The modules a fresh process holds after `import boto3` and `statements` (this test suite's own code)."""
    code = f"import json, sys, boto3\n{statements}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603 (this test's code)
    return set(json.loads(done.stdout))
